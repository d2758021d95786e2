//! `shmim`: list, inspect, watch, create, remove, write, read and benchmark ImageStreamIO streams.
//!
//! `shmim demo` is the project's first command: with no setup it streams checksummed frames from a
//! writer process to two reader processes through a private stream directory and reports what it
//! measured. Every other subcommand works on a stream directory: `--dir D`, else `MILK_SHM_DIR`
//! (through `shmim_core::default_dir`).
//!
//! Errors are one line on stderr (what failed, which file, what to do) and a non-zero exit status;
//! user mistakes never reach a panic.

mod bench;
mod checksum;
mod child;
mod cli;
mod clock;
mod cmd;
mod dir;
mod failure;
#[cfg(feature = "fits")]
mod interrupt;
mod parse;
mod pattern;
mod progress;
mod stats;
mod table;
mod term;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match cmd::run(cli) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("shmim: {failure}");
            ExitCode::FAILURE
        }
    }
}

/// Prints clap's help or version as is, and any argument error as one line.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                2
            } else {
                0
            },
        );
    }
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("shmim: {first} (see `shmim --help`)");
    ExitCode::from(2)
}
