//! The `capi-cmake` CI step: libImageStreamIO as packagers and CMake projects get it.
//!
//! 1. `cargo xtask install` (the `dist` profile, stripped) into a fresh prefix; the sizes of the
//!    installed libraries are printed (README, C API section).
//! 2. The CMake client of `crates/shmim-capi/tests/cmake` against that prefix
//!    (`find_package(ImageStreamIO)`): the shared client runs, under valgrind too (the installed
//!    library is stripped and LTO-built), and the static client runs.
//! 3. The same client with the library as a subdirectory (`add_subdirectory` of
//!    `crates/shmim-capi/ImageStreamIO` through a symlink, as milk adds its submodule), built
//!    through cargo, beside a module that includes the headers by path without linking the
//!    target (milk's modules do); the default layout shares the install's build, so cargo has
//!    nothing to do.
//! 4. The subdirectory with `-DIMAGESTRUCT_WRITEHISTORY=ON` and with `-DDAO_COMPAT=ON`: cargo
//!    builds that layout (dev profile, in the variants' target directory the `abi` step fills),
//!    the client gets the PUBLIC define and checks the variant's layout; a program compiled
//!    against those headers without the define does not compile (`#error`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::run;
use crate::header::capi_dir;
use crate::install::{DIST, Variant, build_profile, install_from, target_dir, variant_target_dir};

/// The client project.
fn client_dir() -> PathBuf {
    capi_dir().join("tests/cmake")
}

/// Configures and builds the client in `build` with `defines`; returns `build`.
fn build_client(build: &Path, defines: &[String]) -> Result<PathBuf, String> {
    let _ = std::fs::remove_dir_all(build);
    run(Command::new("cmake")
        .arg("-S")
        .arg(client_dir())
        .arg("-B")
        .arg(build)
        .args(defines.iter().map(|d| format!("-D{d}"))))?;
    run(Command::new("cmake").arg("--build").arg(build))?;
    Ok(build.to_path_buf())
}

/// Runs a client program (optionally under valgrind) with a private stream directory; checks
/// what it printed.
fn run_client(exe: &Path, valgrind: bool, expect: &str) -> Result<(), String> {
    let streams = exe.with_extension("streams");
    let _ = std::fs::remove_dir_all(&streams);
    std::fs::create_dir_all(&streams).map_err(|e| format!("{}: {e}", streams.display()))?;
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args(["-q", "--error-exitcode=99", "--leak-check=full"])
            .args(["--errors-for-leak-kinds=definite"])
            .arg(exe);
        c
    } else {
        Command::new(exe)
    };
    let out = cmd
        .env("MILK_SHM_DIR", &streams)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let _ = std::fs::remove_dir_all(&streams);
    if !out.status.success() || !stdout.contains(expect) {
        return Err(format!(
            "{} ({}): {stdout}{}",
            exe.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprint!("{stdout}");
    Ok(())
}

/// The sizes of the installed libraries, for the README.
fn report_sizes(prefix: &Path) -> Result<(), String> {
    for lib in ["libImageStreamIO.so", "libImageStreamIO.a"] {
        let path = prefix.join("lib").join(lib);
        let len = std::fs::metadata(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        eprintln!("installed {lib}: {len} bytes ({:.2} MB)", len as f64 / 1e6);
    }
    Ok(())
}

/// A program that includes the variant's headers without its define must not compile.
fn mismatch_refused(include: &Path, define: &str) -> Result<(), String> {
    let out = Command::new("cc")
        .args(["-fsyntax-only", "-xc"])
        .arg("-I")
        .arg(include)
        .arg("-I")
        .arg(include.join("ImageStreamIO"))
        .arg(capi_dir().join("tests/cmake/quote_include.c"))
        .output()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || !stderr.contains("#error") || !stderr.contains(define) {
        return Err(format!(
            "a program without {define} compiled against a {define} library's headers: {stderr}"
        ));
    }
    Ok(())
}

pub fn ci() -> Result<(), String> {
    let work = target_dir().join("capi-cmake");
    let _ = std::fs::remove_dir_all(&work);
    let subdir = format!(
        "SHMIM_SUBDIR={}",
        capi_dir().join("ImageStreamIO").display()
    );

    let built = build_profile(DIST, Variant::default())?;
    let prefix = work.join("prefix");
    install_from(&built, &prefix, Variant::default(), true)?;
    report_sizes(&prefix)?;

    let found = build_client(
        &work.join("find"),
        &[format!("CMAKE_PREFIX_PATH={}", prefix.display())],
    )?;
    run_client(&found.join("client"), false, "cmake client ok (default")?;
    run_client(&found.join("client"), true, "cmake client ok (default")?;
    run_client(
        &found.join("client_static"),
        false,
        "cmake client ok (default",
    )?;

    // The documented setup: the submodule path is a symlink to the stand-in directory, and a
    // module target includes its headers by path without linking it (milk's pattern).
    let linked = work.join("linked/ImageStreamIO");
    std::fs::create_dir_all(work.join("linked")).map_err(|e| format!("{}: {e}", work.display()))?;
    std::os::unix::fs::symlink(capi_dir().join("ImageStreamIO"), &linked)
        .map_err(|e| format!("symlink {}: {e}", linked.display()))?;
    let sub = build_client(
        &work.join("subdir"),
        &[
            format!("SHMIM_SUBDIR={}", linked.display()),
            format!("SHMIM_CARGO_PROFILE={DIST}"),
            format!("SHMIM_CARGO_TARGET_DIR={}", target_dir().display()),
        ],
    )?;
    run_client(&sub.join("client"), false, "cmake client ok (default")?;

    for (option, feature) in [
        ("IMAGESTRUCT_WRITEHISTORY", "writehistory"),
        ("DAO_COMPAT", "dao-compat"),
    ] {
        let build = build_client(
            &work.join(feature),
            &[
                subdir.clone(),
                format!("{option}=ON"),
                "SHMIM_CARGO_PROFILE=dev".into(),
                format!("SHMIM_CARGO_TARGET_DIR={}", variant_target_dir().display()),
            ],
        )?;
        run_client(
            &build.join("client"),
            false,
            &format!("cmake client ok ({feature}"),
        )?;
        mismatch_refused(&build.join("ImageStreamIO/include"), option)?;
    }
    Ok(())
}
