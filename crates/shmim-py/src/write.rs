//! Writing frames from Python: `write_frame`, `repost`, and `shmim.Write`, the context manager
//! of `with stream.write() as a:` (and of `with stream.recover() as a:`).
//!
//! The core API's `WriteGuard` borrows the stream until it commits; a Python `with` block spans
//! several calls, so the guard cannot live across it. Entering the block takes the flag and sets
//! the guard aside with `WriteGuard::hold`: the flag stays set and claimed exactly as under the
//! live guard, and the returned `HeldWrite` — kept in the `Stream`'s state — is the only way back
//! to it, so no other handle, even of this process, can write meanwhile (`WriterBusyError`). The
//! block (`stream::Block`) records the thread that entered it: that thread is inside it and cannot
//! read; other threads sharing the handle see a writer mid-frame (reads wait, `read.rs`; writes
//! are refused). A block is ended only by its own `Write` (its `id`), which notifies the waiting
//! reads. A `Write` collected while open abandons its block (`Drop`).
//! Leaving the block normally resumes that `HeldWrite` on the same handle and commits. An
//! exception (or closing the stream inside the block) drops it instead: an abandon, as a dropped
//! guard in Rust — readers see a stuck writer, and the next write of this process resumes the
//! flag and publishes a whole frame. Between the two, the file is in the same state as under a
//! live guard: `write == 1`, claimed by this process, nothing posted.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use numpy::PyUntypedArray;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use shmim_core::{Error, Stream, Timespec, WriteGuard};

use crate::errors::{IntoPyResult, StreamError, WriterBusyError, to_py};
use crate::stream::{Block, BlockState, PyStream};

/// Commits `guard` with the optional acquisition time and `cnt1`; returns the frame number.
fn finish(
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

/// The error for a refused write flag. A flag whose claimant is known dead says so, and how to
/// take it over, rather than only naming the PID.
fn refused(stream: &Stream, e: Error) -> PyErr {
    if let Error::WriterBusy { .. } = e {
        if let Err(Error::WriterDied { writer }) = stream.busy_wait_for_no_write(Duration::ZERO) {
            return WriterBusyError::new_err(format!(
                "{e}: PID {writer} no longer runs, its frame was left half written; \
                 `with stream.recover() as a:` takes the flag over"
            ));
        }
    }
    to_py(e)
}

/// `Stream.write_frame`.
pub fn write_frame(
    stream: &PyStream,
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    atime: Option<&Bound<'_, PyAny>>,
    cnt1: Option<u64>,
) -> PyResult<u64> {
    let atime = atime.map(crate::time::timespec).transpose()?;
    let source = stream.frame().source(data)?;
    let bytes = source.bytes();
    stream.state.with(py, |s| {
        s.not_writing("write_frame")?;
        let st = s.stream_mut()?;
        let refusal = match st.write() {
            Ok(mut guard) => {
                guard.copy_from_bytes(bytes).py()?;
                return finish(guard, atime, cnt1).py();
            }
            Err(e) => e,
        };
        Err(refused(st, refusal))
    })
}

/// `Stream.repost`: the current pixels again as a new frame.
pub fn repost(
    stream: &PyStream,
    py: Python<'_>,
    atime: Option<&Bound<'_, PyAny>>,
) -> PyResult<u64> {
    let atime = atime.map(crate::time::timespec).transpose()?;
    stream.state.with(py, |s| {
        s.not_writing("repost")?;
        let st = s.stream_mut()?;
        let refusal = match st.write() {
            Ok(guard) => return finish(guard, atime, None).py(),
            Err(e) => e,
        };
        Err(refused(st, refusal))
    })
}

/// How a write block takes the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// `stream.write()`: a clear flag, or this process's abandoned one.
    Write,
    /// `stream.recover(force)`: also a dead writer's (any writer's, with `force`).
    Recover {
        /// Whatever holds it.
        force: bool,
    },
}

