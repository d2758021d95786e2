//! `shmim.Reader`: a registered reader, woken by the writer's semaphore post.

use std::time::Duration;

use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use shmim_core::Reader;

use crate::errors::IntoPyResult;
use crate::frame::FrameShape;
use crate::frames::Frames;
use crate::handle::Handle;
use crate::stream::PyStream;
use crate::wait::{Watch, sliced};

/// A reader registered in one of the stream's semaphore slots (`stream.reader()`).
///
/// The writer posts every slot after each frame, so `wait()` returns once per new frame (a slow
/// reader may wake for frames already gone: the semaphore saturates at 10; `missed` counts the
/// frames it never saw). Waits release the GIL and let Ctrl-C through within 50 ms; they raise
/// `ReplacedError` when the stream is re-created and `RemovedError` when it is deleted. The slot
/// is released by `close()`, by leaving a `with` block, or when the reader is garbage-collected.
#[pyclass(name = "Reader", module = "shmim")]
pub struct PyReader {
    inner: Handle<Reader>,
    frame: FrameShape,
    watch: Option<Watch>,
    read_timeout: f64,
}

impl PyReader {
    pub(crate) fn register(py: Python<'_>, stream: &PyStream, slot: Option<u16>) -> PyResult<Self> {
        let s = stream.get()?;
        let watch = Watch::of(s)?;
        let reader = match slot {
            Some(i) => s.reader_at(i),
            None => s.reader(),
        }
        .py()?;
        Ok(Self {
            inner: Handle::new(reader, "reader"),
            frame: FrameShape {
                descr: stream.frame.descr.clone_ref(py),
                shape: stream.frame.shape.clone(),
                bytes: stream.frame.bytes,
                pixels: stream.frame.pixels.clone(),
            },
            watch,
            read_timeout: stream.read_timeout,
        })
    }

    /// `wait(timeout)` for Rust callers (the frames iterator).
    pub(crate) fn wait_for(&mut self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<u64> {
        let Self { inner, watch, .. } = self;
        let reader = inner.get_mut()?;
        sliced(py, timeout, watch.as_ref(), |slice| {
            reader.wait_timeout(slice)
        })
    }

    /// `read(out)` for Rust callers.
    pub(crate) fn read_into<'py>(
        &mut self,
        py: Python<'py>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyUntypedArray>> {
        let Self { inner, frame, .. } = self;
        let reader = inner.get_mut()?;
        let (arr, _) = frame.copy_out(py, out, |buf| reader.read_bytes_into(buf))?;
        Ok(arr)
    }
}

#[pymethods]
impl PyReader {
    /// Blocks until the writer publishes a frame (at most `timeout` seconds; `None`: no limit);
    /// returns the frame number current then. `TimeoutError` when nothing came.
    #[pyo3(signature = (timeout=None))]
    fn wait(&mut self, py: Python<'_>, timeout: Option<f64>) -> PyResult<u64> {
        let t = crate::time::timeout(timeout)?;
        self.wait_for(py, t)
    }

    /// Takes a pending post without blocking: the frame number, or `None` if nothing is pending.
    fn try_wait(&mut self) -> PyResult<Option<u64>> {
        self.inner.get_mut()?.try_wait().py()
    }

    /// Drops the pending posts, so the next `wait()` is for a frame published after this call;
    /// returns how many were dropped.
    fn flush(&self) -> PyResult<u32> {
        self.inner.get()?.flush().py()
    }

    /// A consistent copy of the current frame (never torn), in `out` or a new array.
    #[pyo3(signature = (out=None))]
    fn read<'py>(
        &mut self,
        py: Python<'py>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyUntypedArray>> {
        self.read_into(py, out)
    }

    /// Iterates over new frames: each step waits for the next frame (at most `timeout` seconds)
    /// and yields a consistent copy (into `out`, when given, which is then yielded each time).
    /// The loop ends when no frame comes within `timeout` (`None`: waits for ever).
    #[pyo3(signature = (timeout=None, *, out=None))]
    fn frames(
        slf: &Bound<'_, Self>,
        timeout: Option<f64>,
        out: Option<Py<PyAny>>,
    ) -> PyResult<Frames> {
        Ok(Frames::new(
            slf.clone().unbind(),
            crate::time::timeout(timeout)?,
            out,
        ))
    }

    /// The semaphore slot this reader holds.
    #[getter]
    fn slot(&self) -> PyResult<Option<u16>> {
        Ok(self.inner.get()?.slot())
    }

    /// The frame number this reader last saw.
    #[getter]
    fn last_frame(&self) -> PyResult<u64> {
        Ok(self.inner.get()?.last_frame())
    }

    /// Frames published that this reader never saw (gaps in `cnt0`).
    #[getter]
    fn missed(&self) -> PyResult<u64> {
        Ok(self.inner.get()?.missed())
    }

    /// Copies thrown away because a writer touched the frame during the copy.
    #[getter]
    fn retries(&self) -> PyResult<u64> {
        Ok(self.inner.get()?.retries())
    }

    /// How long a consistent read keeps trying while a writer is mid-frame (seconds).
    #[getter]
    fn read_timeout(&self) -> f64 {
        self.read_timeout
    }

    #[setter]
    fn set_read_timeout(&mut self, seconds: f64) -> PyResult<()> {
        let t = crate::time::read_timeout(seconds)?;
        self.inner.get_mut()?.set_read_timeout(t);
        self.read_timeout = seconds;
        Ok(())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Releases the semaphore slot.
    fn close(&mut self) {
        self.inner.close();
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close();
        false
    }

    fn __repr__(&self) -> String {
        match self.inner.as_ref() {
            None => "<shmim.Reader (closed)>".to_owned(),
            Some(r) => format!(
                "<shmim.Reader slot={} last_frame={} missed={}>",
                r.slot().map_or("none".to_owned(), |s| s.to_string()),
                r.last_frame(),
                r.missed()
            ),
        }
    }
}
