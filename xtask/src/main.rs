//! `cargo xtask`: the project's automation, one module per job.
//!
//! ```text
//! cargo xtask ci        every check CI runs, in order, stopping at the first failure
//! cargo xtask stress    the full reliability scenarios, as a table (RELIABILITY.md)
//! cargo xtask bench     benchmarks (release builds), one group or all: `bench --list`
//! cargo xtask header    regenerate the C headers of libImageStreamIO (`--check`: fail on drift)
//! cargo xtask install   install libImageStreamIO: `install --prefix DIR [--debug] [--features F]`
//! cargo xtask abi       check the C headers, Rust structs and library against the ABI manifests
//! ```

mod abi;
mod bench;
mod ci;
mod cmake;
mod cmd;
mod header;
mod install;
mod python;
mod selfcontained;
mod setup;
mod stress;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (job, rest) = match args.split_first() {
        Some((job, rest)) => (job.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match job {
        "ci" => ci::main(rest),
        "abi" => abi::main(rest),
        "bench" => bench::main(rest),
        "header" => header::main(rest),
        "install" => install::main(rest),
        "stress" => stress::main(rest),
        "help" | "--help" | "-h" => {
            println!(
                "usage: cargo xtask <ci|bench|header|install|abi> [options]\n  ci [--list] [--from STEP] [--only STEP]\n  bench [--list] [GROUP…]\n  header [--check]\n  install --prefix DIR [--debug] [--features writehistory|dao-compat]\n  abi [--features writehistory|dao-compat] [--legacy-header DIR] [--lib PATH] [--json] [--verbose] [--table]"
            );
            Ok(())
        }
        other => Err(format!(
            "unknown xtask job `{other}` (try `cargo xtask help`)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
