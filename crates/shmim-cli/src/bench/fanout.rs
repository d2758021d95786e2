//! Scaling: publish cost and wake latency with 1, 2, 4, 8 reader processes blocked on their
//! semaphores (the fan-out of a camera stream).
//!
//! The writer waits until every reader has acknowledged the previous frame and had 200 µs to
//! block again, notes the time (`CLOCK_MONOTONIC`, one clock for every process) on a shared page
//! and publishes; each reader wakes, takes the time, and acknowledges. Publish cost here includes
//! one futex wake-up system call per blocked reader. Nothing is pinned: the writer and N readers
//! share this machine's CPUs, so with more readers than CPUs the later readers wait for a CPU,
//! and the figures say so rather than hide it.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use shmim_core::{Datatype, Stream, StreamSpec};

use super::pingpong::{ACK, ACKS, PUBLISHED_AT, SharedPage};
use super::report::ScalePoint;
use super::{Effort, Figure, Report, Row};
use crate::child::Peer;
use crate::cli::BenchPeerArgs;
use crate::clock::mono_ns;
use crate::failure::{Failure, Result};

const READERS: [u16; 4] = [1, 2, 4, 8];
const WAIT: Duration = Duration::from_secs(10);
/// Time the readers get to block again before the next frame.
const SETTLE: Duration = Duration::from_micros(200);
const FRAME: usize = 16;

#[derive(Debug, Serialize, Deserialize)]
struct Wakes {
    wake_ns: Vec<u64>,
}

pub fn measure(dir: &Path, effort: &Effort, report: &mut Report) -> Result<()> {
    let mut first: Option<(Figure, Figure)> = None;
    for n in READERS {
        let (mut publish, wakes) = run(dir, n, effort.fanout_frames)?;
        // Per frame, the last reader to wake.
        let mut last: Vec<u64> = (0..effort.fanout_frames as usize)
            .map(|k| {
                wakes
                    .iter()
                    .filter_map(|w| w.get(k))
                    .copied()
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut all: Vec<u64> = wakes.into_iter().flatten().collect();
        let (p, w) = (Figure::latency(&mut publish), Figure::latency(&mut all));
        let last = Figure::latency(&mut last);
        let (p1, w1) = *first.get_or_insert((p, w));
        let readers = if n == 1 { "reader" } else { "readers" };
        report.rows.push(Row::new(
            "scaling",
            format!("scaling: publish, {n} blocked {readers}"),
            p,
            "the same, 1 blocked reader",
            p1,
        ));
        report.rows.push(Row::new(
            "scaling",
            format!("scaling: wake, {n} blocked {readers}"),
            w,
            "the same, 1 blocked reader",
            w1,
        ));
        report.scaling.push(ScalePoint {
            readers: n,
            publish: p,
            wake: w,
            last_wake_p50_ns: last.ns,
        });
    }
    Ok(())
}

/// `frames` frames to `n` blocked readers: the publish times, and each reader's wake latencies.
fn run(dir: &Path, n: u16, frames: u64) -> Result<(Vec<u64>, Vec<Vec<u64>>)> {
    assert!(usize::from(n) <= ACKS);
    let spec = StreamSpec::new(&[FRAME as u32], Datatype::Float).dir(dir);
    let mut stream = Stream::create("fanout", &spec)?;
    let path = dir.join("fanout-page");
    let page = SharedPage::create(&path)?;
    let mut peers = Vec::new();
    for i in 0..n {
        let args = [
            "__bench-peer".to_owned(),
            "--mode".into(),
            "fanout".into(),
            "--path".into(),
            path.display().to_string(),
            "--rounds".into(),
            frames.to_string(),
            "--deadline-ms".into(),
            (WAIT.as_millis() as u64 * 2).to_string(),
            "--index".into(),
            i.to_string(),
        ];
        peers.push(Peer::spawn(
            dir,
            &format!("bench fan-out reader {i}"),
            &args,
        )?);
    }
    let lost = |what: &str| Failure::new(format!("bench fan-out with {n} readers: {what}"));
    let ready_by = Instant::now() + WAIT;
    while stream.registered_readers().len() < usize::from(n) {
        if peers.iter_mut().any(Peer::exited) || Instant::now() >= ready_by {
            return Err(lost("a reader did not get ready"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let frame = [0f32; FRAME];
    let mut publish = Vec::with_capacity(frames as usize);
    for k in 0..frames {
        let until = Instant::now() + WAIT;
        while (0..usize::from(n)).any(|i| page.word(ACK + 64 * i).observe() != k) {
            if Instant::now() >= until {
                return Err(lost("a reader stopped acknowledging"));
            }
            std::thread::sleep(Duration::from_micros(20));
        }
        std::thread::sleep(SETTLE);
        // Release: a reader woken by this frame's post sees the time (its wait acquires).
        page.word(PUBLISHED_AT).publish(mono_ns());
        let t = Instant::now();
        stream.write_frame(&frame)?;
        publish.push(t.elapsed().as_nanos() as u64);
    }
    let mut wakes = Vec::new();
    for p in peers {
        wakes.push(p.finish_within::<Wakes>(WAIT)?.wake_ns);
    }
    stream.destroy()?;
    let _ = std::fs::remove_file(&path);
    Ok((publish, wakes))
}

/// A fan-out reader (`--mode fanout --index I`): `rounds` blocking waits, each timed from the
/// writer's note of the publish time; acknowledges every frame.
pub fn peer(a: &BenchPeerArgs) -> Result<ExitCode> {
    let page = SharedPage::open(&a.path)?;
    let dir = a.path.parent().unwrap_or(Path::new("."));
    let stream = Stream::open_in(dir, "fanout")?;
    let mut r = stream.reader()?;
    let ack = page.word(ACK + 64 * usize::from(a.index));
    let mut wakes = Wakes {
        wake_ns: Vec::with_capacity(a.rounds as usize),
    };
    for k in 1..=a.rounds {
        r.wait_timeout(WAIT)?;
        let now = mono_ns();
        wakes
            .wake_ns
            .push(now.saturating_sub(page.word(PUBLISHED_AT).observe()));
        ack.publish(k);
    }
    println!("{}", serde_json::to_string(&wakes).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}
