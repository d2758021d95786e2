//! Git-style external subcommands: `shmim X ARGS…` runs `shmim-X ARGS…`.
//!
//! The program is looked for next to the `shmim` executable first (an installation puts its
//! binaries side by side; a cargo build puts them in one `target/` directory), then on `PATH`.
//! It replaces this process (`exec`), so signals and the exit status are its own. `--dir D`
//! given to `shmim` reaches it as `MILK_SHM_DIR=D`, the stream directory every shmim tool and
//! legacy program honours; a `D` that does not exist is an error here (the program would
//! otherwise fall back to the default directory without a word). This is how `shmim bridge …`
//! reaches `shmim-bridge` without the `shmim` build ever compiling the bridge's network engine.
//!
//! `X` must be a plain name: no `/` (which would reach into other directories: `shmim x/evil`),
//! not starting with `.`, not empty. Empty `PATH` entries (which the shell reads as the current
//! directory) are skipped: `shmim X` never runs a program from wherever it was started.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::failure::{Failure, Result};

/// Runs `shmim-NAME` with `args`; returns only if it could not be started.
pub fn run(explicit_dir: Option<&Path>, name: &OsStr, args: &[OsString]) -> Result<ExitCode> {
    let shown = name.to_string_lossy();
    if shown.is_empty() || shown.starts_with('.') || shown.contains('/') || shown.contains('\0') {
        return Err(Failure::new(format!(
            "no subcommand {shown:?} (a subcommand is a plain name: see `shmim --help`)"
        )));
    }
    if let Some(dir) = explicit_dir.filter(|d| !d.is_dir()) {
        return Err(Failure::new(format!(
            "--dir {}: not an existing directory (create it, or pass another)",
            dir.display()
        )));
    }
    let program = format!("shmim-{shown}");
    let Some(path) = find(&program) else {
        return Err(Failure::new(not_found(name, &program)));
    };
    let mut cmd = Command::new(&path);
    cmd.args(args);
    if let Some(dir) = explicit_dir {
        cmd.env(shmim_layout::SHM_DIR_ENV, dir);
    }
    let err = cmd.exec();
    Err(Failure::new(format!(
        "cannot run {}: {err}",
        path.display()
    )))
}

fn not_found(name: &OsStr, program: &str) -> String {
    if name == "bridge" {
        format!(
            "`shmim bridge` needs the {program} program (not found next to shmim nor on PATH): \
             build it with `cargo build --release -p shmim-bridge` or install it with \
             `cargo install --path crates/shmim-bridge`"
        )
    } else {
        format!(
            "no subcommand {:?}, and no {program} next to shmim or on PATH (see `shmim --help`)",
            name.to_string_lossy()
        )
    }
}

/// `program` next to the running executable, else the first on `PATH`.
fn find(program: &str) -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(program)));
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| d.join(program))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside.into_iter().chain(on_path).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