impl Take {
    /// The flag of `stream`, taken this way.
    fn take(self, stream: &mut Stream) -> shmim_core::Result<WriteGuard<'_>> {
        match self {
            Self::Write => stream.write(),
            Self::Recover { force } => stream.recover_writer(force),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Open,
    Published(u64),
    Abandoned,
}

/// Writes one frame in place: `with stream.write() as a:` (see `Stream.write`).
#[pyclass(frozen, name = "Write", module = "shmim")]
pub struct PyWrite {
    stream: Py<PyStream>,
    take: Take,
    atime: Option<Timespec>,
    cnt1: Option<u64>,
    state: Mutex<State>,
    /// The writer whose flag `recover()` took over (its claim PID), once entered.
    took_over: Mutex<Option<i32>>,
    /// Tells this context's block from another's in the stream's state (`Block::opener`).
    id: usize,
}

/// The next `PyWrite::id` (a mutex, not an atomic: only `shmim-sync` names memory orderings).
static NEXT_ID: Mutex<usize> = Mutex::new(0);

/// A new `PyWrite::id`.
fn next_id() -> usize {
    let mut next = NEXT_ID.lock().unwrap_or_else(PoisonError::into_inner);
    *next = next.wrapping_add(1);
    *next
}

impl PyWrite {
    pub(crate) fn new(
        stream: &Bound<'_, PyStream>,
        take: Take,
        atime: Option<&Bound<'_, PyAny>>,
        cnt1: Option<u64>,
    ) -> PyResult<Self> {
        // Closed streams are refused now, not at `__enter__`.
        stream.get().with_stream(stream.py(), |_| Ok(()))?;
        Ok(Self {
            stream: stream.clone().unbind(),
            take,
            atime: atime.map(crate::time::timespec).transpose()?,
            cnt1,
            state: Mutex::new(State::Ready),
            took_over: Mutex::new(None),
            id: next_id(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Held for a few instructions, never across a Python call or a wait.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the flag as `self.take` says and sets the guard aside in the stream's state;
    /// also returns the PID of the writer whose flag a recovery took over, if it names one.
    fn take_flag(&self, stream: &mut Stream) -> PyResult<(shmim_core::HeldWrite, Option<i32>)> {
        // Who holds the flag we may take over (for `took_over`; the take decides by itself).
        let holder = match self.take {
            Take::Write => None,
            Take::Recover { .. } => stream.flag_claim(),
        };
        let refusal = match self.take.take(stream) {
            Ok(guard) => return Ok((guard.hold(), holder)),
            Err(e) => e,
        };
        match refusal {
            Error::WriterBusy { writer } if self.take != Take::Write => {
                Err(WriterBusyError::new_err(format!(
                    "recover(): the write flag's holder (claim PID {writer}; 0: none, e.g. a \
                     legacy writer) is alive or unknown, so there is no evidence it died; \
                     recover(force=True) takes the flag anyway, only if you know no writer uses it"
                )))
            }
            e => Err(refused(stream, e)),
        }
    }
}

impl PyWrite {
    /// Abandons this context's open block (its frame is never published; module docs).
    fn abandon(&self, py: Python<'_>) {
        let id = self.id;
        let state = &self.stream.get().state;
        state.with(py, |s| {
            s.held.take_if(|b| b.opener == id);
        });
        state.notify();
        *self.state() = State::Abandoned;
    }
}

/// A context entered by hand (`w.__enter__()`, as pyMilk's `IMAGE.write` does) and collected
/// without `__exit__` abandons its block, as an exception in it would: otherwise the handle kept
/// it open for ever, and every later write, read or reopen of that handle was refused.
impl Drop for PyWrite {
    fn drop(&mut self) {
        if *self.state() == State::Open {
            // Not attached at interpreter shutdown: the stream goes with the process then.
            Python::try_attach(|py| self.abandon(py));
        }
    }
}

#[pymethods]
impl PyWrite {
    /// Takes the write flag; returns a writable array of the live pixels.
    fn __enter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyUntypedArray>> {
        if *self.state() != State::Ready {
            return Err(PyValueError::new_err(
                "a Write context is used once: call stream.write() again",
            ));
        }
        let stream = self.stream.get();
        let (live, frame, name, holder) = stream.state.with(py, |s| {
            match s.block() {
                BlockState::None => {}
                BlockState::Own => {
                    return Err(WriterBusyError::new_err(
                        "this stream already has a `with stream.write()` block open",
                    ));
                }
                BlockState::Other => {
                    return Err(WriterBusyError::new_err(
                        "another thread has a `with stream.write()` block open on this stream",
                    ));
                }
            }
            let st = s.stream_mut()?;
            let live = st.live_pixels().py()?;
            let name = st.name().to_owned();
            let (write, holder) = self.take_flag(st)?;
            s.held = Some(Block {
                write,
                opener: self.id,
                thread: std::thread::current().id(),
            });
            Ok((live, Arc::clone(&s.frame), name, holder))
        })?;
        *self.state() = State::Open;
        *self
            .took_over
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = holder;
        let array = frame
            .descr(py)
            .and_then(|d| crate::pixels::array_over(&d, &frame.shape, live, &name, true));
        if array.is_err() {
            // No block to leave: abandon the frame now rather than keep the flag for ever.
            self.abandon(py);
        }
        array
    }

    /// Publishes the frame if the block ended normally; leaves it abandoned on an exception.
    #[pyo3(signature = (exc_type, _exc_value=None, _traceback=None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc_value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if *self.state() != State::Open {
            return Ok(false);
        }
        let failed = exc_type.is_some_and(|t| !t.is_none());
        let (atime, cnt1) = (self.atime, self.cnt1);
        let id = self.id;
        let published = self.stream.get().state.with(py, |s| {
            let block = s.held.take_if(|b| b.opener == id);
            if failed {
                // The abandon (module docs). A stream closed inside the block abandoned the frame
                // already; the block's own exception is the one to see, not that.
                drop(block);
                return Ok(None);
            }
            let Some(block) = block else {
                return Err(StreamError::new_err(
                    "the stream was closed inside its `with stream.write()` block: the frame \
                     was abandoned (the next write of this process to the stream publishes a \
                     whole one)",
                ));
            };
            let guard = s.stream_mut()?.resume(block.write).py()?;
            finish(guard, atime, cnt1).py().map(Some)
        });
        // The block ended (or was already gone): reads of other threads wait for that.
        self.stream.get().state.notify();
        *self.state() = match published {
            Ok(Some(frame)) => State::Published(frame),
            _ => State::Abandoned,
        };
        published.map(|_| false)
    }

    /// The frame number published by the block (`None` before it ends, or if abandoned).
    #[getter]
    fn frame(&self) -> Option<u64> {
        match *self.state() {
            State::Published(f) => Some(f),
            _ => None,
        }
    }

    /// The PID of the writer whose flag `recover()` took over (`None`: the flag was clear, or
    /// this block came from `write()`).
    #[getter]
    fn took_over(&self) -> Option<i32> {
        *self
            .took_over
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn __repr__(&self) -> String {
        let state = match *self.state() {
            State::Ready => "ready".to_owned(),
            State::Open => "open".to_owned(),
            State::Published(f) => format!("published frame {f}"),
            State::Abandoned => "abandoned".to_owned(),
        };
        format!("<shmim.Write {state}>")
    }
}
