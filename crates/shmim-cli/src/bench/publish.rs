//! Publishing a frame with no pixels to copy: the fixed cost of every frame, against what the
//! same work costs with bare system primitives.
//!
//! shmim: `stream.write()` + `guard.commit()` on a stream with the default 10 semaphores (take
//! the flag, times, `cnt0`, clear the flag, post 10 semaphores + the log semaphore). Baseline: one
//! `clock_gettime` and 10 glibc `sem_post`s on process-shared semaphores, the system-call-free
//! part of the legacy `UpdateIm` (which also calls `getpid()` per semaphore, about 1.2 µs in all
//! on this machine class: issue 11).
//!
//! Two cases of "no reader blocked":
//! * no reader at all: the stream's semaphores sit at `SEMAPHORE_MAXVAL` after ten frames, so
//!   its posts take the saturated path (a load, no compare-and-swap);
//! * N registered readers keeping up (N = 10 here, and 1, 2, 4, 8 as scaling rows; registered in
//!   this process, their semaphores drained between batches of 9 frames, outside the timing): N
//!   posts are a compare-and-swap each. The baseline's semaphores are drained the same way.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use rustix::time::{ClockId, clock_gettime};
use shmim_core::{Datatype, Reader, Stream, StreamSpec};

use super::copy::per_op_ns;
use super::pingpong::{SEM_ROW, SEM_ROW_LEN, SharedPage};
use super::{Effort, Figure, Report, Row};
use crate::failure::{Failure, Result};

/// The legacy `UpdateIm` on this machine class (issue 11).
const LEGACY_NS: f64 = 1_200.0;
/// Issue 11: publish ≤ 150 ns and ≥ 8× faster than the legacy figure.
const TARGET_NS: f64 = 150.0;
const TARGET_SPEEDUP: f64 = 8.0;
/// Frames per timed batch when semaphores must stay below `SEMAPHORE_MAXVAL` (10).
const UNSATURATED_BATCH: u64 = 9;

pub fn measure(dir: &Path, effort: &Effort, report: &mut Report) -> Result<()> {
    let spec = StreamSpec::new(&[16], Datatype::Float).dir(dir);
    let mut stream = Stream::create("publish", &spec)?;
    let path = dir.join("publish-baseline");
    let page = SharedPage::create(&path)?;
    let mut errors = 0u64;
    let mut publish = |stream: &mut Stream| match stream.write() {
        Ok(g) => {
            if g.commit().is_err() {
                errors += 1;
            }
        }
        Err(_) => errors += 1,
    };
    let bare = |page: &SharedPage| {
        black_box(clock_gettime(ClockId::Tai));
        for i in 0..SEM_ROW_LEN {
            page.glibc_post(SEM_ROW + 64 * i);
        }
    };
    let [shmim, base] = per_op_ns(
        effort.rounds,
        2_000,
        [&mut || publish(&mut stream), &mut || bare(&page)],
    );
    let speedup = LEGACY_NS / shmim;
    report.rows.push(
        Row::new(
            "publish",
            "publish: guard + commit, 10 sems, no reader".into(),
            Figure::ns(shmim),
            "clock_gettime + 10 sem_post",
            Figure::ns(base),
        )
        .target(
            format!("≤ {TARGET_NS:.0} ns, ≥ {TARGET_SPEEDUP:.0}× legacy 1.2 µs ({speedup:.0}×)"),
            shmim <= TARGET_NS && speedup >= TARGET_SPEEDUP,
        ),
    );

    // Registered readers that keep up: their posts are compare-and-swaps.
    let mut readers: Vec<Reader> = Vec::new();
    for n in [1usize, 2, 4, 8, 10] {
        while readers.len() < n {
            readers.push(stream.reader()?);
        }
        let drain_base = || {
            for i in 0..SEM_ROW_LEN {
                page.sem(SEM_ROW + 64 * i).flush();
            }
        };
        let [shmim, base] = batched_ns(
            effort.rounds,
            UNSATURATED_BATCH,
            [
                (&mut || publish(&mut stream), &mut || {
                    for r in &readers {
                        let _ = r.flush();
                    }
                }),
                (&mut || bare(&page), &drain_base),
            ],
        );
        let row = |section, what: String| {
            Row::new(
                section,
                what,
                Figure::ns(shmim),
                "clock_gettime + 10 sem_post",
                Figure::ns(base),
            )
        };
        report.rows.push(if n == 10 {
            row(
                "publish",
                "publish: 10 readers keeping up (10 CAS posts)".into(),
            )
            .target(format!("≤ {TARGET_NS:.0} ns"), shmim <= TARGET_NS)
        } else {
            let readers = if n == 1 { "reader" } else { "readers" };
            row(
                "scaling",
                format!("scaling: publish, {n} {readers} keeping up"),
            )
        });
    }
    drop(readers);
    if errors > 0 {
        return Err(Failure::new(format!(
            "bench: {errors} failed publishes in {}",
            dir.display()
        )));
    }
    stream.destroy()?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// An operation, and the reset it needs before each timed batch.
type WithReset<'a> = (&'a mut dyn FnMut(), &'a dyn Fn());

/// Like [`per_op_ns`], for operations that need a reset between batches (outside the timing):
/// `rounds` rounds of one batch per operation, interleaved; the median per-operation time.
fn batched_ns<const N: usize>(rounds: usize, batch: u64, mut ops: [WithReset<'_>; N]) -> [f64; N] {
    let mut samples = vec![Vec::with_capacity(rounds * 16); N];
    // Short batches are timed many times per round, so the median sees enough of them.
    let repeats = 16;
    for round in 0..=rounds {
        for ((op, reset), s) in ops.iter_mut().zip(samples.iter_mut()) {
            for _ in 0..repeats {
                reset();
                let t = Instant::now();
                for _ in 0..batch {
                    op();
                }
                // Round 0 warms up and is not recorded.
                if round > 0 {
                    s.push(t.elapsed().as_nanos() as f64 / batch as f64);
                }
            }
        }
    }
    let mut out = [0.0; N];
    for (o, s) in out.iter_mut().zip(samples.iter_mut()) {
        s.sort_by(f64::total_cmp);
        *o = s.get(s.len() / 2).copied().unwrap_or(0.0);
    }
    out
}
