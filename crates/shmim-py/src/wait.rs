//! Blocking calls that Ctrl-C interrupts, that another thread's `close()` ends, and that notice a
//! re-created or deleted stream.
//!
//! A Python program blocked in a call must stay interruptible: CPython only runs its signal
//! handlers (and so raises `KeyboardInterrupt`) between bytecodes, on the main thread, with the
//! GIL held. So every call that can block — waits for a frame, and consistent reads facing a
//! writer mid-frame — is cut into slices of at most [`SLICE`], each run with the GIL released
//! (other Python threads keep running), and between slices it runs the pending signal handlers
//! (`check_signals`), looks at the object's closing flag (`shared.rs`) and, for waits, whether
//! the file it waits on is still the stream's (a `stat`, cheap at 20 per second). Ctrl-C, a
//! `close()` from another thread, and a replaced stream all end the call within one slice
//! (protocol.md asks for 100 ms).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use shmim_core::{Error, Stream};

use crate::errors::{IntoPyResult, RemovedError, ReplacedError, to_py};
use crate::shared::OpenFlag;

/// The longest a blocking call runs without looking at signals, its closing flag and the file.
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
    pub fn of(stream: &Stream) -> shmim_core::Result<Option<Self>> {
        let Some(path) = stream.path() else {
            return Ok(None);
        };
        // The inode at the path now; if the stream still maps that file afterwards, this is the
        // mapped inode (a mapped file's inode number cannot be reused, and once replaced its
        // path never leads back to it).
        let ino = match std::fs::metadata(path) {
            Ok(m) => std::os::unix::fs::MetadataExt::ino(&m),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Removed {
                    name: stream.name().to_owned(),
                    path: path.to_path_buf(),
                });
            }
            Err(e) => {
                return Err(Error::Io {
                    op: "stat",
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        };
        if stream.inode_changed()? {
            return Err(Error::Replaced {
                name: stream.name().to_owned(),
            });
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
            Ok(_) => Err(ReplacedError::new_err(format!(
                "stream {} was replaced by a new file; open it again",
                self.name
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RemovedError::new_err(
                format!("stream {} was deleted", self.name),
            )),
            Err(e) => Err(pyo3::exceptions::PyOSError::new_err(format!(
                "stat {}: {e}",
                self.path.display()
            ))),
        }
    }
}

/// What one slice of a blocking call came to.
pub enum Step<T> {
    /// Finished (the frame came, the copy succeeded).
    Done(T),
    /// Not yet: the slice ran out (a wait's timeout, or a consistent read still facing a writer
    /// mid-frame). The error is what the whole call raises if its time runs out this way.
    Again(Error),
}

impl<T> Step<T> {
    /// A wait's slice: a timeout goes on, any other error ends the call.
    pub fn of_wait(result: shmim_core::Result<T>) -> PyResult<Self> {
        match result {
            Ok(v) => Ok(Self::Done(v)),
            Err(e @ Error::Timeout(_)) => Ok(Self::Again(e)),
            Err(e) => Err(to_py(e)),
        }
    }

    /// A consistent read's slice: a writer still mid-frame (`WriterStuck`) or frames that kept
    /// changing (`Torn`) go on; a dead writer (conclusive at once) and anything else end it.
    pub fn of_read(result: shmim_core::Result<T>) -> PyResult<Self> {
        match result {
            Ok(v) => Ok(Self::Done(v)),
            Err(e @ (Error::WriterStuck { .. } | Error::Torn { .. })) => Ok(Self::Again(e)),
            Err(e) => Err(to_py(e)),
        }
    }
}

/// What a blocking call looks at between its slices, besides pending signals.
#[derive(Clone, Copy)]
pub struct Between<'a> {
    /// The closing flag of the object the call runs on.
    pub open: OpenFlag<'a>,
    /// The stream file a wait waits on (`None`: reads, process-local images).
    pub watch: Option<&'a Watch>,
}

/// Runs `attempt(slice)` with the GIL released until it is done, for at most `timeout` (`None`,
/// or a timeout too long to represent: no limit). Between slices: pending signal handlers (a
/// Ctrl-C raises `KeyboardInterrupt` here), the closing flag and the watch. When the time runs
/// out, raises the last slice's error, its wait stretched to the whole call's.
pub fn sliced<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    between: Between<'_>,
    mut attempt: impl FnMut(Duration) -> PyResult<Step<T>> + Send,
) -> PyResult<T> {
    let start = Instant::now();
    let deadline = timeout.and_then(|t| start.checked_add(t));
    loop {
        let slice = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
            None => SLICE,
        };
        let last = match py.detach(|| attempt(slice))? {
            Step::Done(v) => return Ok(v),
            Step::Again(e) => e,
        };
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(to_py(whole_call(last, timeout, start.elapsed())));
        }
        py.check_signals()?;
        between.open.check()?;
        if let Some(w) = between.watch {
            w.check()?;
        }
    }
}

/// The error of a call that ran out of time after `waited`: the last slice's, with the call's
/// figures rather than the slice's.
fn whole_call(last: Error, timeout: Option<Duration>, waited: Duration) -> Error {
    match last {
        Error::Timeout(_) => Error::Timeout(timeout.unwrap_or(waited)),
        Error::WriterStuck { writer, .. } => Error::WriterStuck { writer, waited },
        Error::Torn { .. } => Error::Torn { waited },
        other => other,
    }
}

/// The stream's watch, with the core's errors mapped (`ReplacedError`, `RemovedError`…).
pub fn watch_of(stream: &Stream) -> PyResult<Option<Watch>> {
    Watch::of(stream).py()
}
