//! The file tree of an installed `libImageStreamIO`, laid out from a build.
//!
//! Shared (by `#[path]`) between `cargo xtask install` and the C tests, which install into a
//! temporary prefix and compile against it, so the tests exercise the real installation:
//!
//! ```text
//! PREFIX/lib/libImageStreamIO.so.VERSION        the shared library (SONAME libImageStreamIO.so.MAJOR)
//! PREFIX/lib/libImageStreamIO.so.MAJOR -> libImageStreamIO.so.VERSION
//! PREFIX/lib/libImageStreamIO.so       -> libImageStreamIO.so.MAJOR
//! PREFIX/lib/libImageStreamIO.a                 the static library: one object, the C API global
//! PREFIX/lib/pkgconfig/ImageStreamIO.pc         Cflags: -I${includedir} -I${includedir}/ImageStreamIO
//! PREFIX/lib/cmake/ImageStreamIO/               find_package(ImageStreamIO): ImageStreamIO::ImageStreamIO
//! PREFIX/include/ImageStreamIO/*.h              the public headers, and ImageStreamIO_variant.h
//! ```
//!
//! Clients write `#include <ImageStreamIO/ImageStreamIO.h>` (milk, MagAOX) or
//! `#include "ImageStreamIO.h"`; the `.pc` file and the CMake targets put both directories on the
//! include path. `ImageStreamIO_variant.h` records the layout switches the library was built
//! with, which `ImageStruct.h` checks against the program's (`#error` on a mismatch).
//!
//! The templates (`ImageStreamIO.pc.in`, `cmake/*.in`) use `@SHMIM_…@` variables, filled here as
//! the CMake build of `crates/shmim-capi/ImageStreamIO` fills them with `configure_file`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The public headers, in `crates/shmim-capi/include` (installed under `include/ImageStreamIO`).
pub const PUBLIC_HEADERS: &[&str] = &[
    "ImageStreamIO.h",
    "ImageStreamIOError.h",
    "ImageStreamIO_atomic.h",
    "ImageStreamIO_lock.h",
    "ImageStruct.h",
];

/// The header written at install time, next to the public ones.
pub const VARIANT_HEADER: &str = "ImageStreamIO_variant.h";

/// The legacy compile-time layout switches a library is built with (cargo features of
/// `shmim-capi`, C macros of the headers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    /// `IMAGESTRUCT_WRITEHISTORY` (feature `writehistory`).
    pub writehistory: bool,
    /// `DAO_COMPAT` (feature `dao-compat`).
    pub dao_compat: bool,
}

impl Variant {
    /// The variant of a cargo feature name (`writehistory`, `dao-compat`; anything else is the
    /// default layout).
    pub fn of_feature(feature: Option<&str>) -> Self {
        Self {
            writehistory: feature == Some("writehistory"),
            dao_compat: feature == Some("dao-compat"),
        }
    }

    /// The C macros a client compiles with.
    pub fn defines(&self) -> Vec<&'static str> {
        let mut d = Vec::new();
        if self.writehistory {
            d.push("IMAGESTRUCT_WRITEHISTORY");
        }
        if self.dao_compat {
            d.push("DAO_COMPAT");
        }
        d
    }

    /// The cargo features of `shmim-capi` that build it.
    pub fn features(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if self.writehistory {
            f.push("writehistory");
        }
        if self.dao_compat {
            f.push("dao-compat");
        }
        f
    }

    /// `ImageStreamIO_variant.h` for this variant, from its template in `capi/cmake`.
    pub fn header(&self, capi: &Path) -> io::Result<String> {
        let flag = |on: bool| if on { "1" } else { "0" }.to_string();
        fill(
            &capi.join("cmake").join(format!("{VARIANT_HEADER}.in")),
            &[
                ("SHMIM_WRITEHISTORY", flag(self.writehistory)),
                ("SHMIM_DAO_COMPAT", flag(self.dao_compat)),
            ],
        )
    }
}

/// What to install.
pub struct Install<'a> {
    /// The installation prefix (made absolute for the `.pc` and CMake files).
    pub prefix: &'a Path,
    /// The directory holding the built `libImageStreamIO.so` and `libImageStreamIO.a`.
    pub built: &'a Path,
    /// `crates/shmim-capi`: headers (`include/`) and templates.
    pub capi: &'a Path,
    /// The package version (`MAJOR.MINOR.PATCH`).
    pub version: &'a str,
    /// The layout switches the library was built with.
    pub variant: Variant,
    /// Strip debugging information from the static library (what a packager ships; the shared
    /// library of the `dist` profile is stripped by cargo).
    pub strip: bool,
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

fn write(path: &Path, text: &str) -> io::Result<()> {
    std::fs::write(path, text).map_err(ctx("write", path))
}

