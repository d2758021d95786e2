//! `shmim.Stream`: an open stream: create or open, read, view, write, register readers.
//!
//! The Python object is `frozen` and keeps its state in a [`Shared`] (`shared.rs`): any thread
//! may call any method; blocking calls hold the lock one slice at a time. The method bodies that
//! are more than a lock and a call live next to what they use: consistent reads in `read.rs`,
//! writes in `write.rs`, keywords in `keywords.rs`, the legacy semaphore calls of the compat
//! layer in `semaphores.rs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::ThreadId;

use numpy::PyUntypedArray;
use pyo3::exceptions::{PyFileExistsError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple, PyType};
use shmim_core::{Error, HeldWrite, Stream, StreamSpec};

use crate::errors::{IntoPyResult, WriterBusyError, to_py};
use crate::frame::FrameShape;
use crate::metadata::Metadata;
use crate::reader::PyReader;
use crate::shared::{Setting, Shared, closed};
use crate::write::{PyWrite, Take};

/// The default bound of consistent reads (the core's).
const DEFAULT_READ_TIMEOUT: f64 = 0.1;

/// What a `Stream` holds, behind its lock.
pub struct StreamState {
    /// The stream; `None` once closed.
    stream: Option<Stream>,
    /// Its frames' shape (replaced by `reopen`; mirrored in `PyStream::frame`).
    pub(crate) frame: Arc<FrameShape>,
    /// The open `with stream.write()` block: its flag is this handle's alone until it ends.
    pub(crate) held: Option<Block>,
}

/// An open `with stream.write()` block of a `Stream`.
pub struct Block {
    /// Its flag, set aside (`write.rs`).
    pub(crate) write: HeldWrite,
    /// The `Write` context that opened it: only that one may end it.
    pub(crate) opener: usize,
    /// The thread that entered it: only that thread is inside the block.
    pub(crate) thread: ThreadId,
}

/// Where the calling thread stands with a handle's write block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockState {
    /// No block is open.
    None,
    /// This thread is inside the block: nothing it waits for can happen until it leaves it.
    Own,
    /// Another thread's block is open: it ends when that thread leaves it.
    Other,
}

impl StreamState {
    /// The stream, unless closed.
    pub(crate) fn stream(&self) -> PyResult<&Stream> {
        self.stream.as_ref().ok_or_else(|| closed("stream"))
    }

    /// The stream, unless closed.
    pub(crate) fn stream_mut(&mut self) -> PyResult<&mut Stream> {
        self.stream.as_mut().ok_or_else(|| closed("stream"))
    }

    /// Where the calling thread stands with this handle's write block.
    pub(crate) fn block(&self) -> BlockState {
        match &self.held {
            None => BlockState::None,
            Some(b) if b.thread == std::thread::current().id() => BlockState::Own,
            Some(_) => BlockState::Other,
        }
    }

    /// Refuses what cannot run while this handle's write block is open: inside the block, the
    /// frame is not published yet; from another thread, the flag is the block's (as it would be
    /// for another handle, which gets `WriterBusyError` too).
    pub(crate) fn not_writing(&self, what: &str) -> PyResult<()> {
        match self.block() {
            BlockState::None => Ok(()),
            BlockState::Own => Err(inside_block(what)),
            BlockState::Other => Err(WriterBusyError::new_err(format!(
                "cannot {what}: another thread has a `with stream.write()` block open on this \
                 stream"
            ))),
        }
    }

    /// Closes: an open write block's frame is abandoned (the next write of this process resumes
    /// it), then the mapping is released.
    fn close(&mut self) -> Option<Stream> {
        self.held = None;
        self.stream.take()
    }
}

/// The error of a call that cannot run inside the calling thread's own write block.
pub(crate) fn inside_block(what: &str) -> PyErr {
    WriterBusyError::new_err(format!(
        "cannot {what} inside this stream's own `with stream.write()` block: the frame is not \
         published yet"
    ))
}

