//! `shmim.Stream`: an open stream: create or open, read, view, write, register readers.

use std::path::PathBuf;

use numpy::PyUntypedArray;
use pyo3::exceptions::{PyFileExistsError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple, PyType};
use shmim_core::{Error, Stream, StreamSpec, Value};

use crate::errors::{IntoPyResult, StreamError, WriterBusyError};
use crate::frame::FrameShape;
use crate::handle::Handle;
use crate::metadata::Metadata;
use crate::reader::PyReader;
use crate::write::PyWrite;

/// An open ImageStreamIO stream: a file `DIR/NAME.im.shm` shared with C, Rust and Python
/// processes.
///
/// `shape` is numpy's C order, the reverse of the file's `size` (`size[0]` varies fastest, so
/// it is the last axis). Reads (`read`) are consistent copies, never torn; `view()` is a
/// zero-copy read-only array of the live pixels; `with stream.write() as a:` writes in place and
/// publishes on leaving the block; `reader()` registers a reader that waits for frames.
///
/// One thread at a time uses a `Stream`: give each thread its own (or its own `Reader`).
#[pyclass(name = "Stream", module = "shmim")]
pub struct PyStream {
    pub(crate) inner: Handle<Stream>,
    pub(crate) frame: FrameShape,
    /// A `with stream.write()` block is open: this handle holds the write flag.
    pub(crate) writing: bool,
    /// Bound of consistent reads, seconds (the core's default, 0.1 s, until set).
    pub(crate) read_timeout: f64,
}

/// The directory a Python `dir=` argument names, or the default one.
fn stream_dir(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| shmim_core::default_dir().to_path_buf())
}

impl PyStream {
    pub(crate) fn wrap(py: Python<'_>, stream: Stream) -> PyResult<Self> {
        Ok(Self {
            frame: FrameShape::of(py, &stream)?,
            inner: Handle::new(stream, "stream"),
            writing: false,
            read_timeout: 0.1,
        })
    }

    /// The stream, unless closed.
    pub(crate) fn get(&self) -> PyResult<&Stream> {
        self.inner.get()
    }

    /// Refuses what cannot run while this handle's own write block is open.
    pub(crate) fn not_writing(&self, what: &str) -> PyResult<()> {
        if self.writing {
            return Err(WriterBusyError::new_err(format!(
                "cannot {what} inside this stream's own `with stream.write()` block: the frame is \
                 not published yet"
            )));
        }
        Ok(())
    }
}

