//! Python exceptions for the error kinds of `shmim_core::Error`.
//!
//! Errors a Python programmer already has a builtin for use it (`FileNotFoundError`,
//! `PermissionError`, `TimeoutError`, `ValueError`, `IndexError`, `OSError` with its errno);
//! what is particular to streams is a [`StreamError`] subclass. Every exception carries the Rust
//! error's message, which says what to do about it.

use pyo3::exceptions::{
    PyException, PyFileExistsError, PyFileNotFoundError, PyIndexError, PyOSError,
    PyPermissionError, PyTimeoutError, PyValueError,
};
use pyo3::prelude::*;
use shmim_core::Error;

pyo3::create_exception!(
    shmim,
    StreamError,
    PyException,
    "Base class of the errors particular to shared-memory streams."
);
pyo3::create_exception!(
    shmim,
    InvalidStreamError,
    StreamError,
    "The file is not a valid ImageStreamIO stream (or not a regular file, or a link leading outside the stream directory)."
);
pyo3::create_exception!(
    shmim,
    WriterBusyError,
    StreamError,
    "Another writer holds the stream's write flag."
);
pyo3::create_exception!(
    shmim,
    WriterStuckError,
    StreamError,
    "The write flag stayed set for the whole timeout and its holder is alive or unknown (a legacy writer, or a writer that abandoned a frame)."
);
pyo3::create_exception!(
    shmim,
    WriterDiedError,
    StreamError,
    "The write flag is set and the process holding it no longer exists."
);
pyo3::create_exception!(
    shmim,
    TornError,
    StreamError,
    "No consistent copy could be taken: the frame kept changing for the whole timeout."
);
pyo3::create_exception!(
    shmim,
    ReplacedError,
    StreamError,
    "The stream was re-created under the same name: open it again to follow it."
);
pyo3::create_exception!(
    shmim,
    RemovedError,
    StreamError,
    "The stream's file was deleted and nothing replaced it."
);
pyo3::create_exception!(
    shmim,
    NoFreeSlotError,
    StreamError,
    "Every reader slot (semaphore) of the stream is taken by a live process."
);
pyo3::create_exception!(
    shmim,
    KeywordsFullError,
    StreamError,
    "Every keyword entry of the stream is in use."
);

/// The Python exception for a Rust error.
pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::NotFound { .. } => PyFileNotFoundError::new_err(msg),
        Error::PermissionDenied { .. } => PyPermissionError::new_err(msg),
        Error::Occupied { .. } => PyFileExistsError::new_err(msg),
        // OSError(errno, text) becomes the builtin subclass for that errno, as `open()` does.
        Error::Io { ref source, .. } => match source.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, msg)),
            None => PyOSError::new_err(msg),
        },
        Error::Timeout(_) => PyTimeoutError::new_err(msg),
        Error::InvalidName { .. }
        | Error::Geometry(_)
        | Error::TypeMismatch { .. }
        | Error::LengthMismatch { .. }
        | Error::KeywordTooLong { .. }
        | Error::KeywordNul { .. } => PyValueError::new_err(msg),
        Error::IndexOutOfRange { .. } => PyIndexError::new_err(msg),
        Error::Invalid { .. }
        | Error::NotRegularFile { .. }
        | Error::SymlinkOutsideDir { .. }
        | Error::Segment { .. } => InvalidStreamError::new_err(msg),
        Error::WriterBusy { .. } => WriterBusyError::new_err(msg),
        Error::WriterStuck { .. } => WriterStuckError::new_err(msg),
        // The core's message names its own call; Python has `Stream.recover()`.
        Error::WriterDied { writer } => WriterDiedError::new_err(format!(
            "writer died mid-frame (claim PID {writer} no longer runs); `with stream.recover() \
             as a:` takes its flag over and publishes a whole new frame"
        )),
        Error::Torn { .. } => TornError::new_err(msg),
        Error::Replaced { .. } => ReplacedError::new_err(msg),
        Error::Removed { .. } => RemovedError::new_err(msg),
        Error::NoFreeSlot { .. } => NoFreeSlotError::new_err(msg),
        Error::KeywordsFull { .. } => KeywordsFullError::new_err(msg),
        _ => StreamError::new_err(msg),
    }
}

/// `Result<T, shmim_core::Error>` → `PyResult<T>`.
pub trait IntoPyResult<T> {
    /// Maps the error with [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for shmim_core::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("StreamError", py.get_type::<StreamError>())?;
    m.add("InvalidStreamError", py.get_type::<InvalidStreamError>())?;
    m.add("WriterBusyError", py.get_type::<WriterBusyError>())?;
    m.add("WriterStuckError", py.get_type::<WriterStuckError>())?;
    m.add("WriterDiedError", py.get_type::<WriterDiedError>())?;
    m.add("TornError", py.get_type::<TornError>())?;
    m.add("ReplacedError", py.get_type::<ReplacedError>())?;
    m.add("RemovedError", py.get_type::<RemovedError>())?;
    m.add("NoFreeSlotError", py.get_type::<NoFreeSlotError>())?;
    m.add("KeywordsFullError", py.get_type::<KeywordsFullError>())?;
    Ok(())
}
