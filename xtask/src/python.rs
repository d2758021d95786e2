//! The Python package (`crates/shmim-py`): the `python` CI step and `cargo xtask bench python`.
//!
//! CI builds the abi3 wheel with maturin (from PyPI, in a tools venv), installs it into fresh
//! venvs with pytest and numpy 2, then numpy 1, checks the stubs with mypy, and runs the pytest
//! suite in each against the `shmim` CLI and an
//! installation of libImageStreamIO built by this run, so the tests see exactly what
//! `pip install` would give a user (never the source tree). Everything lives under the target
//! directory (`py-build/`, `py-wheels/`, `py-test/`, `py-capi/`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{cargo, root, run};
use crate::install::target_dir;

/// PyPI requirements of the tools venv (maturin 1.9.4 is the first that builds extension
/// modules without PyO3's deprecated `extension-module` feature).
const BUILD_TOOLS: &[&str] = &["maturin>=1.9.4,<2"];
/// numpy 2 (the default of new installs) for the test and bench venvs.
const NUMPY: &str = "numpy>=2,<3";
/// The test venvs: the package supports numpy 1.x and 2.x at run time (rust-numpy picks the C
/// API at import), so the suite runs against both.
const TEST_VENVS: &[(&str, &str)] = &[("py-test", NUMPY), ("py-test-numpy1", "numpy>=1.21,<2")];
/// The test runner.
const PYTEST: &str = "pytest>=7";
/// The type checker: `mypy.stubtest` holds the `.pyi` stubs to the extension module, and mypy
/// checks the pure-Python layer against them.
const MYPY: &str = "mypy>=1.10";

fn python_in(venv: &Path) -> PathBuf {
    venv.join("bin/python")
}

/// A new venv at `dir` (replacing one there) with `packages` installed from PyPI.
fn fresh_venv(dir: &Path, packages: &[&str]) -> Result<PathBuf, String> {
    let _ = std::fs::remove_dir_all(dir);
    run(Command::new("python3").arg("-m").arg("venv").arg(dir))?;
    let python = python_in(dir);
    if !packages.is_empty() {
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages))?;
    }
    Ok(python)
}

/// The tools venv with maturin (kept between runs: it only builds).
fn build_tools() -> Result<PathBuf, String> {
    let dir = target_dir().join("py-build");
    let maturin = dir.join("bin/maturin");
    let have = Command::new(&maturin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if have {
        return Ok(maturin);
    }
    fresh_venv(&dir, BUILD_TOOLS)?;
    Ok(maturin)
}

/// Builds the release abi3 wheel of `crates/shmim-py`; returns its path.
pub fn build_wheel() -> Result<PathBuf, String> {
    let maturin = build_tools()?;
    let out = target_dir().join("py-wheels");
    let _ = std::fs::remove_dir_all(&out);
    run(Command::new(&maturin)
        .current_dir(root())
        .args([
            "build",
            "--release",
            "--quiet",
            "-m",
            "crates/shmim-py/Cargo.toml",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--interpreter")
        .arg(python_in(&target_dir().join("py-build"))))?;
    let wheels: Vec<PathBuf> = std::fs::read_dir(&out)
        .map_err(|e| format!("{}: {e}", out.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    match wheels.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected one wheel in {}, found {wheels:?}",
            out.display()
        )),
    }
}

/// A fresh venv at `TARGET/name` with the wheel, `numpy` and `extra` installed.
pub fn install_venv(
    name: &str,
    wheel: &Path,
    numpy: &str,
    extra: &[&str],
) -> Result<PathBuf, String> {
    let wheel = wheel.to_string_lossy().into_owned();
    let mut packages = vec![wheel.as_str(), numpy];
    packages.extend_from_slice(extra);
    let python = fresh_venv(&target_dir().join(name), &packages)?;
    // The tests must import the installed package, not a source tree.
    let venv = target_dir().join(name);
    let out = Command::new(&python)
        .current_dir(&venv)
        .args(["-c", "import shmim._native as n; print(n.__file__)"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let file = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || !Path::new(&file).starts_with(&venv) {
        return Err(format!(
            "`import shmim` in {} did not load the installed wheel ({file}): {}",
            venv.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(python)
}

/// The `python` CI step.
pub fn ci() -> Result<(), String> {
    let wheel = build_wheel()?;
    run(cargo().args(["build", "-p", "shmim-cli", "--bin", "shmim"]))?;
    let cli = target_dir().join("debug/shmim");
    // Through the command line users have (`cargo xtask install`), not the install module's
    // internals: the C tests see an installation as a user makes one.
    let capi = target_dir().join("py-capi");
    let _ = std::fs::remove_dir_all(&capi);
    run(cargo()
        .args(["xtask", "install", "--debug", "--prefix"])
        .arg(&capi))?;
    for (i, (venv, numpy)) in TEST_VENVS.iter().enumerate() {
        let python = install_venv(venv, &wheel, numpy, &[PYTEST, MYPY])?;
        if i == 0 {
            type_check(&python, &target_dir().join(venv))?;
        }
        run(Command::new(&python)
            // Not the source tree: nothing called `shmim` may shadow the installed package.
            .current_dir(target_dir().join(venv))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(root().join("crates/shmim-py/tests"))
            .env("SHMIM_CLI", &cli)
            .env("SHMIM_CAPI_PREFIX", &capi)
            .env("SHMIM_REPO", root()))?;
    }
    Ok(())
}

/// The stubs against the installed extension, and the package against the stubs.
fn type_check(python: &Path, venv: &Path) -> Result<(), String> {
    run(Command::new(python)
        .current_dir(venv)
        // PEP 800's marker is not in typing yet on the Pythons the package supports.
        .args([
            "-m",
            "mypy.stubtest",
            "shmim._native",
            "--ignore-disjoint-bases",
        ]))?;
    run(Command::new(python).current_dir(venv).args([
        "-m",
        "mypy",
        "--no-incremental",
        "-p",
        "shmim",
    ]))
}

/// `cargo xtask bench python`: Python against Rust in the same run (crates/shmim-py/bench).
pub fn bench(extra: &[String]) -> Result<(), String> {
    let wheel = build_wheel()?;
    run(cargo().args(["build", "--release", "-p", "shmim-cli", "--bin", "shmim"]))?;
    let python = install_venv("py-bench", &wheel, NUMPY, &[])?;
    run(Command::new(&python)
        .current_dir(target_dir().join("py-bench"))
        .arg(root().join("crates/shmim-py/bench/bench.py"))
        .arg("--shmim")
        .arg(target_dir().join("release/shmim"))
        .args(extra))
}
