//! The Rust baseline of the Python benchmark (`cargo xtask bench python`): the same consistent
//! read the Python methods make, timed in a Rust loop in the same process, on the same mapping,
//! into the same destination array, so the only difference left is the Python call.

use std::time::Instant;

use pyo3::prelude::*;

use crate::errors::IntoPyResult;
use crate::stream::PyStream;

/// Nanoseconds per `Stream::read_bytes_into` of one frame into `out` (an array of one frame),
/// averaged over `iterations` reads made in one Rust loop with the GIL released.
#[pyfunction]
pub fn _rust_read_into_ns(
    py: Python<'_>,
    stream: &PyStream,
    out: &Bound<'_, PyAny>,
    iterations: u32,
) -> PyResult<f64> {
    let mut dest = stream.frame().destination(py, Some(out))?;
    let buf = dest.bytes();
    let total_ns = stream.with_stream(py, |s| {
        let start = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(s.read_bytes_into(std::hint::black_box(&mut *buf)).py()?);
        }
        Ok(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX))
    })?;
    Ok(total_ns as f64 / f64::from(iterations.max(1)))
}

/// Wake latencies (ns) of a Rust reader loop running inside this (Python) process: register a
/// reader on `stream`, then for `frames` frames of a checksum writer (`shmim write --pattern
/// checksum`), wait, read the monotonic clock, copy the frame and subtract the publish stamp the
/// writer put in it. Telling this apart from the Python reader's figure separates what the binding
/// costs from what waking this process costs.
#[pyfunction]
pub fn _rust_wake_ns(py: Python<'_>, stream: &PyStream, frames: u32) -> PyResult<Vec<u64>> {
    const MAGIC: u64 = u64::from_le_bytes(*b"shmimCK1");
    let (mut reader, bytes) =
        stream.with_stream(py, |s| Ok((s.reader().py()?, s.geometry().frame_bytes())))?;
    let mut buf = vec![0u8; bytes];
    py.detach(|| {
        let mut lat = Vec::with_capacity(frames as usize);
        for _ in 0..frames {
            let woke = reader.wait_timeout(std::time::Duration::from_secs(10))?;
            let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
            let t = now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64;
            reader.read_bytes_into(&mut buf)?;
            let word = |at: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&buf[at..at + 8]);
                u64::from_le_bytes(w)
            };
            if word(0) == MAGIC && word(8) == woke && word(16) > 0 && t >= word(16) {
                lat.push(t - word(16));
            }
        }
        Ok(lat)
    })
    .py()
}
