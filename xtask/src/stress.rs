//! `cargo xtask stress`: the full reliability figures (RELIABILITY.md), release builds, one
//! scenario at a time, printed as a table. The fast versions of the same scenarios run in
//! `cargo test` (and so in `cargo xtask ci`).

use std::process::Stdio;
use std::time::Instant;

use crate::cmd::cargo;

/// One scenario: a test target of a package run with a bigger workload.
struct Scenario {
    name: &'static str,
    package: &'static str,
    test: &'static str,
    env: (&'static str, &'static str),
    /// Prefix of the lines the test prints with its figures.
    figures: &'static str,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "torn frames",
        package: "shmim-core",
        test: "cross_process",
        env: ("SHMIM_STRESS_FRAMES", "1000000"),
        figures: "reader ",
    },
    Scenario {
        name: "crash mid-write",
        package: "shmim-core",
        test: "crash",
        env: ("SHMIM_CRASH_ROUNDS", "100"),
        figures: "crash rounds",
    },
    Scenario {
        name: "hostile files",
        package: "shmim-core",
        test: "hostile_files",
        env: ("SHMIM_HOSTILE_CASES", "10000"),
        figures: "hostile files",
    },
    Scenario {
        name: "hostile files, C openIm under ASan",
        package: "shmim-capi",
        test: "c_hostile",
        env: ("SHMIM_HOSTILE_CASES", "10000"),
        figures: "C openIm hostile files",
    },
];

pub fn main(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!(
            "`cargo xtask stress` takes no arguments (got `{a}`)"
        ));
    }
    let mut rows = Vec::new();
    for s in &SCENARIOS {
        eprintln!("=== xtask stress: {} ({}={})", s.name, s.env.0, s.env.1);
        let start = Instant::now();
        let out = cargo()
            .args([
                "test",
                "--release",
                "-p",
                s.package,
                "--test",
                s.test,
                "--",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(s.env.0, s.env.1)
            .stdout(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let figures: Vec<String> = stderr
            .lines()
            .filter(|l| l.starts_with(s.figures))
            .map(|l| l.trim().to_owned())
            .collect();
        let ok = out.status.success();
        if !ok {
            eprintln!("{stderr}");
        }
        rows.push((s.name, ok, start.elapsed(), figures));
    }
    println!("\n| scenario | result | time | figures |\n|---|---|---|---|");
    for (name, ok, took, figures) in &rows {
        let result = if *ok { "pass" } else { "FAIL" };
        println!(
            "| {name} | {result} | {:.1} s | {} |",
            took.as_secs_f64(),
            figures.join("<br>")
        );
    }
    if rows.iter().all(|r| r.1) {
        Ok(())
    } else {
        Err("a stress scenario failed".into())
    }
}