#[pymethods]
impl PyStream {
    /// Creates the stream `name` with `shape` (C order) and `dtype`, and opens it.
    ///
    /// An existing stream of that name is replaced (atomically: readers see the old file or the
    /// new one) only with `replace=True`; otherwise `FileExistsError`.
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
        let dir = stream_dir(dir);
        let path = dir.join(format!("{name}{}", shmim_layout::FILE_SUFFIX));
        if !replace && std::fs::symlink_metadata(&path).is_ok() {
            return Err(PyFileExistsError::new_err(format!(
                "stream {name} exists at {}; pass replace=True to re-create it",
                path.display()
            )));
        }
        let spec = StreamSpec::new(&size, datatype)
            .keywords(keywords)
            .semaphores(semaphores)
            .circular_buffer(cb)
            .dir(&dir);
        let stream = py.detach(|| Stream::create(name, &spec)).py()?;
        Self::wrap(py, stream)
    }

    /// Opens the stream `name` (in `dir`, default: `$MILK_SHM_DIR`, else `/milk/shm`, else
    /// `/tmp`). A name with a `/` is a path to the `.im.shm` file.
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
        Self::wrap(py, stream)
    }

    /// The name the stream was opened by.
    #[getter]
    fn name(&self) -> PyResult<String> {
        Ok(self.get()?.name().to_owned())
    }

    /// The stream's file.
    #[getter]
    fn path(&self) -> PyResult<Option<PathBuf>> {
        Ok(self.get()?.path().map(PathBuf::from))
    }

    /// Axis lengths in numpy's C order (the reversed `size`).
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.frame.shape)
    }

    /// The pixels' numpy dtype.
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.frame.descr.bind(py).clone().into_any()
    }

    /// Bytes of one frame.
    #[getter]
    fn nbytes(&self) -> usize {
        self.frame.bytes
    }

    /// The frame counter now: the number of the last published frame.
    #[getter]
    fn cnt0(&self) -> PyResult<u64> {
        Ok(self.get()?.cnt0())
    }

    /// Whether a writer holds the write flag now.
    #[getter]
    fn is_writing(&self) -> PyResult<bool> {
        Ok(self.get()?.is_writing())
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The header, copied consistently (a frozen `Metadata`). Facing a writer stuck mid-frame it
    /// is the header as it is, with `write` set, rather than an error.
    #[getter]
    fn metadata(&self, py: Python<'_>) -> PyResult<Metadata> {
        let stream = self.get()?;
        let md = match py.detach(|| stream.metadata()) {
            Ok(md) => md,
            Err(Error::WriterStuck { .. } | Error::WriterDied { .. } | Error::Torn { .. }) => {
                stream.metadata_snapshot()
            }
            Err(e) => return Err(crate::errors::to_py(e)),
        };
        Ok(md.into())
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
    /// default); then `WriterStuckError`, `WriterDiedError` or `TornError`. Readers made
    /// afterwards start with it.
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

    /// A consistent copy of the current frame (never torn), in `out` if given (an array of the
    /// frame's shape and dtype) or in a new array.
    #[pyo3(signature = (out=None))]
    fn read<'py>(
        &self,
        py: Python<'py>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyUntypedArray>> {
        self.not_writing("read")?;
        let stream = self.get()?;
        let (arr, _) = self
            .frame
            .copy_out(py, out, |buf| stream.read_bytes_into(buf))?;
        Ok(arr)
    }

    /// A zero-copy, read-only array of the live pixels (O(1)).
    ///
    /// Caveat: it is the shared memory itself, not a frame. A writer may change it while you
    /// look (torn between two frames, or mid-frame); use `read()` for a consistent copy. The
    /// array keeps the mapping alive (its `base`), even after `close()`, and keeps showing this
    /// file after the stream is re-created.
    fn view<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyUntypedArray>> {
        let stream = self.get()?;
        crate::pixels::array_over(
            self.frame.descr.bind(py),
            &self.frame.shape,
            stream.live_pixels().py()?,
            stream.name(),
            false,
        )
    }

    /// A context that writes a frame in place: `with stream.write() as a: a[...] = ...`.
    ///
    /// Entering takes the write flag and gives a writable array of the live pixels; leaving the
    /// block normally publishes the frame (pixels, then times, `cnt0`, the flag, then the
    /// semaphores). An exception abandons the frame: the flag stays set (readers see a stuck
    /// writer, never the half frame) until this `Stream`'s next write publishes a whole one.
    /// Writes through the array after the block are not synchronised with readers.
    /// `atime` (seconds, `datetime` or `(s, ns)`) is the acquisition time published with the
    /// frame (default: the publish time); `cnt1` sets the header's `cnt1` (the slice index of
    /// cubes, by legacy convention the writer's).
    #[pyo3(signature = (*, atime=None, cnt1=None))]
    fn write(
        slf: &Bound<'_, Self>,
        atime: Option<&Bound<'_, PyAny>>,
        cnt1: Option<u64>,
    ) -> PyResult<PyWrite> {
        slf.borrow().get()?;
        PyWrite::new(slf, atime.map(crate::time::timespec).transpose()?, cnt1)
    }

    /// Writes `data` (the frame's shape and dtype; any array-like) as the next frame and
    /// publishes it; returns its frame number. `atime` and `cnt1` as for `write()`.
    #[pyo3(signature = (data, *, atime=None, cnt1=None))]
    fn write_frame(
        &mut self,
        data: &Bound<'_, PyAny>,
        atime: Option<&Bound<'_, PyAny>>,
        cnt1: Option<u64>,
    ) -> PyResult<u64> {
        self.not_writing("write_frame")?;
        let atime = atime.map(crate::time::timespec).transpose()?;
        let Self { inner, frame, .. } = self;
        let stream = inner.get_mut()?;
        frame.copy_in(data, |bytes| {
            let mut guard = stream.write()?;
            guard.copy_from_bytes(bytes)?;
            crate::write::finish(guard, atime, cnt1)
        })
    }

    /// Publishes the current pixels again as a new frame (times, `cnt0`, semaphores), as
    /// the legacy `UpdateIm` does; returns its frame number.
    #[pyo3(signature = (*, atime=None))]
    fn repost(&mut self, py: Python<'_>, atime: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        self.not_writing("repost")?;
        let atime = atime.map(crate::time::timespec).transpose()?;
        let stream = self.inner.get_mut()?;
        py.detach(|| crate::write::finish(stream.write()?, atime, None))
            .py()
    }

    /// Registers a reader in a free semaphore slot (`slot`, if given and free).
    #[pyo3(signature = (*, slot=None))]
    fn reader(&self, py: Python<'_>, slot: Option<u16>) -> PyResult<PyReader> {
        PyReader::register(py, self, slot)
    }

    /// Whether the stream's path now leads to another file (re-created) or to none.
    fn inode_changed(&self) -> PyResult<bool> {
        self.get()?.inode_changed().py()
    }

    /// If the stream was re-created, opens the new file in place of the old one; returns
    /// whether it did. Readers and views made before keep the old file.
    fn reopen(&mut self, py: Python<'_>) -> PyResult<bool> {
        self.not_writing("reopen")?;
        let stream = self.inner.get_mut()?;
        let reopened = py.detach(|| stream.reopen_if_replaced()).py()?;
        if reopened {
            self.frame = FrameShape::of(py, self.get()?)?;
        }
        Ok(reopened)
    }

    /// Processes registered as readers: `(slot, pid)` pairs.
    fn registered_readers(&self) -> PyResult<Vec<(u16, i32)>> {
        Ok(self.get()?.registered_readers())
    }

    /// The value of every semaphore (posts not yet taken by their reader).
    fn semaphore_values(&self) -> PyResult<Vec<u32>> {
        Ok(self.get()?.semaphore_values())
    }

    /// Closes the handle (the file stays). Arrays from `view()` stay valid.
    fn close(&mut self) {
        self.inner.close();
    }

    /// Removes the stream's file (if it is still this stream's) and closes the handle.
    fn destroy(&mut self, py: Python<'_>) -> PyResult<()> {
        let stream = self.inner.take()?;
        py.detach(|| stream.destroy()).py()
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
            None => "<shmim.Stream (closed)>".to_owned(),
            Some(s) => format!(
                "<shmim.Stream {:?} shape={:?} dtype={} cnt0={}>",
                s.name(),
                self.frame.shape,
                crate::dtype::numpy_name(s.datatype()),
                s.cnt0()
            ),
        }
    }

    /// Every used keyword entry as `(name, value, comment)`, in entry order.
    fn _keyword_entries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for k in self.get()?.keywords().py()? {
            let value = crate::keywords::to_python(py, &k.value)?;
            list.append((k.name, value, k.comment))?;
        }
        Ok(list)
    }

    /// Sets keyword `name` (its entry, or the first unused one).
    fn _set_keyword(&self, name: &str, value: &Bound<'_, PyAny>, comment: &str) -> PyResult<()> {
        let v = crate::keywords::value(value)?;
        self.get()?.set_keyword(name, v, comment).py()?;
        Ok(())
    }

    /// Marks keyword `name`'s entry unused; returns whether there was one.
    fn _clear_keyword(&self, name: &str) -> PyResult<bool> {
        let stream = self.get()?;
        match stream.keyword(name).py()? {
            Some(k) => {
                stream.set_keyword_at(k.index, "", Value::Empty, "").py()?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Marks every keyword entry unused.
    fn _clear_keywords(&self) -> PyResult<()> {
        let stream = self.get()?;
        for k in stream.keywords().py()? {
            stream.set_keyword_at(k.index, "", Value::Empty, "").py()?;
        }
        Ok(())
    }
}

/// Fails with `StreamError` (used by `Write` when its stream went away).
pub(crate) fn closed_during_write() -> PyErr {
    StreamError::new_err("the stream was closed inside its `with stream.write()` block")
}
