//! `cargo xtask install --prefix DIR [--debug]`: builds `libImageStreamIO` (release unless
//! `--debug`) and installs the shared and static libraries, the public headers and the
//! pkg-config file under DIR (layout in `crates/shmim-capi/tools/install_tree.rs`). Afterwards
//! `PKG_CONFIG_PATH=DIR/lib/pkgconfig pkg-config --cflags --libs ImageStreamIO` works.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// The `capi-c` CI step: installs a debug build into `TARGET/capi-install`, checks that
/// pkg-config resolves it and that a legacy-style program builds against it with those flags
/// alone, then runs the C test programs (which install this build into their own prefix).
pub fn c_tests() -> Result<(), String> {
    let built = build(false)?;
    let prefix = target_dir().join("capi-install");
    let _ = std::fs::remove_dir_all(&prefix);
    install_from(&built, &prefix)?;
    let pc_path = prefix.join("lib/pkgconfig");
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "ImageStreamIO"])
        .env("PKG_CONFIG_PATH", &pc_path)
        .output()
        .map_err(|e| format!("cannot run pkg-config (needed for the C API): {e}"))?;
    if !flags.status.success() {
        return Err(format!(
            "pkg-config cannot resolve ImageStreamIO in {}: {}",
            pc_path.display(),
            String::from_utf8_lossy(&flags.stderr)
        ));
    }
    let flags = String::from_utf8_lossy(&flags.stdout).into_owned();
    run(Command::new("cc")
        .arg(capi_dir().join("tests/c/legacy_style.c"))
        .args(flags.split_whitespace())
        .arg("-o")
        .arg(prefix.join("legacy_style")))?;
    run(cargo().args([
        "test",
        "-p",
        "shmim-capi",
        "--test",
        "c_programs",
        "--test",
        "install",
    ]))
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
