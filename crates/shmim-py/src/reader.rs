//! `shmim.Reader`: a registered reader, woken by the writer's semaphore post.

use std::sync::Arc;
use std::time::Duration;

use numpy::PyUntypedArray;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use shmim_core::Reader;

use crate::errors::IntoPyResult;
use crate::frame::FrameShape;
use crate::frames::Frames;
use crate::shared::{Setting, Shared, closed};
use crate::wait::{Between, Step, Watch, sliced};

/// What a `Reader` holds, behind its lock.
pub struct ReaderState {
    /// The registration; `None` once closed (the slot is released then).
    reader: Option<Reader>,
}

impl ReaderState {
    /// The reader, unless closed.
    pub(crate) fn reader_mut(&mut self) -> PyResult<&mut Reader> {
        self.reader.as_mut().ok_or_else(|| closed("reader"))
    }

    fn reader(&self) -> PyResult<&Reader> {
        self.reader.as_ref().ok_or_else(|| closed("reader"))
    }
}

/// A reader registered in one of the stream's semaphore slots (`stream.reader()`).
///
/// The writer posts every slot after each frame; `wait()` returns each new frame number at most
/// once (posts that bring no new frame — a backlog of saturated posts — are taken and the wait
/// goes on), and `missed` counts the frames it never saw. Waits release the GIL and let Ctrl-C
/// through within 50 ms; they raise `ReplacedError` when the stream is re-created and
/// `RemovedError` when it is deleted. Threads may share a reader; `close()` from another thread
/// ends a wait in progress within 50 ms (`ValueError`). The slot is released by `close()`, by
/// leaving a `with` block, or when the reader is garbage-collected.
#[pyclass(frozen, name = "Reader", module = "shmim")]
pub struct PyReader {
    pub(crate) state: Shared<ReaderState>,
    pub(crate) frame: Arc<FrameShape>,
    watch: Option<Watch>,
    /// Bound of consistent reads, seconds.
    read_timeout: Setting<f64>,
    /// Frames whose number a `frames()` wait returned but that it did not yield, having copied a
    /// newer one: seen by the core reader, never by the caller, so part of `missed`.
    pub(crate) skipped: Setting<u64>,
}

impl PyReader {
    pub(crate) fn new(
        reader: Reader,
        frame: Arc<FrameShape>,
        watch: Option<Watch>,
        read_timeout: f64,
    ) -> Self {
        Self {
            state: Shared::new(
                ReaderState {
                    reader: Some(reader),
                },
                "reader",
            ),
            frame,
            watch,
            read_timeout: Setting::new(read_timeout),
            skipped: Setting::new(0),
        }
    }

    /// `wait(timeout)` for Rust callers (the frames iterator).
    pub(crate) fn wait_for(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<u64> {
        let between = Between {
            open: self.state.open_flag(),
            watch: self.watch.as_ref(),
        };
        sliced(py, timeout, between, |slice| {
            self.state
                .locked(|s| Step::of_wait(s.reader_mut()?.wait_timeout(slice)))
        })
    }

    /// `read(out)` for Rust callers: the array and the frame number.
    pub(crate) fn read_into<'py>(
        &self,
        py: Python<'py>,
        out: Option<&Bound<'py, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<(Bound<'py, PyUntypedArray>, u64)> {
        let bound = timeout.unwrap_or_else(|| self.read_timeout.get());
        crate::read::frame(py, &self.state, &self.frame, out, bound)
    }

    /// Runs `f` on the open reader (GIL released).
    fn with_reader<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Reader) -> PyResult<R> + Send,
    ) -> PyResult<R> {
        self.state.with(py, |s| f(s.reader_mut()?))
    }
}

#[pymethods]
impl PyReader {
    /// Blocks until the writer publishes a frame this reader has not returned yet (at most
    /// `timeout` seconds; `None`: no limit); returns its frame number. `TimeoutError` when
    /// nothing came.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<u64> {
        self.wait_for(py, crate::time::timeout(timeout)?)
    }

    /// Takes a pending post without blocking: the new frame's number, or `None` if no post
    /// brings one.
    fn try_wait(&self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.with_reader(py, |r| r.try_wait().py())
    }

    /// Drops the pending posts, so the next `wait()` is for a frame published after this call;
    /// returns how many were dropped.
    fn flush(&self, py: Python<'_>) -> PyResult<u32> {
        self.with_reader(py, |r| r.flush().py())
    }

    /// A consistent copy of the current frame (never torn), in `out` or a new array; facing a
    /// writer mid-frame it keeps trying for `timeout` seconds (default: `read_timeout`).
    #[pyo3(signature = (out=None, *, timeout=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        out: Option<&Bound<'py, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyUntypedArray>> {
        self.read_into(py, out, timeout).map(|(arr, _)| arr)
    }

    /// Iterates over new frames: each step waits for the next frame (at most `timeout` seconds)
    /// and yields a consistent copy (into `out`, when given, which is then yielded each time).
    /// Frame numbers strictly increase: a frame is never yielded twice, a slow consumer skips
    /// to the newest (`missed` counts the skipped ones). The loop ends when no frame comes
    /// within `timeout` (`None`: waits for ever).
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
    fn slot(&self, py: Python<'_>) -> PyResult<Option<u16>> {
        self.with_reader(py, |r| Ok(r.slot()))
    }

    /// The frame number this reader last saw (waited for or read).
    #[getter]
    fn last_frame(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_reader(py, |r| Ok(r.last_frame()))
    }

    /// Frames published that this reader never returned: gaps in `cnt0` between the frame
    /// numbers its waits and reads returned, and the frames `frames()` waited for but skipped for
    /// a newer one. With `frames()` alone, frames yielded + `missed` = frames published since
    /// the reader was made.
    #[getter]
    fn missed(&self, py: Python<'_>) -> PyResult<u64> {
        let seen_missed = self.with_reader(py, |r| Ok(r.missed()))?;
        Ok(seen_missed.saturating_add(self.skipped.get()))
    }

    /// Copies thrown away because a writer touched the frame during the copy.
    #[getter]
    fn retries(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_reader(py, |r| Ok(r.retries()))
    }

    /// How long a consistent read keeps trying while a writer is mid-frame (seconds; finite,
    /// >= 0).
    #[getter]
    fn read_timeout(&self) -> f64 {
        self.read_timeout.get()
    }

    #[setter]
    fn set_read_timeout(&self, seconds: f64) -> PyResult<()> {
        crate::time::read_timeout(seconds)?;
        self.read_timeout.set(seconds);
        Ok(())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.state.with(py, |s| s.reader.is_none())
    }

    /// Releases the semaphore slot; a wait of another thread on this reader ends within 50 ms
    /// (`ValueError`).
    fn close(&self, py: Python<'_>) {
        self.state.start_closing();
        self.state.with(py, |s| s.reader = None);
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.state.with(py, |s| match s.reader() {
            Err(_) => "<shmim.Reader (closed)>".to_owned(),
            Ok(r) => format!(
                "<shmim.Reader slot={} last_frame={} missed={}>",
                r.slot().map_or("none".to_owned(), |s| s.to_string()),
                r.last_frame(),
                r.missed()
            ),
        })
    }
}
