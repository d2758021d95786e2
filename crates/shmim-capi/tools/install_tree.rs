//! The file tree of an installed `libImageStreamIO`, laid out from a build.
//!
//! Shared (by `#[path]`) between `cargo xtask install` and the C tests, which install into a
//! temporary prefix and compile against it, so the tests exercise the real installation:
//!
//! ```text
//! PREFIX/lib/libImageStreamIO.so.VERSION        the shared library (SONAME libImageStreamIO.so.MAJOR)
//! PREFIX/lib/libImageStreamIO.so.MAJOR -> libImageStreamIO.so.VERSION
//! PREFIX/lib/libImageStreamIO.so       -> libImageStreamIO.so.MAJOR
//! PREFIX/lib/libImageStreamIO.a                 the static library
//! PREFIX/lib/pkgconfig/ImageStreamIO.pc
//! PREFIX/include/*.h                            the public headers only
//! ```

use std::io;
use std::path::{Path, PathBuf};

/// What to install.
pub struct Install<'a> {
    /// The installation prefix (made absolute for the `.pc` file).
    pub prefix: &'a Path,
    /// The directory holding the built `libImageStreamIO.so` and `libImageStreamIO.a`.
    pub built: &'a Path,
    /// The public headers.
    pub headers: &'a [PathBuf],
    /// `ImageStreamIO.pc.in`.
    pub pc_template: &'a Path,
    /// The package version (`MAJOR.MINOR.PATCH`).
    pub version: &'a str,
}

fn ctx(what: &str, path: &Path) -> impl FnOnce(io::Error) -> io::Error {
    let msg = format!("{what} {}", path.display());
    move |e| io::Error::new(e.kind(), format!("{msg}: {e}"))
}

fn copy(from: &Path, to: &Path) -> io::Result<()> {
    let _ = std::fs::remove_file(to);
    std::fs::copy(from, to).map(drop).map_err(ctx("copy", from))
}

fn link(target: &str, at: &Path) -> io::Result<()> {
    let _ = std::fs::remove_file(at);
    std::os::unix::fs::symlink(target, at).map_err(ctx("symlink", at))
}

impl Install<'_> {
    /// Lays the tree out (replacing files of an earlier install).
    pub fn run(&self) -> io::Result<()> {
        let prefix = std::path::absolute(self.prefix)?;
        let lib = prefix.join("lib");
        let include = prefix.join("include");
        let pkgconfig = lib.join("pkgconfig");
        for d in [&lib, &include, &pkgconfig] {
            std::fs::create_dir_all(d).map_err(ctx("create", d))?;
        }
        let major = self.version.split('.').next().unwrap_or("0");
        let real = format!("libImageStreamIO.so.{}", self.version);
        let soname = format!("libImageStreamIO.so.{major}");
        copy(&self.built.join("libImageStreamIO.so"), &lib.join(&real))?;
        link(&real, &lib.join(&soname))?;
        link(&soname, &lib.join("libImageStreamIO.so"))?;
        copy(
            &self.built.join("libImageStreamIO.a"),
            &lib.join("libImageStreamIO.a"),
        )?;
        for h in self.headers {
            let name = h
                .file_name()
                .ok_or_else(|| io::Error::other(format!("{} is not a file", h.display())))?;
            copy(h, &include.join(name))?;
        }
        let template =
            std::fs::read_to_string(self.pc_template).map_err(ctx("read", self.pc_template))?;
        let pc = template
            .replace("@PREFIX@", &prefix.to_string_lossy())
            .replace("@VERSION@", self.version);
        let pc_path = pkgconfig.join("ImageStreamIO.pc");
        std::fs::write(&pc_path, pc).map_err(ctx("write", &pc_path))
    }
}
