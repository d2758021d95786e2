//! `shmim bench`: what shmim costs, against what the hardware costs, measured in one run, with
//! issue 11's targets.
//!
//! Every row is a shmim figure next to a baseline measured in the same run on the same machine,
//! their ratio (lower is better; 1.00× is "as fast as the hardware allows"), the target and
//! whether this run met it:
//!
//! * [`publish`]: guard + commit of a frame with no pixels (10 semaphores, no blocked reader),
//!   against `clock_gettime` and 10 bare `sem_post`s;
//! * [`copy`]: writer cycle (guard + copy + commit) and consistent read (`read_into`) against a
//!   plain memcpy of the same bytes, 64² to 4096² f32 frames;
//! * [`wake`]: one-way wake-up latency between two processes (half a round trip), p50/p99/p99.9,
//!   for blocking, busy-poll and hybrid waits, against a bare `sem_post`/`sem_wait` ping-pong, a
//!   bare cache-line ping-pong ([`pingpong`]) and the publish protocol done with bare atomics;
//! * [`idle`]: CPU time a waiting reader burns while no frame comes;
//! * [`fanout`]: publish cost and wake latency with 1, 2, 4, 8 blocked reader processes;
//! * [`huge`]: large frames in a stream directory backed by huge pages, against the default;
//! * [`envcache`]: an environment lookup through `shmim-envcache` against `std::env::var_os`;
//! * `fits`: `shmim log` of a 512² f32 stream against the sequential write throughput of the same
//!   directory (built with the `fits` feature).
//!
//! `--json` prints the raw figures, `--plot DIR` writes SVG charts ([`plot`]). These are
//! benchmarks, not tests: nothing here fails on a slow figure.

mod copy;
mod envcache;
mod fanout;
#[cfg(feature = "fits")]
mod fits;
mod huge;
mod idle;
mod machine;
mod pingpong;
mod plot;
mod publish;
mod report;
mod wake;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::BenchArgs;
use crate::failure::{Failure, Result};

pub use report::{Figure, Report, Row};
pub use wake::peer;

/// How much to measure, and the knobs of the wait strategies.
pub struct Effort {
    /// Rounds of interleaved batches for per-operation costs.
    pub rounds: usize,
    /// Round trips per wake-up strategy (after the warm-up).
    pub round_trips: u64,
    /// Frames per reader count in the fan-out rows.
    pub fanout_frames: u64,
    /// Idle waits measured per strategy, and how long each lasts.
    pub idle_waits: u64,
    pub idle: Duration,
    /// Frame sides of the cost-vs-size rows.
    pub sides: &'static [u32],
    /// The hybrid wait's spin budget.
    pub hybrid_spin: Duration,
    /// The busy-poll reader's pure-spin phase.
    pub pure_spin: Duration,
    /// A directory backed by huge pages, if the user named one.
    pub huge_dir: Option<PathBuf>,
    /// Whether to mount a private huge-page tmpfs when there is none (not in `--quick` runs,
    /// which tests use).
    pub mount_huge: bool,
    /// Frames per logging run of the `fits` rows, and the writer rates tried (without and with
    /// a circular buffer), as shares of the sequential write's frame rate (read only when built
    /// with the `fits` feature).
    #[cfg_attr(not(feature = "fits"), allow(dead_code))]
    pub fits_frames: u64,
    #[cfg_attr(not(feature = "fits"), allow(dead_code))]
    pub fits_shares: &'static [f64],
}

/// The sections, in table order (`--only` takes these names).
pub const SECTIONS: [&str; 8] = [
    "publish", "frames", "wake", "idle", "scaling", "huge", "envcache", "fits",
];

pub fn run(explicit_dir: Option<&Path>, a: &BenchArgs) -> Result<ExitCode> {
    let only: Vec<&str> = a.only.iter().map(String::as_str).collect();
    if let Some(bad) = only.iter().find(|s| !SECTIONS.contains(s)) {
        return Err(Failure::new(format!(
            "bench: no section {bad:?} (sections: {})",
            SECTIONS.join(", ")
        )));
    }
    let on = |s: &str| only.is_empty() || only.contains(&s);
    let effort = Effort {
        rounds: if a.quick { 8 } else { 150 },
        round_trips: a.round_trips.unwrap_or(if a.quick { 300 } else { 20_000 }),
        fanout_frames: if a.quick { 40 } else { 2_000 },
        idle_waits: if a.quick { 2 } else { 10 },
        idle: Duration::from_millis(if a.quick { 5 } else { 50 }),
        sides: if a.quick {
            &[64, 512, 2048]
        } else {
            &[64, 256, 512, 1024, 2048, 4096]
        },
        hybrid_spin: Duration::from_micros(a.hybrid_spin_us),
        pure_spin: a
            .pure_spin_us
            .map_or(shmim_core::DEFAULT_PURE_SPIN, Duration::from_micros),
        huge_dir: a.huge_dir.clone(),
        mount_huge: !a.quick,
        fits_frames: if a.quick { 24 } else { 400 },
        // 82 %, not 80 %: a writer keeps the rate asked within a fraction of a percent, and a
        // rung at the target itself fails it or not by that fraction.
        fits_shares: if a.quick {
            &[0.1]
        } else {
            &[0.5, 0.65, 0.82, 0.9, 1.0, 1.1, 1.25]
        },
    };
    let dir = BenchDir::new(explicit_dir)?;
    let machine = machine::describe(&dir.path);
    if !a.json {
        println!("machine: {machine}");
    }
    let mut report = Report::new(machine, &effort);
    if on("publish") {
        publish::measure(&dir.path, &effort, &mut report)?;
    }
    if on("frames") {
        copy::measure(&dir.path, &effort, &mut report)?;
    }
    if on("wake") {
        wake::measure(&dir.path, &effort, &mut report)?;
    }
    if on("idle") {
        idle::measure(&dir.path, &effort, &mut report)?;
    }
    if on("scaling") {
        fanout::measure(&dir.path, &effort, &mut report)?;
    }
    if on("huge") {
        huge::measure(&dir.path, &effort, &mut report)?;
    }
    if on("envcache") {
        envcache::measure(&effort, &mut report);
    }
    if on("fits") {
        #[cfg(feature = "fits")]
        fits::measure(&dir.path, &effort, &mut report)?;
        #[cfg(not(feature = "fits"))]
        report
            .notes
            .push("fits rows: not measured (shmim built without the `fits` feature)".into());
    }
    // Table order is section order (a section may add rows to a later one, e.g. scaling).
    report
        .rows
        .sort_by_key(|r| SECTIONS.iter().position(|s| *s == r.section));
    if let Some(plot_dir) = &a.plot {
        let written = plot::write_all(plot_dir, &report)?;
        if !a.json {
            for f in written {
                println!("chart: {}", f.display());
            }
        }
    }
    if a.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
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
