//! `reader.frames(timeout)`: an iterator over new frames.

use std::time::Duration;

use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;

use crate::reader::PyReader;

/// Yields a consistent copy of each new frame; ends when none comes within the timeout.
#[pyclass(module = "shmim")]
pub struct Frames {
    reader: Py<PyReader>,
    timeout: Option<Duration>,
    out: Option<Py<PyAny>>,
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
        }
    }
}

#[pymethods]
impl Frames {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut reader = self.reader.bind(py).try_borrow_mut()?;
        match reader.wait_for(py, self.timeout) {
            Ok(_) => {}
            Err(e) if e.is_instance_of::<PyTimeoutError>(py) => return Ok(None),
            Err(e) => return Err(e),
        }
        let out = self.out.as_ref().map(|o| o.bind(py));
        Ok(Some(reader.read_into(py, out)?.into_any()))
    }
}
