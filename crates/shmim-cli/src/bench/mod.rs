//! `shmim bench`: what shmim costs, against what the hardware costs, measured in one run.
//!
//! Every row is a ratio of a shmim figure to a baseline measured in the same run on the same
//! machine (lower is better; 1.00× is "as fast as the hardware allows"):
//!
//! * [`publish`]: guard + commit of a frame with no pixels, against `clock_gettime` and 10 bare
//!   `sem_post`s;
//! * [`copy`]: writer cycle (guard + copy + commit) and consistent read (`read_into`) against a
//!   plain memcpy of the same bytes, for 64², 512² and 2048² f32 frames;
//! * [`wake`]: one-way wake-up latency between two processes (half a round trip) for blocking
//!   semaphore waits, busy-polling and hybrid waits, against a bare `sem_post`/`sem_wait`
//!   ping-pong and a bare cache-line ping-pong ([`pingpong`]) between the same two processes;
//! * [`envcache`]: an environment lookup through `shmim-envcache` against `std::env::var_os`.
//!
//! These are benchmarks, not tests: nothing here fails on a slow figure.

mod copy;
mod envcache;
mod machine;
mod pingpong;
mod publish;
mod wake;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::BenchArgs;
use crate::failure::{Failure, Result};
use crate::stats::ns_text;
use crate::table::Table;

pub use wake::peer;

/// One line of the table.
#[derive(Debug, Serialize)]
pub struct Row {
    /// What shmim does.
    pub what: String,
    /// shmim's figure (ns per operation, or p50 ns for latencies).
    pub shmim_ns: f64,
    /// shmim's p99 (latencies only).
    pub shmim_p99_ns: Option<f64>,
    /// The baseline it is compared with.
    pub baseline: String,
    /// The baseline's figure.
    pub baseline_ns: f64,
    /// The baseline's p99 (latencies only).
    pub baseline_p99_ns: Option<f64>,
    /// `shmim_ns / baseline_ns`.
    pub ratio: f64,
}

impl Row {
    fn new(what: String, shmim: Figure, baseline: &str, base: Figure) -> Self {
        Self {
            what,
            shmim_ns: shmim.ns,
            shmim_p99_ns: shmim.p99,
            baseline: baseline.to_owned(),
            baseline_ns: base.ns,
            baseline_p99_ns: base.p99,
            ratio: shmim.ns / base.ns.max(1e-3),
        }
    }
}

/// A measured figure: a per-operation time, or a latency p50 with its p99.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    pub ns: f64,
    pub p99: Option<f64>,
}

/// How much to measure.
pub struct Effort {
    /// Rounds of interleaved batches for per-operation costs.
    pub rounds: usize,
    /// Round trips per wake-up strategy (after the warm-up).
    pub round_trips: u64,
}

pub fn run(explicit_dir: Option<&Path>, a: &BenchArgs) -> Result<ExitCode> {
    let effort = Effort {
        rounds: if a.quick { 8 } else { 150 },
        round_trips: a.round_trips.unwrap_or(if a.quick { 300 } else { 20_000 }),
    };
    let dir = BenchDir::new(explicit_dir)?;
    let machine = machine::describe(&dir.path);
    if !a.json {
        println!("machine: {machine}");
    }
    let mut rows = Vec::new();
    rows.extend(publish::rows(&dir.path, &effort)?);
    rows.extend(copy::rows(&dir.path, &effort)?);
    rows.extend(wake::rows(&dir.path, &effort)?);
    rows.extend(envcache::rows(&effort));

    if a.json {
        let pinned = wake::pinning().map(|(a, b)| [a, b]);
        let doc = serde_json::json!({
            "machine": machine, "round_trips": effort.round_trips, "pinned_cpus": pinned,
            "rows": rows,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[">RATIO", "SHMIM", ">TIME", "BASELINE", ">TIME "]);
    for r in &rows {
        let time = |ns: f64, p99: Option<f64>| match p99 {
            Some(p99) => format!("p50 {} p99 {}", ns_text(ns), ns_text(p99)),
            None => ns_text(ns),
        };
        t.row(vec![
            format!("{:.2}×", r.ratio),
            r.what.clone(),
            time(r.shmim_ns, r.shmim_p99_ns),
            r.baseline.clone(),
            time(r.baseline_ns, r.baseline_p99_ns),
        ]);
    }
    print!("{}", t.render());
    let placement = wake::pinning().map_or("not pinned (one CPU)".to_owned(), |(a, b)| {
        format!("bench on CPU {a}, peer on CPU {b}")
    });
    println!(
        "ratio = shmim / baseline, both measured in this run (lower is better); latencies are one-way (half a round trip), {} round trips per row, {placement}",
        effort.round_trips
    );
    Ok(ExitCode::SUCCESS)
}

/// A private directory for the bench's streams and files: under `--dir`, else `/dev/shm` (tmpfs,
/// like a real stream directory) when it exists, else the system's temporary directory.
struct BenchDir {
    path: PathBuf,
}

impl BenchDir {
    fn new(explicit: Option<&Path>) -> Result<Self> {
        let base = match explicit {
            Some(d) => d.to_path_buf(),
            None if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
            None => std::env::temp_dir(),
        };
        let path = base.join(format!("shmim-bench-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| {
            Failure::new(format!(
                "cannot create the bench directory {}: {e} (pass --dir to a writable directory)",
                path.display()
            ))
        })?;
        Ok(Self { path })
    }
}

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
