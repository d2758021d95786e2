//! `shmim demo`: the project working, with no setup.
//!
//! A private stream directory under the system's temporary directory; one stream of SIZE×SIZE
//! f32 frames; reader processes that register, then a writer process that publishes checksum
//! frames at a fixed rate (all three are this binary, re-executed with a hidden subcommand). The
//! readers wait on their semaphores, copy every frame out consistently and verify it, and measure
//! wake latency as their `CLOCK_MONOTONIC` reading at wake-up minus the writer's reading just
//! before commit (one clock, the same for every process). The parent shows progress from `cnt0`,
//! enforces the deadline, and prints the report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::json;
use shmim_core::{Datatype, Stream, StreamSpec};

use crate::child::Peer;
use crate::cli::DemoArgs;
use crate::cmd::read::ReadReport;
use crate::cmd::write::WriteReport;
use crate::failure::{Failure, Result};
use crate::progress::Progress;
use crate::stats::{bytes_text, hz_text, ns_text, percentiles};

const STREAM: &str = "demo";
/// How long readers get to register before the writer starts.
const REGISTER_WITHIN: Duration = Duration::from_secs(10);
/// How often the parent samples progress.
const POLL: Duration = Duration::from_millis(50);

/// A private directory, removed on drop unless kept.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    fn new(keep: bool) -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("shmim-demo-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir(&path).map_err(|e| {
            Failure::new(format!(
                "cannot create the demo directory {}: {e} (set TMPDIR to a writable directory)",
                path.display()
            ))
        })?;
        Ok(Self { path, keep })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

