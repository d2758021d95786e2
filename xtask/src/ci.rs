//! `cargo xtask ci`: every check, in order, failing on the first failure, with a summary.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::cmd::{cargo, root, run};

/// One named check.
struct Step {
    name: &'static str,
    what: &'static str,
    run: fn() -> Result<(), String>,
}

fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "setup",
            what: "install what later steps need (rustup components, Debian packages)",
            run: crate::setup::ensure,
        },
        Step {
            name: "self-contained",
            what: "no tracked file refers to material outside the repository",
            run: crate::selfcontained::check,
        },
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
        Step {
            name: "capi-header",
            what: "libImageStreamIO headers match their cbindgen sources",
            run: || crate::header::run(true),
        },
        Step {
            name: "abi",
            what: "C headers, Rust structs and exports against abi/*.toml (default, writehistory, dao-compat)",
            run: crate::abi::ci,
        },
        Step {
            name: "capi-c",
            what: "libImageStreamIO: install, pkg-config, C programs (cc, TSan), exported symbols",
            run: crate::install::c_tests,
        },
        Step {
            name: "capi-asan",
            what: "libImageStreamIO under ASan/UBSan: C programs, 300 hostile files through openIm, names, destroy",
            run: capi_asan,
        },
        Step {
            name: "capi-cmake",
            what: "libImageStreamIO installed (dist profile, stripped) and as a CMake subproject: find_package and add_subdirectory clients, layout variants, valgrind",
            run: crate::cmake::ci,
        },
        Step {
            name: "loom-envcache",
            what: "loom model of the envcache publication flag",
            run: loom_envcache,
        },
        Step {
            name: "loom-sync",
            what: "loom models of the write flag, its recovery, seqlock, circular-buffer slot copies, abandon and reader slots",
            run: loom_sync,
        },
        Step {
            name: "miri",
            what: "Miri, strict provenance, on the heap-only crates",
            run: miri,
        },
        Step {
            name: "stress-core",
            what: "cross-process stress in release: 100 000 checksummed frames, 3 reader processes",
            run: stress_core,
        },
        Step {
            name: "tsan",
            what: "ThreadSanitizer on the multithreaded tests",
            run: tsan,
        },
        Step {
            name: "python",
            what: "Python package: maturin abi3 wheel, fresh venvs (numpy 2, numpy 1), stubs (mypy), pytest vs the CLI and the C library",
            run: crate::python::ci,
        },
    ]
}

fn layout_variants() -> Result<(), String> {
    for features in ["writehistory", "dao-compat"] {
        run(cargo().args(["test", "-p", "shmim-layout", "--features", features]))?;
    }
    Ok(())
}

fn stress_core() -> Result<(), String> {
    run(cargo()
        .args([
            "test",
            "--release",
            "-p",
            "shmim-core",
            "--test",
            "cross_process",
            "--",
            "--test-threads=1",
        ])
        .env("SHMIM_STRESS_FRAMES", "100000"))
}

/// The C test programs built with `-fsanitize=address,undefined` (leak checking on) and the
/// hostile-file corpus through the C `openIm`; `cargo xtask stress` runs the corpus at 10 000.
fn capi_asan() -> Result<(), String> {
    run(cargo().args([
        "test",
        "-p",
        "shmim-capi",
        "--test",
        "c_asan",
        "--test",
        "c_hostile",
    ]))
}

fn doc() -> Result<(), String> {
    run(cargo()
        .args(["doc", "--workspace", "--no-deps"])
        .env("RUSTDOCFLAGS", "-D warnings"))
}

/// Packages whose tests run under Miri, with extra cargo arguments: code over heap memory only
/// (Miri cannot run mmap, semaphores or futexes; shmim-sync marks such tests
/// `cfg_attr(miri, ignore)` and runs its unit tests with the `strict` pixel copy).
const MIRI_PACKAGES: &[(&str, &[&str])] = &[
    ("shmim-envcache", &[]),
    ("shmim-sync", &["--features", "strict", "--lib"]),
    // Open validation is a pure function over header bytes; the rest of core maps files.
    ("shmim-core", &["--lib", "--", "validate::", "name::"]),
    // A writer thread and a reader thread on a process-local (heap) stream, `strict`: no data
    // race and no mixed-size atomic access through the safe API.
    (
        "shmim-core",
        &["--features", "strict", "--test", "same_process"],
    ),
];

/// Multithreaded test targets run under ThreadSanitizer, as (package, test target, extra cargo
/// arguments).
const TSAN_TESTS: &[(&str, &str, &[&str])] = &[
    ("shmim-envcache", "stress", &[]),
    ("shmim-sync", "tsan_seqlock", &["--features", "strict"]),
    // The segment lock between threads of one process (its record, the fork-proof local lock).
    ("shmim-sync", "lock_threads", &[]),
    ("shmim-core", "same_process", &["--features", "strict"]),
    // A reader copying circular-buffer slots while a writer thread fills the others.
    ("shmim-core", "circular_frames", &["--features", "strict"]),
];

/// The one platform shmim supports; `-Zbuild-std` needs it spelled out.
const HOST: &str = "x86_64-unknown-linux-gnu";

/// `cargo +nightly …` through rustup, rooted at the workspace.
fn nightly_cargo() -> Command {
    let mut c = Command::new("cargo");
    c.arg("+nightly").current_dir(root());
    c
}

/// A target directory of its own for a build with unusual flags, so it does not evict the
/// normal build.
fn side_target_dir(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join(name)
}

fn loom_envcache() -> Result<(), String> {
    run(cargo()
        .args([
            "test",
            "-p",
            "shmim-envcache",
            "--release",
            "--test",
            "loom",
        ])
        .env("RUSTFLAGS", "--cfg loom")
        .env("LOOM_MAX_PREEMPTIONS", "2")
        .env("CARGO_TARGET_DIR", side_target_dir("loom")))
}

fn loom_sync() -> Result<(), String> {
    run(cargo()
        .args(["test", "-p", "shmim-sync", "--release", "--test", "loom_*"])
        .env("RUSTFLAGS", "--cfg loom")
        .env("LOOM_MAX_PREEMPTIONS", "2")
        .env("CARGO_TARGET_DIR", side_target_dir("loom")))
}

fn miri() -> Result<(), String> {
    for (package, args) in MIRI_PACKAGES {
        run(nightly_cargo()
            .args(["miri", "test", "-p", package])
            .args(*args)
            .env("MIRIFLAGS", "-Zmiri-strict-provenance"))?;
    }
    Ok(())
}

fn tsan() -> Result<(), String> {
    for (package, test, args) in TSAN_TESTS {
        run(nightly_cargo()
            .args(["test", "-Zbuild-std", "--target", HOST])
            .args(["-p", package, "--test", test])
            .args(*args)
            .env("RUSTFLAGS", "-Zsanitizer=thread --cfg shmim_tsan")
            .env("CARGO_TARGET_DIR", side_target_dir("tsan")))?;
    }
    Ok(())
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