/// An open ImageStreamIO stream: a file `DIR/NAME.im.shm` shared with C, Rust and Python
/// processes.
///
/// `shape` is numpy's C order, the reverse of the file's `size` (`size[0]` varies fastest, so
/// it is the last axis). Reads (`read`) are consistent copies, never torn; `view()` is a
/// zero-copy read-only array of the live pixels; `with stream.write() as a:` writes in place and
/// publishes on leaving the block; `reader()` registers a reader that waits for frames.
///
/// Threads may share a `Stream`: every call is safe from any thread, and a blocking one (a read
/// facing a writer mid-frame) holds the handle for at most 50 ms at a time. `close()` from
/// another thread ends such a call within that time. A `with stream.write()` block open in one
/// thread is, to the others, a writer mid-frame as through another handle: their reads wait for
/// it to end and get its frame, their writes get `WriterBusyError`.
#[pyclass(frozen, name = "Stream", module = "shmim")]
pub struct PyStream {
    pub(crate) state: Shared<StreamState>,
    /// `state.frame`, readable without the lock (set with it, by `reopen`).
    frame: Setting<Arc<FrameShape>>,
    /// Bound of consistent reads, seconds (finite, >= 0).
    pub(crate) read_timeout: Setting<f64>,
}

/// The directory a Python `dir=` argument names, or the default one.
fn stream_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| shmim_core::default_dir().to_path_buf())
}

impl PyStream {
    fn wrap(stream: Stream) -> Self {
        let frame = Arc::new(FrameShape::of(&stream));
        Self {
            state: Shared::new(
                StreamState {
                    frame: Arc::clone(&frame),
                    stream: Some(stream),
                    held: None,
                },
                "stream",
            ),
            frame: Setting::new(frame),
            read_timeout: Setting::new(DEFAULT_READ_TIMEOUT),
        }
    }

    /// Runs `f` on the open stream (GIL released).
    pub(crate) fn with_stream<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&Stream) -> PyResult<R> + Send,
    ) -> PyResult<R> {
        self.state.with(py, |s| f(s.stream()?))
    }

    /// The frames' shape now.
    pub(crate) fn frame(&self) -> Arc<FrameShape> {
        self.frame.get()
    }
}

