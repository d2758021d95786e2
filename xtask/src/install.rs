//! `cargo xtask install --prefix DIR [--debug] [--features writehistory|dao-compat]`: builds
//! `libImageStreamIO` (the `dist` profile: optimised, LTO, symbols stripped; `--debug`: the dev
//! profile) and installs the shared and static libraries, the public headers under
//! `include/ImageStreamIO/`, the pkg-config file and the CMake package configuration under DIR
//! (layout in `crates/shmim-capi/tools/install_tree.rs`). Afterwards
//! `PKG_CONFIG_PATH=DIR/lib/pkgconfig pkg-config --cflags --libs ImageStreamIO` and
//! `find_package(ImageStreamIO)` (with `CMAKE_PREFIX_PATH=DIR`) work.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{cargo, root, run};
use crate::header::capi_dir;

#[path = "../../crates/shmim-capi/tools/install_tree.rs"]
pub mod install_tree;

pub use install_tree::Variant;

/// The cargo target directory in use.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root().join(p) })
        .unwrap_or_else(|| root().join("target"))
}

/// The cargo target directory of builds of the library's layout variants, kept apart from the
/// default build's: a variant build writes `libImageStreamIO.so`/`.a` under the same names.
pub fn variant_target_dir() -> PathBuf {
    target_dir().join("variants")
}

/// The cargo profile installs are built with: what a packager ships.
pub const DIST: &str = "dist";

/// Builds the library with cargo profile `profile` (`dev`, `dist`, …) for `variant`; returns the
/// directory of the build.
pub fn build_profile(profile: &str, variant: Variant) -> Result<PathBuf, String> {
    let mut c = cargo();
    c.args(["build", "-p", "shmim-capi", "--lib", "--profile", profile]);
    let features = variant.features();
    let target = if features.is_empty() {
        target_dir()
    } else {
        c.args(["--features", &features.join(",")]);
        variant_target_dir()
    };
    run(c.env("CARGO_TARGET_DIR", &target))?;
    Ok(install_tree::profile_dir(&target, profile))
}

/// Builds the default library, release (`dist`) or debug; returns the directory of the build.
pub fn build(release: bool) -> Result<PathBuf, String> {
    build_profile(if release { DIST } else { "dev" }, Variant::default())
}

/// Installs an already built library from `built` into `prefix`.
pub fn install_from(
    built: &Path,
    prefix: &Path,
    variant: Variant,
    strip: bool,
) -> Result<(), String> {
    install_tree::Install {
        prefix,
        built,
        capi: &capi_dir(),
        version: env!("CARGO_PKG_VERSION"),
        variant,
        strip,
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
    install_from(&built, &prefix, Variant::default(), false)?;
    let flags = pkg_config(&prefix, &["--cflags", "--libs"])?;
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

/// `pkg-config ARGS ImageStreamIO` against the installation in `prefix`.
pub fn pkg_config(prefix: &Path, args: &[&str]) -> Result<String, String> {
    let pc_path = prefix.join("lib/pkgconfig");
    let out = Command::new("pkg-config")
        .args(args)
        .arg("ImageStreamIO")
        .env("PKG_CONFIG_PATH", &pc_path)
        .output()
        .map_err(|e| format!("cannot run pkg-config (needed for the C API): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "pkg-config cannot resolve ImageStreamIO in {}: {}",
            pc_path.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const USAGE: &str =
    "usage: cargo xtask install --prefix DIR [--debug] [--features writehistory|dao-compat]";

pub fn main(args: &[String]) -> Result<(), String> {
    let mut prefix = None;
    let mut release = true;
    let mut variant = Variant::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--prefix" => prefix = it.next().map(PathBuf::from),
            "--debug" => release = false,
            "--features" => {
                let f = it.next().map(String::as_str);
                variant = Variant::of_feature(f);
                if variant == Variant::default() {
                    return Err(format!(
                        "--features takes writehistory or dao-compat\n{USAGE}"
                    ));
                }
            }
            other => return Err(format!("unknown install option `{other}`\n{USAGE}")),
        }
    }
    let prefix = prefix.ok_or(USAGE)?;
    let built = build_profile(if release { DIST } else { "dev" }, variant)?;
    install_from(&built, &prefix, variant, release)?;
    eprintln!(
        "installed libImageStreamIO into {}\n  PKG_CONFIG_PATH={}/lib/pkgconfig pkg-config --cflags --libs ImageStreamIO\n  cmake -DCMAKE_PREFIX_PATH={} …  (find_package(ImageStreamIO))",
        prefix.display(),
        prefix.display(),
        prefix.display()
    );
    Ok(())
}
