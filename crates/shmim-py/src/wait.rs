//! Waits that Ctrl-C interrupts and that notice a re-created or deleted stream.
//!
//! A Python program blocked in a wait must stay interruptible: CPython only runs its signal
//! handlers (and so raises `KeyboardInterrupt`) between bytecodes, on the main thread, with the
//! GIL held. So every wait is cut into slices of at most [`SLICE`], each run with the GIL
//! released (other Python threads keep running), and between slices the wait runs the pending
//! signal handlers (`check_signals`) and looks whether the file it waits on is still the stream's
//! (a `stat`, cheap at 20 per second). Ctrl-C therefore ends a wait within one slice, and a
//! replaced stream within one slice too (protocol.md asks for 100 ms).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use shmim_core::{Error, Stream};

use crate::errors::{IntoPyResult, RemovedError, ReplacedError, to_py};

/// The longest a wait runs without looking at signals and at the stream's file.
pub const SLICE: Duration = Duration::from_millis(50);

/// The mapped file of a stream, to tell when its path no longer leads to it.
#[derive(Debug, Clone)]
pub struct Watch {
    path: PathBuf,
    ino: u64,
    name: String,
}

impl Watch {
    /// The file `stream` maps, or `None` for a process-local image.
    pub fn of(stream: &Stream) -> PyResult<Option<Self>> {
        let Some(path) = stream.path() else {
            return Ok(None);
        };
        // The inode at the path now; if the stream still maps that file afterwards, this is the
        // mapped inode (a mapped file's inode number cannot be reused, and once replaced its
        // path never leads back to it).
        let ino = match std::fs::metadata(path) {
            Ok(m) => std::os::unix::fs::MetadataExt::ino(&m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(removed(stream.name()));
            }
            Err(e) => return Err(pyo3::exceptions::PyOSError::new_err(e.to_string())),
        };
        if stream.inode_changed().py()? {
            return Err(replaced(stream.name()));
        }
        Ok(Some(Self {
            path: path.to_path_buf(),
            ino,
            name: stream.name().to_owned(),
        }))
    }

    /// `ReplacedError` if the path leads to another file now, `RemovedError` if to none.
    pub fn check(&self) -> PyResult<()> {
        match std::fs::metadata(&self.path) {
            Ok(m) if std::os::unix::fs::MetadataExt::ino(&m) == self.ino => Ok(()),
            Ok(_) => Err(replaced(&self.name)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(removed(&self.name)),
            Err(e) => Err(pyo3::exceptions::PyOSError::new_err(format!(
                "stat {}: {e}",
                self.path.display()
            ))),
        }
    }
}

fn replaced(name: &str) -> PyErr {
    ReplacedError::new_err(format!(
        "stream {name} was replaced by a new file; open it again"
    ))
}

fn removed(name: &str) -> PyErr {
    RemovedError::new_err(format!("stream {name} was deleted"))
}

/// Runs `attempt(slice)` with the GIL released until it returns anything but a timeout, for at
/// most `timeout` (`None`, or a timeout too long to represent: no limit). Between slices: pending signal handlers (a Ctrl-C raises
/// `KeyboardInterrupt` here) and the `watch`.
pub fn sliced<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    watch: Option<&Watch>,
    mut attempt: impl FnMut(Duration) -> shmim_core::Result<T> + Send,
) -> PyResult<T> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let slice = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
            None => SLICE,
        };
        match py.detach(|| attempt(slice)) {
            Err(Error::Timeout(_)) => {}
            other => return other.map_err(to_py),
        }
        py.check_signals()?;
        if let Some(w) = watch {
            w.check()?;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(to_py(Error::Timeout(timeout.unwrap_or_default())));
        }
    }
}