/// `template` with each `@NAME@` of `vars` replaced (as CMake's `configure_file(@ONLY)`).
fn fill(template: &Path, vars: &[(&str, String)]) -> io::Result<String> {
    let mut text = std::fs::read_to_string(template).map_err(ctx("read", template))?;
    for (name, value) in vars {
        text = text.replace(&format!("@{name}@"), value);
    }
    Ok(text)
}

/// Runs a tool of the toolchain; its stdout.
fn tool(cmd: &mut Command) -> io::Result<String> {
    let out = cmd
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {cmd:?}: {e}")))?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Install<'_> {
    /// Lays the tree out (replacing files of an earlier install).
    pub fn run(&self) -> io::Result<()> {
        let prefix = std::path::absolute(self.prefix)?;
        let lib = prefix.join("lib");
        let include = prefix.join("include").join("ImageStreamIO");
        let pkgconfig = lib.join("pkgconfig");
        let cmake = lib.join("cmake").join("ImageStreamIO");
        for d in [&lib, &include, &pkgconfig, &cmake] {
            std::fs::create_dir_all(d).map_err(ctx("create", d))?;
        }
        let major = self.version.split('.').next().unwrap_or("0");
        let real = format!("libImageStreamIO.so.{}", self.version);
        let soname = format!("libImageStreamIO.so.{major}");
        let shared = self.built.join("libImageStreamIO.so");
        copy(&shared, &lib.join(&real))?;
        link(&real, &lib.join(&soname))?;
        link(&soname, &lib.join("libImageStreamIO.so"))?;
        self.archive(&shared, &lib.join("libImageStreamIO.a"))?;

        for h in PUBLIC_HEADERS {
            copy(&self.capi.join("include").join(h), &include.join(h))?;
        }
        write(
            &include.join(VARIANT_HEADER),
            &self.variant.header(self.capi)?,
        )?;

        let defines = self.variant.defines();
        let cflags: String = defines.iter().map(|d| format!(" -D{d}")).collect();
        let vars = [
            ("SHMIM_PREFIX", prefix.to_string_lossy().into_owned()),
            ("SHMIM_VERSION", self.version.to_string()),
            ("SHMIM_VERSION_MAJOR", major.to_string()),
            ("SHMIM_CFLAGS", cflags),
            ("SHMIM_DEFINES", defines.join(";")),
        ];
        let pc = fill(&self.capi.join("ImageStreamIO.pc.in"), &vars)?;
        write(&pkgconfig.join("ImageStreamIO.pc"), &pc)?;
        for file in [
            "ImageStreamIOConfig.cmake",
            "ImageStreamIOConfigVersion.cmake",
        ] {
            let text = fill(&self.capi.join("cmake").join(format!("{file}.in")), &vars)?;
            write(&cmake.join(file), &text)?;
        }
        Ok(())
    }

    /// The static library as one relocatable object: cargo's archive holds every object of the
    /// Rust standard library and of each dependency (26 MB in a debug build), with their debugging
    /// information and LLVM bitcode. `ld -r --gc-sections` keeps only what the C API (the dynamic
    /// symbols of the shared library, the same code) reaches; every symbol but the C API's is then
    /// made local, so a program that also links another Rust static library gets no clash of
    /// their standard libraries; the bitcode (and, with `strip`, the debugging information) is
    /// dropped.
    fn archive(&self, shared: &Path, to: &Path) -> io::Result<()> {
        let api = tool(
            Command::new("nm")
                .args(["-D", "--defined-only"])
                .arg(shared),
        )?;
        let api: Vec<&str> = api
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .collect();
        let work = to.with_extension("prelink");
        std::fs::create_dir_all(&work).map_err(ctx("create", &work))?;
        let (object, list) = (work.join("ImageStreamIO.o"), work.join("api.txt"));
        write(&list, &(api.join("\n") + "\n"))?;
        let mut ld = Command::new("ld");
        ld.args(["-r", "--gc-sections", "--whole-archive"])
            .arg(self.built.join("libImageStreamIO.a"))
            .arg("--no-whole-archive")
            .args(api.iter().flat_map(|s| ["-u", s]))
            .arg("-o")
            .arg(&object);
        tool(&mut ld)?;
        let mut objcopy = Command::new("objcopy");
        objcopy
            .arg("-w")
            .arg(format!("--keep-global-symbols={}", list.display()))
            .args(["--remove-section=.llvmbc", "--remove-section=.llvmcmd"]);
        if self.strip {
            objcopy.arg("--strip-debug");
        }
        tool(objcopy.arg(&object))?;
        let _ = std::fs::remove_file(to);
        tool(Command::new("ar").arg("rcs").arg(to).arg(&object))?;
        std::fs::remove_dir_all(&work).map_err(ctx("remove", &work))
    }
}

/// The directory a build's libraries are in, for a cargo target directory and profile.
pub fn profile_dir(target: &Path, profile: &str) -> PathBuf {
    target.join(if profile == "dev" { "debug" } else { profile })
}
