//! `Metadata`: a frozen snapshot of a stream's header.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::time::seconds;

/// The stream's header as it was when the snapshot was taken (`stream.metadata`). Fields keep
/// their ImageStreamIO meaning; `shape` is numpy's C order (the reversed `size`), times are
/// seconds since the epoch on the writer's clock (CLOCK_TAI for shmim and legacy writers).
#[pyclass(frozen, module = "shmim")]
pub struct Metadata {
    /// Stream name as recorded in the file (a symlink's target name).
    #[pyo3(get)]
    name: String,
    /// Elements per frame.
    #[pyo3(get)]
    nelement: u64,
    /// Raw datatype code (1..13).
    #[pyo3(get)]
    datatype_code: u8,
    /// Image type bits.
    #[pyo3(get)]
    imagetype: u64,
    /// Creation time.
    #[pyo3(get)]
    creation_time: f64,
    /// Last access time (legacy tools set it).
    #[pyo3(get)]
    last_access_time: f64,
    /// Acquisition time of the last frame.
    #[pyo3(get)]
    atime: f64,
    /// Publish time of the last frame.
    #[pyo3(get)]
    write_time: f64,
    /// Process that created the stream.
    #[pyo3(get)]
    creator_pid: i32,
    /// The stream's owner (milk's `shmimsetown*`), 0 if unset.
    #[pyo3(get)]
    owner_pid: i32,
    /// Whether the stream is in a shared file.
    #[pyo3(get)]
    shared: bool,
    /// Inode recorded at creation.
    #[pyo3(get)]
    inode: u64,
    /// -1 for CPU memory, >= 0 for a GPU.
    #[pyo3(get)]
    location: i8,
    /// `status` field.
    #[pyo3(get)]
    status: u8,
    /// `flag` field.
    #[pyo3(get)]
    flag: u64,
    /// `logflag` field.
    #[pyo3(get)]
    logflag: u8,
    /// Number of semaphores (reader slots).
    #[pyo3(get)]
    semaphores: u16,
    /// Number of proc-trace entries.
    #[pyo3(get)]
    proc_trace: u16,
    /// Frame counter: number of the last published frame.
    #[pyo3(get)]
    cnt0: u64,
    /// Last slice written (cubes).
    #[pyo3(get)]
    cnt1: u64,
    /// Event counter.
    #[pyo3(get)]
    cnt2: u64,
    /// Whether a writer held the write flag (only in snapshots taken mid-frame).
    #[pyo3(get)]
    write: bool,
    /// Number of keyword entries.
    #[pyo3(get)]
    keywords: u16,
    /// Circular-buffer frames.
    #[pyo3(get)]
    cb_size: u32,
    /// Current circular-buffer slot.
    #[pyo3(get)]
    cb_index: u32,
    /// Circular-buffer wraps.
    #[pyo3(get)]
    cb_cycle: u64,
    /// Bytes per frame.
    #[pyo3(get)]
    imdatamemsize: u64,
    size: Vec<u32>,
    dtype: Option<&'static str>,
}

impl From<shmim_core::Metadata> for Metadata {
    fn from(m: shmim_core::Metadata) -> Self {
        Self {
            name: m.name,
            nelement: m.nelement,
            datatype_code: m.datatype_code,
            imagetype: m.imagetype,
            creation_time: seconds(m.creation_time),
            last_access_time: seconds(m.last_access_time),
            atime: seconds(m.atime),
            write_time: seconds(m.write_time),
            creator_pid: m.creator_pid,
            owner_pid: m.owner_pid,
            shared: m.shared,
            inode: m.inode,
            location: m.location,
            status: m.status,
            flag: m.flag,
            logflag: m.logflag,
            semaphores: m.semaphores,
            proc_trace: m.proc_trace,
            cnt0: m.cnt0,
            cnt1: m.cnt1,
            cnt2: m.cnt2,
            write: m.write,
            keywords: m.keywords,
            cb_size: m.cb_size,
            cb_index: m.cb_index,
            cb_cycle: m.cb_cycle,
            imdatamemsize: m.imdatamemsize,
            size: m.shape,
            dtype: m.datatype.map(crate::dtype::numpy_name),
        }
    }
}

#[pymethods]
impl Metadata {
    /// Axis lengths in numpy's C order: the reversed `size` (`size[0]` varies fastest).
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.size.iter().rev())
    }

    /// Axis lengths in file order (`size[0]` first), as ImageStreamIO writes them.
    #[getter]
    fn size<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.size.iter())
    }

    /// Number of axes.
    #[getter]
    fn naxis(&self) -> usize {
        self.size.len()
    }

    /// The pixels' numpy dtype (`None` if the header holds an unknown datatype code).
    #[getter]
    fn dtype<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.dtype
            .map(|n| Ok(numpy::PyArrayDescr::new(py, n)?.into_any()))
            .transpose()
    }

    fn __repr__(&self) -> String {
        format!(
            "<shmim.Metadata {:?} shape={:?} dtype={} cnt0={} writer={}>",
            self.name,
            self.size.iter().rev().collect::<Vec<_>>(),
            self.dtype.unwrap_or("unknown"),
            self.cnt0,
            if self.write { "writing" } else { "idle" }
        )
    }
}
