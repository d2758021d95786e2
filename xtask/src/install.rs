//! `cargo xtask install --prefix DIR [--debug]`: builds `libImageStreamIO` (release unless
//! `--debug`) and installs the shared and static libraries, the public headers and the
//! pkg-config file under DIR (layout in `crates/shmim-capi/tools/install_tree.rs`). Afterwards
//! `PKG_CONFIG_PATH=DIR/lib/pkgconfig pkg-config --cflags --libs ImageStreamIO` works.

use std::path::{Path, PathBuf};

use crate::cmd::{cargo, root, run};
use crate::header::{capi_dir, public_headers};

#[path = "../../crates/shmim-capi/tools/install_tree.rs"]
mod install_tree;

/// The cargo target directory in use.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// Builds the library with `profile` (`release` or `dev`); returns the directory of the build.
pub fn build(release: bool) -> Result<PathBuf, String> {
    let mut c = cargo();
    c.args(["build", "-p", "shmim-capi", "--lib"]);
    if release {
        c.arg("--release");
    }
    run(&mut c)?;
    Ok(target_dir().join(if release { "release" } else { "debug" }))
}

/// Installs an already built library from `built` into `prefix`.
pub fn install_from(built: &Path, prefix: &Path) -> Result<(), String> {
    install_tree::Install {
        prefix,
        built,
        headers: &public_headers(),
        pc_template: &capi_dir().join("ImageStreamIO.pc.in"),
        version: env!("CARGO_PKG_VERSION"),
    }
    .run()
    .map_err(|e| format!("install into {}: {e}", prefix.display()))
}

pub fn main(args: &[String]) -> Result<(), String> {
    let mut prefix = None;
    let mut release = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--prefix" => prefix = it.next().map(PathBuf::from),
            "--debug" => release = false,
            other => return Err(format!("unknown install option `{other}`")),
        }
    }
    let prefix = prefix.ok_or("usage: cargo xtask install --prefix DIR [--debug]")?;
    let built = build(release)?;
    install_from(&built, &prefix)?;
    eprintln!(
        "installed libImageStreamIO into {}\n  PKG_CONFIG_PATH={}/lib/pkgconfig pkg-config --cflags --libs ImageStreamIO",
        prefix.display(),
        prefix.display()
    );
    Ok(())
}
