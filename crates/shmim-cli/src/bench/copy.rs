//! Frame costs: writer cycle and consistent read against memcpy of the same bytes, 64² to 4096².

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use shmim_core::{Datatype, Stream, StreamSpec};

use super::report::SizePoint;
use super::{Effort, Figure, Report, Row};
use crate::failure::{Failure, Result};
use crate::stats::bytes_text;

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

/// Issue 11: a 64² writer cycle costs at most memcpy + 150 ns; larger frames stay within 5%
/// (writer) and 10% (consistent read) of memcpy.
const SMALL_OVERHEAD_NS: f64 = 150.0;
const LARGE_WRITE: f64 = 1.05;
const LARGE_READ: f64 = 1.10;

pub fn measure(dir: &Path, effort: &Effort, report: &mut Report) -> Result<()> {
    for &side in effort.sides {
        let p = frame_costs(dir, side, effort, false)?;
        let label = format!("{side}² f32 ({})", bytes_text(p.bytes));
        let write = Row::new(
            "frames",
            format!("writer cycle {label}"),
            Figure::ns(p.writer_cycle_ns),
            "memcpy",
            Figure::ns(p.memcpy_in_ns),
        );
        let read = Row::new(
            "frames",
            format!("consistent read {label}, {} retries", p.read_retries),
            Figure::ns(p.consistent_read_ns),
            "memcpy",
            Figure::ns(p.memcpy_out_ns),
        );
        let (write, read) = match side {
            64 => {
                let over = p.writer_cycle_ns - p.memcpy_in_ns;
                (
                    write.target(
                        format!("≤ memcpy + {SMALL_OVERHEAD_NS:.0} ns (+{over:.0} ns)"),
                        over <= SMALL_OVERHEAD_NS,
                    ),
                    read,
                )
            }
            512 | 2048 => (
                write.ratio_at_most(LARGE_WRITE),
                read.ratio_at_most(LARGE_READ),
            ),
            _ => (write, read),
        };
        report.rows.push(write);
        report.rows.push(read);
        report.sizes.push(p);
    }
    Ok(())
}

/// Writer cycle and consistent read of `side`² f32 frames against memcpy, in a stream created in
/// `dir` (prefaulted; `huge`: the caller checks the mapping for huge pages). The single-process
/// read has no concurrent writer, so its retries are expected to be 0; they are counted anyway.
pub fn frame_costs(dir: &Path, side: u32, effort: &Effort, huge: bool) -> Result<SizePoint> {
    let n = (side * side) as usize;
    let bytes = n * 4;
    let batch = (BATCH_BYTES / bytes).max(1) as u64;
    let spec = StreamSpec::new(&[side, side], Datatype::Float)
        .dir(dir)
        .prefault(true);
    let name = format!("bench{side}");
    let mut stream = Stream::create(&name, &spec)?;
    let pmd_mapped_bytes = huge.then(|| super::huge::pmd_mapped(dir, &name));
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
    let mut reads = 0u64;
    let [memcpy2, read] = per_op_ns(
        effort.rounds,
        batch,
        [
            &mut || {
                like_out.copy_from_slice(black_box(&*like_shm));
                black_box(&mut *like_out);
            },
            &mut || {
                reads += 1;
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
    let retries = reader.retries();
    drop(reader);
    stream.destroy()?;
    Ok(SizePoint {
        side,
        bytes: bytes as u64,
        memcpy_in_ns: memcpy,
        writer_cycle_ns: write,
        memcpy_out_ns: memcpy2,
        consistent_read_ns: read,
        read_retries: retries,
        reads,
        pmd_mapped_bytes,
    })
}

/// `n` elements of `store` starting at an address that is `at` bytes past a page boundary.
fn page_offset_slice(store: &mut [f32], at: usize, n: usize) -> &mut [f32] {
    let addr = store.as_ptr() as usize;
    let skip_bytes = (at + PAGE - addr % PAGE) % PAGE;
    let skip = skip_bytes / 4;
    &mut store[skip..skip + n]
}
