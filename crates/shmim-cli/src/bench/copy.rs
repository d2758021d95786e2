//! Frame costs: writer cycle and consistent read against memcpy of the same bytes.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use shmim_core::{Datatype, Stream, StreamSpec};

use super::{Effort, Figure, Row};
use crate::failure::{Failure, Result};
use crate::stats::bytes_text;

/// Frame sides measured (f32 frames of side² pixels).
const SIDES: [u32; 3] = [64, 512, 2048];
const PAGE: usize = 4096;
/// Bytes each batch moves, so a batch lasts long enough to time and short enough to interleave.
const BATCH_BYTES: usize = 8 << 20;

/// Per-operation time of each closure in ns: `rounds` rounds, each running every closure `batch`
/// times in turn (interleaved, so drifts in clock speed or load hit all of them alike); the
/// median over rounds.
pub fn per_op_ns<const N: usize>(
    rounds: usize,
    batch: u64,
    mut ops: [&mut dyn FnMut(); N],
) -> [f64; N] {
    let mut samples = vec![Vec::with_capacity(rounds); N];
    // One warm-up round (page faults, caches, branch predictors), not recorded.
    for op in ops.iter_mut() {
        for _ in 0..batch {
            op();
        }
    }
    for _ in 0..rounds {
        for (op, s) in ops.iter_mut().zip(samples.iter_mut()) {
            let t = Instant::now();
            for _ in 0..batch {
                op();
            }
            s.push(t.elapsed().as_nanos() as f64 / batch as f64);
        }
    }
    let mut out = [0.0; N];
    for (o, s) in out.iter_mut().zip(samples.iter_mut()) {
        s.sort_by(f64::total_cmp);
        *o = s.get(s.len() / 2).copied().unwrap_or(0.0);
    }
    out
}

pub fn rows(dir: &Path, effort: &Effort) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for side in SIDES {
        let n = (side * side) as usize;
        let bytes = n * 4;
        let batch = (BATCH_BYTES / bytes).max(1) as u64;
        let label = format!("{side}² f32 ({})", bytes_text(bytes as u64));
        let spec = StreamSpec::new(&[side, side], Datatype::Float)
            .dir(dir)
            .prefault(true);
        let mut stream = Stream::create(&format!("bench{side}"), &spec)?;
        let src: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let mut out = vec![0f32; n];
        // The memcpy baselines copy between the same two addresses modulo a page as shmim does
        // (the pixels sit at a fixed offset in a page-aligned mapping): memcpy speed depends on
        // the relative alignment of source and destination (4 KiB aliasing), and a baseline with
        // a luckier or unluckier alignment than the real copy would skew the ratio.
        let at = stream.geometry().regions.data.offset as usize % PAGE;
        let mut like_shm_store = vec![0f32; n + PAGE / 4];
        let like_shm = page_offset_slice(&mut like_shm_store, at, n);
        let mut like_out_store = vec![0f32; n + PAGE / 4];
        let like_out = page_offset_slice(&mut like_out_store, out.as_ptr() as usize % PAGE, n);
        let mut errors = 0u64;

        let [memcpy, write] = per_op_ns(
            effort.rounds,
            batch,
            [
                &mut || {
                    like_shm.copy_from_slice(black_box(&src));
                    black_box(&mut *like_shm);
                },
                &mut || {
                    if stream.write_frame(black_box(&src)).is_err() {
                        errors += 1;
                    }
                },
            ],
        );
        let mut reader = stream.poller();
        let [memcpy2, read] = per_op_ns(
            effort.rounds,
            batch,
            [
                &mut || {
                    like_out.copy_from_slice(black_box(&*like_shm));
                    black_box(&mut *like_out);
                },
                &mut || {
                    if reader.read_into(black_box(&mut out)).is_err() {
                        errors += 1;
                    }
                },
            ],
        );
        if errors > 0 || out != src {
            return Err(Failure::new(format!(
                "bench: {errors} failed frame operations on {side}² frames in {}",
                dir.display()
            )));
        }
        let fig = |ns| Figure { ns, p99: None };
        rows.push(Row::new(
            format!("writer cycle {label}"),
            fig(write),
            "memcpy",
            fig(memcpy),
        ));
        rows.push(Row::new(
            format!("consistent read {label}"),
            fig(read),
            "memcpy",
            fig(memcpy2),
        ));
        drop(reader);
        stream.destroy()?;
    }
    Ok(rows)
}

/// `n` elements of `store` starting at an address that is `at` bytes past a page boundary.
fn page_offset_slice(store: &mut [f32], at: usize, n: usize) -> &mut [f32] {
    let addr = store.as_ptr() as usize;
    let skip_bytes = (at + PAGE - addr % PAGE) % PAGE;
    let skip = skip_bytes / 4;
    &mut store[skip..skip + n]
}
