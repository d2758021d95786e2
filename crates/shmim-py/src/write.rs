//! `shmim.Write`: the context manager of `with stream.write() as a:`.
//!
//! The core API's `WriteGuard` borrows the stream until it commits; a Python `with` block spans
//! several calls, so the guard cannot live across it. The block uses the protocol's own abandon
//! rule instead (protocol.md, "Writing a frame", rule 4): entering takes the write flag and drops
//! the guard uncommitted, which leaves the flag set and makes the `Stream` remember that it owns
//! it; leaving the block normally takes the flag again through that ownership (no other writer
//! can have taken it meanwhile) and commits. An exception leaves it abandoned, exactly as a
//! dropped guard in Rust. Between the two, the file is in the same state as under a live guard:
//! `write == 1`, owned by this process, nothing posted.

use numpy::PyUntypedArray;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use shmim_core::{Timespec, WriteGuard};

use crate::errors::{IntoPyResult, WriterBusyError};
use crate::stream::{PyStream, closed_during_write};

/// Commits `guard` with the optional acquisition time and `cnt1`; returns the frame number.
pub fn finish(
    mut guard: WriteGuard<'_>,
    atime: Option<Timespec>,
    cnt1: Option<u64>,
) -> shmim_core::Result<u64> {
    if let Some(t) = atime {
        guard.set_atime(t);
    }
    if let Some(c) = cnt1 {
        guard.set_cnt1(c);
    }
    guard.commit()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Open,
    Published(u64),
    Abandoned,
}

/// Writes one frame in place: `with stream.write() as a:` (see `Stream.write`).
#[pyclass(name = "Write", module = "shmim")]
pub struct PyWrite {
    stream: Py<PyStream>,
    atime: Option<Timespec>,
    cnt1: Option<u64>,
    state: State,
}

impl PyWrite {
    pub(crate) fn new(
        stream: &Bound<'_, PyStream>,
        atime: Option<Timespec>,
        cnt1: Option<u64>,
    ) -> PyResult<Self> {
        Ok(Self {
            stream: stream.clone().unbind(),
            atime,
            cnt1,
            state: State::Ready,
        })
    }
}

#[pymethods]
impl PyWrite {
    /// Takes the write flag; returns a writable array of the live pixels.
    fn __enter__<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyUntypedArray>> {
        if self.state != State::Ready {
            return Err(PyValueError::new_err(
                "a Write context is used once: call stream.write() again",
            ));
        }
        let mut s = self.stream.bind(py).try_borrow_mut()?;
        if s.writing {
            return Err(WriterBusyError::new_err(
                "this stream already has a `with stream.write()` block open",
            ));
        }
        let stream = s.inner.get_mut()?;
        // Take the flag, then leave it held (the guard's drop is an abandon; module docs).
        drop(stream.write().py()?);
        let live = stream.live_pixels().py()?;
        let name = stream.name().to_owned();
        s.writing = true;
        self.state = State::Open;
        crate::pixels::array_over(s.frame.descr.bind(py), &s.frame.shape, live, &name, true)
    }

    /// Publishes the frame if the block ended normally; leaves it abandoned on an exception.
    #[pyo3(signature = (exc_type, _exc_value=None, _traceback=None))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if self.state != State::Open {
            return Ok(false);
        }
        let mut s = self.stream.bind(py).try_borrow_mut()?;
        s.writing = false;
        if exc_type.is_some_and(|t| !t.is_none()) {
            self.state = State::Abandoned;
            return Ok(false);
        }
        let stream = s.inner.get_mut().map_err(|_| closed_during_write())?;
        let (atime, cnt1) = (self.atime, self.cnt1);
        let frame = py.detach(|| finish(stream.write()?, atime, cnt1)).py()?;
        self.state = State::Published(frame);
        Ok(false)
    }

    /// The frame number published by the block (`None` before it ends, or if abandoned).
    #[getter]
    fn frame(&self) -> Option<u64> {
        match self.state {
            State::Published(f) => Some(f),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        let state = match self.state {
            State::Ready => "ready".to_owned(),
            State::Open => "open".to_owned(),
            State::Published(f) => format!("published frame {f}"),
            State::Abandoned => "abandoned".to_owned(),
        };
        format!("<shmim.Write {state}>")
    }
}
