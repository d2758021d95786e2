//! `shmim._native`: the extension module behind the `shmim` Python package.
//!
//! One module per Python class: `stream` (`Stream`), `write` (`Write`, the context of
//! `with stream.write() as a:`, and writing in general), `reader` (`Reader`), `frames`
//! (`reader.frames()`), `metadata` (`Metadata`), `pixels` (`PixelMemory`, the base of views);
//! `errors` maps `shmim_core::Error` to Python exceptions. The classes are `frozen` and share
//! their state between threads through `shared` (a lock only ever taken with the GIL released,
//! and a closing flag); every blocking call is sliced by `wait` (Ctrl-C, `close()` from another
//! thread, replaced streams), consistent reads included (`read`). `semaphores` holds the legacy
//! semaphore calls of the compat layer. The pure-Python part of the package (`python/shmim/`)
//! adds the keyword mapping and `shmim.compat` (pyMilk's `SHM`).
//!
//! Everything here goes through `shmim-core`'s safe API: frames are published by its commit
//! (pixels → times → `cnt0` → `write = 0` → semaphores) and read by its consistent copy. The only
//! unsafe code is at the numpy boundary (`array`, `frame`, `pixels`): building arrays over memory and
//! handing numpy's buffers to those copies.

mod array;
mod bench;
mod dtype;
mod errors;
mod frame;
mod frames;
mod keywords;
mod metadata;
mod pixels;
mod read;
mod reader;
mod semaphores;
mod shared;
mod stream;
mod time;
mod wait;
mod write;

use pyo3::prelude::*;

/// ImageStreamIO shared-memory image streams as numpy arrays (native part of `shmim`).
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<stream::PyStream>()?;
    m.add_class::<write::PyWrite>()?;
    m.add_class::<reader::PyReader>()?;
    m.add_class::<frames::Frames>()?;
    m.add_class::<metadata::Metadata>()?;
    m.add_class::<pixels::PixelMemory>()?;
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(bench::_rust_read_into_ns, m)?)?;
    m.add_function(wrap_pyfunction!(bench::_rust_wake_ns, m)?)?;
    m.add("WAIT_SLICE_SECONDS", wait::SLICE.as_secs_f64())?;
    Ok(())
}
