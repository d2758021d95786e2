//! `PixelMemory`: the base object of every array over a stream's live pixels.
//!
//! `stream.view()` and the array of `with stream.write() as a:` point into the mapped file, not
//! into memory numpy owns. Their `base` is a `PixelMemory`, which holds the mapping: the array
//! stays valid after the `Stream` is closed, re-opened or garbage-collected, for as long as the
//! array (or any view of it) lives.

use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray};
use pyo3::prelude::*;
use shmim_core::LivePixels;

/// Keeps a stream's mapping alive for the arrays that view its pixels (their `base`).
#[pyclass(frozen, module = "shmim")]
pub struct PixelMemory {
    live: LivePixels,
    name: String,
}

#[pymethods]
impl PixelMemory {
    /// Bytes of one frame.
    #[getter]
    fn nbytes(&self) -> usize {
        self.live.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "<shmim.PixelMemory of stream {:?}, {} bytes>",
            self.name,
            self.live.len()
        )
    }
}

/// A numpy array of `descr`, `shape` (C order) over the live pixels; its base keeps them mapped.
pub fn array_over<'py>(
    descr: &Bound<'py, PyArrayDescr>,
    shape: &[usize],
    live: LivePixels,
    name: &str,
    writeable: bool,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let py = descr.py();
    let elements: usize = shape.iter().product();
    if elements.checked_mul(descr.itemsize()) != Some(live.len()) {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{shape:?} {descr} elements do not fill the {} bytes of a frame",
            live.len()
        )));
    }
    let data = live.as_ptr();
    let owner = Bound::new(
        py,
        PixelMemory {
            live,
            name: name.to_owned(),
        },
    )?;
    // SAFETY: `data` is the 8-aligned start of one frame, mapped read-write for as long as
    // `owner`'s `LivePixels` lives, and the array covers exactly its bytes (checked above);
    // `owner` becomes the array's base.
    unsafe { crate::array::over(descr, shape, data, writeable, owner.into_any()) }
}
