//! `cargo xtask bench [GROUP…|all] [-- ARGS…]`: benchmarks (not tests), each group built in
//! release and run in turn. A group is one entry in [`groups`]; no group, or `all`, runs every
//! group. Arguments after `--` go to `shmim bench` (groups `core` and `fits`), `shmim-bridge
//! bench` (group `bridge`), or the C API benchmark (group `capi`), e.g.
//! `cargo xtask bench core -- --plot target/bench-plots --json` or
//! `cargo xtask bench capi -- --legacy-lib /usr/local/lib/libImageStreamIO.so`.

use crate::cmd::{cargo, run};

/// One benchmark group: what `cargo xtask bench <name>` runs.
struct Group {
    name: &'static str,
    what: &'static str,
    /// Runs the group; the argument is what followed `--` (every group but `envcache` and `sync`).
    run: fn(&[String]) -> Result<(), String>,
}

fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "envcache",
            what: "env snapshot hit vs std::env::var_os, 1/2/4/8/16 threads",
            run: |_| example("shmim-envcache", "bench"),
        },
        Group {
            name: "sync",
            what: "write flag, seqlock, busy-poll and semaphore wake vs a 2-process ping-pong",
            run: |_| example("shmim-sync", "bench_sync"),
        },
        Group {
            name: "capi",
            what: "libImageStreamIO (dist build) against the legacy library, same run: UpdateIm, sempost (-- --legacy-lib PATH, or SHMIM_LEGACY_LIB)",
            run: capi,
        },
        Group {
            name: "fits",
            what: "`shmim bench --only fits`: shmim log of a 512² f32 stream vs a sequential write of the same directory",
            run: |extra| bench_verb("shmim-cli", "shmim", &["--only", "fits"], extra),
        },
        Group {
            name: "core",
            what: "`shmim bench`: issue 11's suite (publish, frames, wake, idle CPU, scaling, huge pages) with targets",
            run: |extra| bench_verb("shmim-cli", "shmim", &[], extra),
        },
        Group {
            name: "bridge",
            what: "`shmim-bridge bench`: Zenoh bridge vs a plain TCP pipeline, 64²/512²/2048² f32 (throughput, latency p50/p99)",
            run: |extra| bench_verb("shmim-bridge", "shmim-bridge", &[], extra),
        },
        Group {
            name: "python",
            what: "Python read()/get_data()/view() and wake latency vs the Rust read_into and reader, same run (-- --quick, --json)",
            run: crate::python::bench,
        },
    ]
}

/// The C API group: the installed build of libImageStreamIO (`dist` profile) and, when given, the
/// legacy library, both dlopen'ed by `shmim-capi`'s `bench_update` example.
fn capi(extra: &[String]) -> Result<(), String> {
    let built =
        crate::install::build_profile(crate::install::DIST, crate::install::Variant::default())?;
    run(cargo()
        .args([
            "run",
            "--profile",
            crate::install::DIST,
            "-p",
            "shmim-capi",
            "--example",
            "bench_update",
            "--",
            "--lib",
        ])
        .arg(built.join("libImageStreamIO.so"))
        .args(extra))
}

/// Runs `BIN bench ARGS… EXTRA…` of `package`, built in release.
fn bench_verb(package: &str, bin: &str, args: &[&str], extra: &[String]) -> Result<(), String> {
    run(cargo()
        .args([
            "run",
            "--release",
            "-p",
            package,
            "--bin",
            bin,
            "--",
            "bench",
        ])
        .args(args)
        .args(extra))
}

/// Runs `example` of `package`, built in release.
fn example(package: &str, example: &str) -> Result<(), String> {
    run(cargo().args(["run", "--release", "-p", package, "--example", example]))
}

pub fn main(args: &[String]) -> Result<(), String> {
    let (args, extra) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let all = groups();
    if args.iter().any(|a| a == "--list") {
        for g in &all {
            println!("{:<12} {}", g.name, g.what);
        }
        return Ok(());
    }
    let selected: Vec<&Group> = if args.is_empty() || args == ["all"] {
        all.iter().collect()
    } else {
        args.iter()
            .map(|a| {
                all.iter().find(|g| g.name == a.as_str()).ok_or(format!(
                    "no benchmark group `{a}` (try `cargo xtask bench --list`)"
                ))
            })
            .collect::<Result<_, _>>()?
    };
    for g in selected {
        eprintln!("\n=== xtask bench: {} ({})", g.name, g.what);
        (g.run)(extra)?;
    }
    Ok(())
}
