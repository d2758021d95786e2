//! The Python package (`crates/shmim-py`): the `python` CI step and `cargo xtask bench python`.
//!
//! CI builds the abi3 wheel with maturin (from PyPI, in a tools venv), installs it into fresh
//! venvs with pytest, astropy (`SHM.save_as_fits`) and numpy 2, then numpy 1, checks the stubs
//! with mypy, and runs the pytest suite in each against the `shmim` CLI and an
//! installation of libImageStreamIO built by this run, so the tests see exactly what
//! `pip install` would give a user (never the source tree). Everything lives under the target
//! directory (`py-build/`, `py-wheels/`, `py-test/`, `py-capi/`).
//!
//! numpy 1.x publishes no wheels for Python >= 3.13: its venv is made with the first
//! interpreter on `PATH` that is at most 3.12 (`python3`, then `python3.12` … `python3.9`); on a
//! host with none, that venv is skipped with a message saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::{cargo, root, run};
use crate::install::target_dir;

/// PyPI requirements of the tools venv (maturin 1.9.4 is the first that builds extension
/// modules without PyO3's deprecated `extension-module` feature).
const BUILD_TOOLS: &[&str] = &["maturin>=1.9.4,<2"];
/// numpy 2 (the default of new installs) for the test and bench venvs.
const NUMPY: &str = "numpy>=2,<3";

/// A venv the Python tests run in.
struct TestVenv {
    /// Directory under the target directory.
    dir: &'static str,
    /// Its numpy requirement.
    numpy: &'static str,
    /// The newest Python that numpy has wheels for (`None`: any).
    newest_python: Option<(u32, u32)>,
}

/// The test venvs: the package supports numpy 1.x and 2.x at run time (rust-numpy picks the C
/// API at import), so the suite runs against both.
const TEST_VENVS: &[TestVenv] = &[
    TestVenv {
        dir: "py-test",
        numpy: NUMPY,
        newest_python: None,
    },
    TestVenv {
        dir: "py-test-numpy1",
        numpy: "numpy>=1.21,<2",
        newest_python: Some((3, 12)),
    },
];
/// The oldest Python the package supports (`requires-python` in pyproject.toml).
pub const OLDEST_PYTHON: (u32, u32) = (3, 9);
/// Interpreters to try, in order, for a venv whose numpy needs an older Python.
const INTERPRETERS: &[&str] = &[
    "python3",
    "python3.12",
    "python3.11",
    "python3.10",
    "python3.9",
];
/// The test runner.
const PYTEST: &str = "pytest>=7";
/// `SHM.save_as_fits` writes FITS through astropy, as pyMilk does; its tests need it.
const ASTROPY: &str = "astropy";
/// The type checker: `mypy.stubtest` holds the `.pyi` stubs to the extension module, and mypy
/// checks the pure-Python layer against them.
const MYPY: &str = "mypy>=1.10";

fn python_in(venv: &Path) -> PathBuf {
    venv.join("bin/python")
}

/// `(major, minor)` of the interpreter `python`, if it runs.
pub fn python_version(python: &str) -> Option<(u32, u32)> {
    let out = Command::new(python)
        .args([
            "-c",
            "import sys; print(sys.version_info[0], sys.version_info[1])",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace().map(str::parse::<u32>);
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Some((major, minor)),
        _ => None,
    }
}

/// The first of `candidates` (name, version if it runs) whose version is supported and at most
/// `newest` (`None`: any).
fn pick_interpreter<'a>(
    candidates: impl IntoIterator<Item = (&'a str, Option<(u32, u32)>)>,
    newest: Option<(u32, u32)>,
) -> Option<&'a str> {
    candidates.into_iter().find_map(|(name, version)| {
        let v = version?;
        (v >= OLDEST_PYTHON && newest.is_none_or(|n| v <= n)).then_some(name)
    })
}

/// A new venv at `dir` (replacing one there) made by `python3`, with `packages` from PyPI.
fn fresh_venv(dir: &Path, packages: &[&str]) -> Result<PathBuf, String> {
    fresh_venv_with("python3", dir, packages)
}

/// A new venv at `dir` (replacing one there) made by `interpreter`, with `packages` from PyPI.
fn fresh_venv_with(interpreter: &str, dir: &Path, packages: &[&str]) -> Result<PathBuf, String> {
    let _ = std::fs::remove_dir_all(dir);
    run(Command::new(interpreter).arg("-m").arg("venv").arg(dir))?;
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

/// A fresh venv at `TARGET/name`, made by `interpreter`, with the wheel, `numpy` and `extra`
/// installed.
pub fn install_venv(
    interpreter: &str,
    name: &str,
    wheel: &Path,
    numpy: &str,
    extra: &[&str],
) -> Result<PathBuf, String> {
    let wheel = wheel.to_string_lossy().into_owned();
    let mut packages = vec![wheel.as_str(), numpy];
    packages.extend_from_slice(extra);
    let python = fresh_venv_with(interpreter, &target_dir().join(name), &packages)?;
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
    for (i, venv) in TEST_VENVS.iter().enumerate() {
        let candidates = INTERPRETERS.iter().map(|&p| (p, python_version(p)));
        let Some(interpreter) = pick_interpreter(candidates, venv.newest_python) else {
            let (major, minor) = venv.newest_python.unwrap_or(OLDEST_PYTHON);
            eprintln!(
                "python: skipping the {} venv ({}): no Python between {}.{} and {major}.{minor} \
                 on PATH (tried {}); {} has no wheels for newer ones",
                venv.dir,
                venv.numpy,
                OLDEST_PYTHON.0,
                OLDEST_PYTHON.1,
                INTERPRETERS.join(", "),
                venv.numpy
            );
            continue;
        };
        let python = install_venv(
            interpreter,
            venv.dir,
            &wheel,
            venv.numpy,
            &[PYTEST, MYPY, ASTROPY],
        )?;
        if i == 0 {
            type_check(&python, &target_dir().join(venv.dir))?;
        }
        run(Command::new(&python)
            // Not the source tree: nothing called `shmim` may shadow the installed package.
            .current_dir(target_dir().join(venv.dir))
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
    let python = install_venv("python3", "py-bench", &wheel, NUMPY, &[])?;
    run(Command::new(&python)
        .current_dir(target_dir().join("py-bench"))
        .arg(root().join("crates/shmim-py/bench/bench.py"))
        .arg("--shmim")
        .arg(target_dir().join("release/shmim"))
        .args(extra))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_numpy1_venv_takes_the_first_interpreter_numpy1_has_wheels_for() {
        let newest = Some((3, 12));
        let host = [
            ("python3", Some((3, 13))),
            ("python3.12", None),
            ("python3.11", Some((3, 11))),
            ("python3.10", Some((3, 10))),
        ];
        assert_eq!(pick_interpreter(host, newest), Some("python3.11"));
        assert_eq!(
            pick_interpreter([("python3", Some((3, 11)))], newest),
            Some("python3")
        );
        assert_eq!(
            pick_interpreter([("python3", Some((3, 14))), ("python3.9", None)], newest),
            None,
            "none: the venv is skipped"
        );
        assert_eq!(
            pick_interpreter([("python3", Some((3, 8)))], None),
            None,
            "older than the package supports"
        );
        assert_eq!(
            pick_interpreter([("python3", Some((3, 13)))], None),
            Some("python3")
        );
    }
}
