//! The Rust baseline of the Python benchmark (`cargo xtask bench python`): the same consistent
//! read the Python methods make, timed in a Rust loop in the same process, on the same mapping.

use std::time::Instant;

use pyo3::prelude::*;

use crate::errors::IntoPyResult;
use crate::stream::PyStream;

/// Nanoseconds per `Stream::read_into` of one frame, over `iterations` reads into one buffer
/// (the GIL released while it runs).
#[pyfunction]
pub fn _rust_read_into_ns(py: Python<'_>, stream: &PyStream, iterations: u32) -> PyResult<f64> {
    let s = stream.get()?;
    let mut buf = vec![0u64; s.geometry().frame_bytes().div_ceil(8)];
    let len = s.geometry().frame_bytes();
    py.detach(|| {
        let bytes = &mut bytemuck_bytes(&mut buf)[..len];
        let start = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(s.read_bytes_into(std::hint::black_box(&mut *bytes))?);
        }
        Ok(start.elapsed().as_nanos() as f64 / f64::from(iterations.max(1)))
    })
    .py()
}

/// The bytes of a `u64` buffer (8-aligned, as frames are).
fn bytemuck_bytes(words: &mut [u64]) -> &mut [u8] {
    let len = std::mem::size_of_val(words);
    // SAFETY: a `u64` slice is `len` initialised bytes; `u8` has no alignment or validity
    // requirement, and the returned slice borrows `words` mutably for its whole life.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}
