//! `reader.frames(timeout)`: an iterator over new frames.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;

use crate::reader::PyReader;

/// Yields a consistent copy of each new frame; ends when none comes within the timeout.
///
/// Each step waits (the reader's wait returns a frame number at most once) and copies the frame
/// current then, which may be newer still: the frame waited for is then skipped, and counted in
/// the reader's `missed`. The iterator also remembers the last frame number it
/// yielded and never yields one that is not greater, whatever else uses the reader meanwhile.
#[pyclass(frozen, module = "shmim")]
pub struct Frames {
    reader: Py<PyReader>,
    timeout: Option<Duration>,
    out: Option<Py<PyAny>>,
    /// The last frame number yielded (0: none yet; frame numbers start at 1).
    last: Mutex<u64>,
}

impl Frames {
    pub(crate) fn new(
        reader: Py<PyReader>,
        timeout: Option<Duration>,
        out: Option<Py<PyAny>>,
    ) -> Self {
        Self {
            reader,
            timeout,
            out,
            last: Mutex::new(0),
        }
    }
}

#[pymethods]
impl Frames {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let reader = self.reader.get();
        loop {
            let waited = match reader.wait_for(py, self.timeout) {
                Ok(n) => n,
                Err(e) if e.is_instance_of::<PyTimeoutError>(py) => return Ok(None),
                Err(e) => return Err(e),
            };
            let out = self.out.as_ref().map(|o| o.bind(py));
            let (frame, number) = reader.read_into(py, out, None)?;
            let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
            if number > *last {
                *last = number;
                if number > waited {
                    // The copy got a newer frame: the one waited for is skipped. The core
                    // reader saw its number (and counts the frames between the two as missed),
                    // the caller never will.
                    reader.skipped.update(|n| *n = n.saturating_add(1));
                }
                return Ok(Some(frame.into_any()));
            }
        }
    }
}