pub fn run(a: &DemoArgs) -> Result<ExitCode> {
    if a.frames == 0 || a.size < 3 {
        return Err(Failure::new(
            "the demo needs at least 1 frame of at least 3x3 pixels",
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(a.timeout);
    let dir = TempDir::new(a.keep)?;
    let spec = StreamSpec::new(&[a.size, a.size], Datatype::Float)
        .dir(&dir.path)
        .prefault(true);
    let stream = Stream::create(STREAM, &spec)?;
    let left_ms = || {
        deadline
            .saturating_duration_since(Instant::now())
            .as_millis()
            .to_string()
    };

    let mut readers = Vec::new();
    for i in 1..=a.readers {
        readers.push(Peer::spawn(
            &dir.path,
            &format!("the demo's reader {i}"),
            &[
                "__demo-reader".into(),
                "--name".into(),
                STREAM.into(),
                "--until-frame".into(),
                a.frames.to_string(),
                "--deadline-ms".into(),
                left_ms(),
            ],
        )?);
    }
    let registered_by = Instant::now() + REGISTER_WITHIN;
    while stream.registered_readers().len() < usize::from(a.readers) {
        if let Some(i) = readers.iter_mut().position(Peer::exited) {
            let r = readers.swap_remove(i);
            let role = r.role().to_owned();
            return Err(r.collect::<ReadReport>().err().unwrap_or_else(|| {
                Failure::new(format!("the demo's {role} exited before registering"))
            }));
        }
        if Instant::now() >= registered_by {
            return Err(Failure::new(format!(
                "the demo's readers did not register within {REGISTER_WITHIN:?} in {}",
                dir.path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }

    let mut writer = Peer::spawn(
        &dir.path,
        "the demo's writer",
        &[
            "__demo-writer".into(),
            "--name".into(),
            STREAM.into(),
            "--frames".into(),
            a.frames.to_string(),
            "--rate".into(),
            a.rate.to_string(),
            "--deadline-ms".into(),
            left_ms(),
        ],
    )?;

    let mut progress = Progress::new("shmim demo", a.frames, "frames");
    loop {
        progress.set(stream.cnt0());
        match writer.status() {
            // A failed writer: report it now (the readers are stopped when dropped).
            Some(st) if !st.success() => {
                progress.finish(stream.cnt0());
                return Err(writer
                    .collect::<WriteReport>()
                    .err()
                    .unwrap_or_else(|| Failure::new("the demo's writer failed")));
            }
            Some(_) if readers.iter_mut().all(Peer::exited) => break,
            _ => {}
        }
        if Instant::now() >= deadline {
            progress.finish(stream.cnt0());
            return Err(Failure::new(format!(
                "the demo did not finish within {} s (stopped at frame {} of {}); try fewer --frames or a lower --rate",
                a.timeout,
                stream.cnt0(),
                a.frames
            )));
        }
        std::thread::sleep(POLL);
    }
    progress.finish(stream.cnt0());

    let w: WriteReport = writer.collect()?;
    let mut rs = Vec::new();
    for r in readers {
        rs.push(r.collect::<ReadReport>()?);
    }
    let path = dir.path.clone();
    drop(stream);
    report(a, &w, &mut rs, &path)
}

fn report(a: &DemoArgs, w: &WriteReport, rs: &mut [ReadReport], dir: &Path) -> Result<ExitCode> {
    let frame_bytes = u64::from(a.size) * u64::from(a.size) * 4;
    let rate = w.frames as f64 / w.seconds.max(1e-9);
    let torn: u64 = rs.iter().map(|r| r.torn_accepted).sum();
    let discarded: u64 = rs.iter().map(|r| r.torn_discarded).sum();
    let mut all_wake: Vec<u64> = rs.iter().flat_map(|r| r.wake_ns.iter().copied()).collect();
    let [p50, p99, p999] = percentiles(&mut all_wake);
    let files = if a.keep {
        format!("{} (kept)", dir.display())
    } else {
        format!("{} (removed; --keep keeps them)", dir.display())
    };

    if a.json {
        let readers: Vec<_> = rs
            .iter_mut()
            .map(|r| {
                let [p50, p99, _] = percentiles(&mut r.wake_ns);
                json!({"frames": r.frames, "verified": r.verified, "missed": r.missed,
                       "torn_accepted": r.torn_accepted, "torn_discarded": r.torn_discarded,
                       "failed_reads": r.failed_reads, "wake_p50_ns": p50, "wake_p99_ns": p99,
                       "wake_samples": r.wake_ns.len()})
            })
            .collect();
        let doc = json!({
            "frames": w.frames, "seconds": w.seconds, "rate_hz": rate,
            "frame_bytes": frame_bytes, "torn_accepted": torn, "torn_discarded": discarded,
            "wake_p50_ns": p50, "wake_p99_ns": p99, "wake_p999_ns": p999,
            "wake_samples": all_wake.len(), "readers": readers,
            "dir": dir.display().to_string(), "kept": a.keep,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!(
            "shmim demo: {} frames of {}x{} f32 ({} each), 1 writer process -> {} reader processes",
            w.frames,
            a.size,
            a.size,
            bytes_text(frame_bytes),
            rs.len()
        );
        println!(
            "  writer     {} frames in {:.2} s: {} ({}/s)",
            w.frames,
            w.seconds,
            hz_text(rate),
            bytes_text((rate * frame_bytes as f64) as u64)
        );
        for (i, r) in rs.iter_mut().enumerate() {
            let [p50, p99, _] = percentiles(&mut r.wake_ns);
            println!(
                "  reader {}   {} frames verified, {} missed, {} torn accepted, {} torn copies discarded; wake p50 {} p99 {}",
                i + 1,
                r.verified,
                r.missed,
                r.torn_accepted,
                r.torn_discarded,
                ns_text(p50 as f64),
                ns_text(p99 as f64)
            );
        }
        println!(
            "  torn frames accepted: {torn} (every accepted frame's checksum and number verified)"
        );
        println!(
            "  torn copies discarded: {discarded} (copies a reader threw away because the writer was mid-frame)"
        );
        println!(
            "  wake latency, publish -> reader awake on its semaphore: p50 {} p99 {} p99.9 {} ({} samples)",
            ns_text(p50 as f64),
            ns_text(p99 as f64),
            ns_text(p999 as f64),
            all_wake.len()
        );
        println!("  files: {files}");
    }
    if torn > 0 {
        return Err(Failure::new(format!("{torn} torn frames were accepted")));
    }
    Ok(ExitCode::SUCCESS)
}
