//! One module per subcommand; [`run`] dispatches.

mod create;
mod demo;
mod demo_child;
mod external;
#[cfg(feature = "fits")]
mod fits_text;
mod info;
#[cfg(feature = "fits")]
mod load;
#[cfg(feature = "fits")]
mod log;
mod ls;
mod read;
mod rm;
#[cfg(feature = "fits")]
mod save;
mod watch;
mod write;

use std::process::ExitCode;

use shmim_sync::liveness::{Liveness, check};

use crate::cli::{Cli, Command};
use crate::dir;
use crate::failure::Result;

/// Runs the command; `Ok` carries the exit status of a command that reports its own verdict.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let explicit = cli.dir.as_deref();
    // Commands on a stream directory need an existing one; demo and bench make their own.
    let dir = || dir::resolve(explicit);
    match cli.command {
        Command::Demo(a) => demo::run(&a),
        Command::Bench(a) => crate::bench::run(explicit, &a),
        Command::BenchPeer(a) => crate::bench::peer(&a),
        Command::Ls(a) if a.remote => ls_remote(explicit, &a),
        Command::Ls(a) => ls::run(&dir()?, &a),
        Command::Info(a) => info::run(&dir()?, &a),
        Command::Watch(a) => watch::run(&dir()?, &a),
        Command::Create(a) => create::run(&dir()?, &a),
        Command::Rm(a) => rm::rm(&dir()?, &a),
        Command::Purge(a) => rm::purge(&dir()?, &a),
        Command::Write(a) => write::run(&dir()?, &a),
        Command::Read(a) => read::run(&dir()?, &a),
        #[cfg(feature = "fits")]
        Command::Save(a) => save::run(&dir()?, &a),
        #[cfg(feature = "fits")]
        Command::Load(a) => load::run(&dir()?, &a),
        #[cfg(feature = "fits")]
        Command::Log(a) => log::run(&dir()?, &a),
        Command::DemoWriter(a) => demo_child::writer(&dir()?, &a),
        Command::DemoReader(a) => demo_child::reader(&dir()?, &a),
        Command::External(args) => match args.split_first() {
            Some((name, rest)) => external::run(explicit, name, rest),
            None => Err(crate::failure::Failure::new("no subcommand given")),
        },
    }
}

/// `shmim ls --remote [--connect E]… [--json]` is `shmim-bridge ls [--connect E]… [--json]`.
fn ls_remote(explicit: Option<&std::path::Path>, a: &crate::cli::LsArgs) -> Result<ExitCode> {
    let mut args: Vec<std::ffi::OsString> = vec!["ls".into()];
    for e in &a.connect {
        args.push("--connect".into());
        args.push(e.into());
    }
    if a.json {
        args.push("--json".into());
    }
    external::run(explicit, "bridge".as_ref(), &args)
}

/// What `shmim ls`/`info` print for a PID: `alive`, `dead`, `-` (none), `?` (unknown).
pub fn pid_state(pid: i32) -> &'static str {
    match check(pid) {
        Liveness::NoProcess => "-",
        Liveness::Alive => "alive",
        Liveness::Dead => "dead",
        Liveness::Unknown => "?",
    }
}

/// Whether `pid` may be a live process (alive, or we cannot tell).
pub fn may_be_alive(pid: i32) -> bool {
    matches!(check(pid), Liveness::Alive | Liveness::Unknown)
}
