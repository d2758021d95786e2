//! `cargo xtask ci`: every check, in order, failing on the first failure, with a summary.

use std::time::{Duration, Instant};

use crate::cmd::{cargo, run};

/// One named check.
struct Step {
    name: &'static str,
    what: &'static str,
    run: fn() -> Result<(), String>,
}

fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "fmt",
            what: "cargo fmt --check",
            run: || run(cargo().args(["fmt", "--all", "--check"])),
        },
        Step {
            name: "clippy",
            what: "clippy, all targets, warnings denied",
            run: || {
                run(cargo().args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]))
            },
        },
        Step {
            name: "test",
            what: "cargo test --workspace",
            run: || run(cargo().args(["test", "--workspace"])),
        },
        Step {
            name: "layout-variants",
            what: "layout offsets of the writehistory and dao-compat builds",
            run: layout_variants,
        },
        Step {
            name: "doc",
            what: "cargo doc without warnings",
            run: doc,
        },
    ]
}

fn layout_variants() -> Result<(), String> {
    for features in ["writehistory", "dao-compat"] {
        run(cargo().args(["test", "-p", "shmim-layout", "--features", features]))?;
    }
    Ok(())
}

fn doc() -> Result<(), String> {
    run(cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings"))
}

pub fn run_steps(only: Option<&str>, from: Option<&str>) -> Result<(), String> {
    let all = steps();
    let start = match from {
        Some(f) => all
            .iter()
            .position(|s| s.name == f)
            .ok_or(format!("no step `{f}`"))?,
        None => 0,
    };
    let selected: Vec<&Step> = all[start..]
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.name))
        .collect();
    if selected.is_empty() {
        return Err(format!("no step `{}`", only.unwrap_or("")));
    }
    let mut done: Vec<(&str, Duration, bool)> = Vec::new();
    let mut failure = None;
    for step in selected {
        eprintln!("\n=== xtask ci: {} ({})", step.name, step.what);
        let t = Instant::now();
        let r = (step.run)();
        done.push((step.name, t.elapsed(), r.is_ok()));
        if let Err(e) = r {
            failure = Some(format!("step `{}` failed: {e}", step.name));
            break;
        }
    }
    println!("\nxtask ci summary");
    for (name, took, ok) in &done {
        println!(
            "  {:<18} {:>7.1}s  {}",
            name,
            took.as_secs_f64(),
            if *ok { "ok" } else { "FAILED" }
        );
    }
    match failure {
        None => {
            println!("{} passed, 0 failed", done.len());
            Ok(())
        }
        Some(e) => {
            println!("{} passed, 1 failed", done.len() - 1);
            Err(e)
        }
    }
}

pub fn main(args: &[String]) -> Result<(), String> {
    let mut only = None;
    let mut from = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--list" => {
                for s in steps() {
                    println!("{:<18} {}", s.name, s.what);
                }
                return Ok(());
            }
            "--only" => only = it.next().map(String::as_str),
            "--from" => from = it.next().map(String::as_str),
            other => return Err(format!("unknown ci option `{other}`")),
        }
    }
    run_steps(only, from)
}