#[pymethods]
impl PyStream {
    /// Creates the stream `name` with `shape` (C order) and `dtype`, and opens it (in `dir`, by
    /// default the directory `open` says).
    ///
    /// An existing stream of that name is replaced (atomically: readers see the old file or the
    /// new one) only with `replace=True`; otherwise `FileExistsError`, decided atomically: of
    /// processes racing to create the same name, exactly one succeeds.
    #[classmethod]
    #[pyo3(signature = (name, shape, dtype, *, keywords=0, semaphores=10, cb=0, dir=None, replace=false))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        shape: Vec<usize>,
        dtype: &Bound<'_, PyAny>,
        keywords: u16,
        semaphores: u16,
        cb: u32,
        dir: Option<PathBuf>,
        replace: bool,
    ) -> PyResult<Self> {
        let datatype = crate::dtype::from_dtype_like(dtype)?;
        let size = shape
            .iter()
            .rev()
            .map(|&s| u32::try_from(s))
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| {
                PyValueError::new_err(format!("axis lengths must fit 32 bits: {shape:?}"))
            })?;
        let spec = StreamSpec::new(&size, datatype)
            .keywords(keywords)
            .semaphores(semaphores)
            .circular_buffer(cb)
            .dir(stream_dir(dir))
            .replace(replace);
        match py.detach(|| Stream::create(name, &spec)) {
            Ok(stream) => Ok(Self::wrap(stream)),
            Err(Error::Occupied { path, .. }) if !replace && path.is_file() => {
                Err(PyFileExistsError::new_err(format!(
                    "stream {name} exists at {}; pass replace=True to re-create it",
                    path.display()
                )))
            }
            Err(e) => Err(to_py(e)),
        }
    }

    /// Opens the stream `name` (in `dir`, default: `$MILK_SHM_DIR`, else `/milk/shm`, else
    /// `/tmp`). A name with a `/` is a path to the `.im.shm` file; a relative path or `dir` is
    /// taken from the working directory now (a later `chdir` does not move the stream).
    ///
    /// The default directory is resolved once per process, at its first use, as the C library
    /// does: set `MILK_SHM_DIR` before that, or pass `dir`. (`shmim.compat.SHM` reads
    /// `MILK_SHM_DIR` at each construction, as pyMilk does.)
    #[classmethod]
    #[pyo3(signature = (name, *, dir=None))]
    fn open(
        _cls: &Bound<'_, PyType>,
        py: Python<'_>,
        name: &str,
        dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let stream = if name.contains('/') {
            py.detach(|| Stream::open_path(name))
        } else {
            let dir = stream_dir(dir);
            py.detach(|| Stream::open_in(dir, name))
        }
        .py()?;
        Ok(Self::wrap(stream))
    }

    /// The name the stream was opened by.
    #[getter]
    fn name(&self, py: Python<'_>) -> PyResult<String> {
        self.with_stream(py, |s| Ok(s.name().to_owned()))
    }

    /// The stream's file (a `pathlib.Path`).
    #[getter]
    fn path(&self, py: Python<'_>) -> PyResult<Option<PathBuf>> {
        self.with_stream(py, |s| Ok(s.path().map(PathBuf::from)))
    }

    /// Axis lengths in numpy's C order (the reversed `size`).
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.frame().shape)
    }

    /// The pixels' numpy dtype.
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.frame().descr(py)?.into_any())
    }

    /// Bytes of one frame.
    #[getter]
    fn nbytes(&self) -> usize {
        self.frame().bytes
    }

    /// The frame counter now: the number of the last published frame.
    #[getter]
    fn cnt0(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_stream(py, |s| Ok(s.cnt0()))
    }

    /// Whether a writer holds the write flag now.
    #[getter]
    fn is_writing(&self, py: Python<'_>) -> PyResult<bool> {
        self.with_stream(py, |s| Ok(s.is_writing()))
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.state.with(py, |s| s.stream.is_none())
    }

    /// The header, copied consistently (a frozen `Metadata`). Facing a writer stuck mid-frame
    /// (for `read_timeout`; Ctrl-C interrupts) it is the header as it is, with `write` set,
    /// rather than an error.
    #[getter]
    fn metadata(&self, py: Python<'_>) -> PyResult<Metadata> {
        crate::read::metadata(self, py).map(Metadata::from)
    }

    /// The header as it is now, without waiting for a writer mid-frame (what the legacy library
    /// shows; fields may be from two frames).
    fn metadata_now(&self, py: Python<'_>) -> PyResult<Metadata> {
        self.with_stream(py, |s| Ok(s.metadata_snapshot().into()))
    }

    /// The keywords, as a mutable mapping `name -> int | float | str` (see `shmim.Keywords`).
    #[getter]
    fn keywords<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py()
            .import("shmim._keywords")?
            .getattr("Keywords")?
            .call1((slf,))
    }

    /// How long a consistent read keeps trying while a writer is mid-frame, in seconds (0.1 by
    /// default; finite, >= 0); then `WriterStuckError`, `WriterDiedError` or `TornError`.
    /// Readers made afterwards start with it.
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

    /// A consistent copy of the current frame (never torn), in `out` if given (an array of the
    /// frame's shape and dtype, C-contiguous) or in a new array. Facing a writer mid-frame it
    /// keeps trying for `timeout` seconds (default: `read_timeout`), interruptible by Ctrl-C.
    #[pyo3(signature = (out=None, *, timeout=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        out: Option<&Bound<'py, PyAny>>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyUntypedArray>> {
        let bound = timeout.unwrap_or_else(|| self.read_timeout.get());
        crate::read::frame(py, &self.state, &self.frame(), out, bound).map(|(arr, _)| arr)
    }

    /// A zero-copy, read-only array of the live pixels (O(1)).
    ///
    /// Caveat: it is the shared memory itself, not a frame. A writer may change it while you
    /// look (torn between two frames, or mid-frame); use `read()` for a consistent copy. The
    /// array keeps the mapping alive (its `base`), even after `close()`, and keeps showing this
    /// file after the stream is re-created.
    fn view<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyUntypedArray>> {
        let (live, frame, name) = self.state.with(py, |s| {
            let stream = s.stream()?;
            let live = stream.live_pixels().py()?;
            PyResult::Ok((live, Arc::clone(&s.frame), stream.name().to_owned()))
        })?;
        crate::pixels::array_over(&frame.descr(py)?, &frame.shape, live, &name, false)
    }

    /// A context that writes a frame in place: `with stream.write() as a: a[...] = ...`.
    ///
    /// Entering takes the write flag and gives a writable array of the live pixels; leaving the
    /// block normally publishes the frame (pixels, then times, `cnt0`, the flag, then the
    /// semaphores). Until then the flag is this `Stream`'s alone: other handles, even in this
    /// process, get `WriterBusyError`; so do writes of other threads through this one, and their
    /// reads wait for the block to end (only the thread inside the block cannot read). An exception abandons the frame: the flag stays set
    /// (readers see a stuck writer, never the half frame) until the next write of this process
    /// to the stream publishes a whole one. Writes through the array after the block are not
    /// synchronised with readers. `atime` (seconds, `datetime` or `(s, ns)`) is the acquisition
    /// time published with the frame (default: the publish time); `cnt1` sets the header's
    /// `cnt1` (the slice index of cubes, by legacy convention the writer's).
    #[pyo3(signature = (*, atime=None, cnt1=None))]
    fn write(
        slf: &Bound<'_, Self>,
        atime: Option<&Bound<'_, PyAny>>,
        cnt1: Option<u64>,
    ) -> PyResult<PyWrite> {
        PyWrite::new(slf, Take::Write, atime, cnt1)
    }

    /// Like `write()`, over the write flag of a writer that died mid-frame: `with
    /// stream.recover() as a: a[...] = frame` publishes a whole new frame over its half one.
    ///
    /// Without `force` the flag is taken only on the evidence of `WriterDiedError` (its claim
    /// names a process that no longer runs); a live or unknown holder is `WriterBusyError`. A
    /// clear flag is simply taken, as by `write()`. `force=True` takes the flag whatever holds
    /// it: if its holder is alive after all, two writers then write at once and readers may
    /// accept a torn frame. Only for an operator who checked by hand (a legacy writer's flag,
    /// which names no process, or a writer in another PID namespace).
    #[pyo3(signature = (force=false, *, atime=None, cnt1=None))]
    fn recover(
        slf: &Bound<'_, Self>,
        force: bool,
        atime: Option<&Bound<'_, PyAny>>,
        cnt1: Option<u64>,
    ) -> PyResult<PyWrite> {
        PyWrite::new(slf, Take::Recover { force }, atime, cnt1)
    }

    /// Writes `data` (the frame's shape and dtype; any array-like) as the next frame and
    /// publishes it; returns its frame number. `atime` and `cnt1` as for `write()`.
    #[pyo3(signature = (data, *, atime=None, cnt1=None))]
    fn write_frame(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        atime: Option<&Bound<'_, PyAny>>,
        cnt1: Option<u64>,
    ) -> PyResult<u64> {
        crate::write::write_frame(self, py, data, atime, cnt1)
    }

    /// Publishes the current pixels again as a new frame (times, `cnt0`, semaphores), as
    /// the legacy `UpdateIm` does; returns its frame number.
    #[pyo3(signature = (*, atime=None))]
    fn repost(&self, py: Python<'_>, atime: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        crate::write::repost(self, py, atime)
    }

    /// Registers a reader in a free semaphore slot (`slot`, if given and free).
    #[pyo3(signature = (*, slot=None))]
    fn reader(&self, py: Python<'_>, slot: Option<u16>) -> PyResult<PyReader> {
        self.state.with(py, |s| {
            let stream = s.stream()?;
            let watch = crate::wait::watch_of(stream)?;
            let reader = match slot {
                Some(i) => stream.reader_at(i),
                None => stream.reader(),
            }
            .py()?;
            Ok(PyReader::new(
                reader,
                Arc::clone(&s.frame),
                watch,
                self.read_timeout.get(),
            ))
        })
    }

    /// Whether the stream's path now leads to another file (re-created) or to none.
    fn inode_changed(&self, py: Python<'_>) -> PyResult<bool> {
        self.with_stream(py, |s| s.inode_changed().py())
    }

    /// If the stream was re-created, opens the new file in place of the old one; returns
    /// whether it did. Readers and views made before keep the old file.
    fn reopen(&self, py: Python<'_>) -> PyResult<bool> {
        self.state.with(py, |s| {
            s.not_writing("reopen")?;
            let stream = s.stream_mut()?;
            let reopened = stream.reopen_if_replaced().py()?;
            if reopened {
                s.frame = Arc::new(FrameShape::of(stream));
                self.frame.set(Arc::clone(&s.frame));
            }
            Ok(reopened)
        })
    }

    /// Processes registered as readers: `(slot, pid)` pairs.
    fn registered_readers(&self, py: Python<'_>) -> PyResult<Vec<(u16, i32)>> {
        self.with_stream(py, |s| Ok(s.registered_readers()))
    }

    /// The value of every semaphore (posts not yet taken by their reader).
    fn semaphore_values(&self, py: Python<'_>) -> PyResult<Vec<u32>> {
        self.with_stream(py, |s| Ok(s.semaphore_values()))
    }

    /// The process that last posted each semaphore (`semWritePID`; 0 or -1: none yet).
    fn semaphore_writers(&self, py: Python<'_>) -> PyResult<Vec<i32>> {
        self.with_stream(py, |s| Ok(s.semaphore_writers()))
    }

    /// Closes the handle (the file stays); calls of other threads on it end within 50 ms. An
    /// open write block's frame is abandoned. Arrays from `view()` stay valid.
    fn close(&self, py: Python<'_>) {
        self.state.start_closing();
        let stream = self.state.with(py, StreamState::close);
        self.state.notify();
        // Unmapped here, with the GIL held: nothing else waits for it.
        drop(stream);
    }

    /// Removes the stream's file (if it is still this stream's) and closes the handle.
    fn destroy(&self, py: Python<'_>) -> PyResult<()> {
        self.state.start_closing();
        let destroyed = self.state.with(py, |s| match s.close() {
            Some(stream) => stream.destroy().py(),
            None => Err(closed("stream")),
        });
        self.state.notify();
        destroyed
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
        self.state.with(py, |s| match &s.stream {
            None => "<shmim.Stream (closed)>".to_owned(),
            Some(stream) => format!(
                "<shmim.Stream {:?} shape={:?} dtype={} cnt0={}>",
                stream.name(),
                s.frame.shape,
                crate::dtype::numpy_name(stream.datatype()),
                stream.cnt0()
            ),
        })
    }

    /// Every used keyword entry as `(name, value, comment)`, in entry order.
    fn _keyword_entries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        crate::keywords::entries(self, py)
    }

    /// Sets keyword `name` (its entry, or the first unused one).
    fn _set_keyword(
        &self,
        py: Python<'_>,
        name: &str,
        value: &Bound<'_, PyAny>,
        comment: &str,
    ) -> PyResult<()> {
        crate::keywords::set(self, py, name, value, comment)
    }

    /// Marks keyword `name`'s entry unused; returns whether there was one.
    fn _clear_keyword(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        crate::keywords::clear(self, py, name)
    }

    /// Marks every keyword entry unused.
    fn _clear_keywords(&self, py: Python<'_>) -> PyResult<()> {
        crate::keywords::clear_all(self, py)
    }

    /// Legacy `getsemwaitindex(preferred)`: this process's slot, else `preferred` if free, else
    /// the first free one (kept until the process ends; a newly claimed one is flushed, its
    /// posts were for nobody); `None` if every slot is taken.
    #[pyo3(signature = (preferred=None))]
    fn _sem_claim(&self, py: Python<'_>, preferred: Option<u16>) -> PyResult<Option<u16>> {
        self.with_stream(py, |s| crate::semaphores::claim(s, preferred))
    }

    /// Waits for a post of semaphore `index` (C semantics: any post); `False` after `timeout`
    /// seconds (`None`: no limit). Sliced as every wait.
    #[pyo3(signature = (index, timeout=None))]
    fn _sem_wait(&self, py: Python<'_>, index: u16, timeout: Option<f64>) -> PyResult<bool> {
        crate::semaphores::wait(self, py, index, crate::time::timeout(timeout)?)
    }

    /// Takes a pending post of semaphore `index`: whether there was one.
    fn _sem_trywait(&self, py: Python<'_>, index: u16) -> PyResult<bool> {
        self.with_stream(py, |s| Ok(s.semaphore(index).py()?.try_wait()))
    }

    /// Posts semaphore `index` (`-1`: every one, as a publish does), as the legacy `sempost`.
    fn _sem_post(&self, py: Python<'_>, index: i64) -> PyResult<()> {
        crate::semaphores::post(self, py, index)
    }

    /// Drains semaphore `index` (`-1`: every one); returns how many posts were dropped.
    fn _sem_flush(&self, py: Python<'_>, index: i64) -> PyResult<u32> {
        crate::semaphores::flush(self, py, index)
    }

    /// Proc-trace entry `index` as `(triggermode, procwrite_PID, trigger_inode, ts_procstart,
    /// ts_streamupdate, trigsemindex, triggerstatus, cnt0)`, times in seconds.
    fn _proc_trace(&self, py: Python<'_>, index: u16) -> PyResult<crate::semaphores::ProcTrace> {
        crate::semaphores::proc_trace(self, py, index)
    }
}
