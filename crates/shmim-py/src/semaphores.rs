//! The legacy semaphore calls behind `shmim.compat` (pyMilk's `IMAGE.semwait(i)`,
//! `semtimedwait`, `sempost`, `semflush`, and its proc-trace entry): semaphores by index with the
//! C library's semantics, where a post is a post whether or not a frame came with it. The native
//! `Reader` is the frame-exact interface; these exist so that compat code keeps pyMilk's
//! behaviour, counts and return codes.
//!
//! Waits are sliced like every other wait (`wait.rs`): Ctrl-C, `close()` from another thread
//! and a re-created or deleted stream end them within 50 ms (`ReplacedError`, `RemovedError`;
//! the compat layer relinks or reports a timeout, as pyMilk's C waits time out).

use std::time::Duration;

use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use shmim_core::{Error, Stream};

use crate::errors::IntoPyResult;
use crate::stream::PyStream;
use crate::time::seconds;
use crate::wait::{Between, Step, sliced};

/// A proc-trace entry: `(triggermode, procwrite_PID, trigger_inode, ts_procstart,
/// ts_streamupdate, trigsemindex, triggerstatus, cnt0)`, times in seconds.
pub type ProcTrace = (i32, i32, u64, f64, f64, i32, i32, u64);

/// `getsemwaitindex`: this process's slot, else a newly claimed one, flushed (posts made before
/// the claim were for no reader, and a reader that came after them must not take them for
/// frames: the native `Reader` does the same).
///
/// Never a native `Reader`'s slot of this process (the core passes over those): a compat waiter
/// sharing it would take the posts of the frames the `Reader` waits for.
pub fn claim(stream: &Stream, preferred: Option<u16>) -> PyResult<Option<u16>> {
    let had = stream.claimed_wait_slot().is_some();
    let slot = stream.claim_wait_slot(preferred);
    if let (Some(i), false) = (slot, had) {
        stream.semaphore(i).py()?.flush();
    }
    Ok(slot)
}

/// Waits for a post of semaphore `index`: `true` when one came, `false` after `timeout`.
pub fn wait(
    stream: &PyStream,
    py: Python<'_>,
    index: u16,
    timeout: Option<Duration>,
) -> PyResult<bool> {
    let watch = stream.with_stream(py, |s| {
        s.semaphore(index).py()?;
        crate::wait::watch_of(s)
    })?;
    let between = Between {
        open: stream.state.open_flag(),
        watch: watch.as_ref(),
    };
    let waited = sliced(py, timeout, between, |slice| {
        stream.state.locked(|s| {
            let posted = s.stream()?.semaphore(index).py()?.wait_timeout(slice);
            match posted.map_err(Error::from) {
                Ok(true) => Ok(Step::Done(())),
                Ok(false) => Ok(Step::Again(Error::Timeout(slice))),
                Err(e) => Step::of_wait(Err(e)),
            }
        })
    });
    match waited {
        Ok(()) => Ok(true),
        Err(e) if e.is_instance_of::<PyTimeoutError>(py) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Semaphore `index` (>= 0) as the core numbers them.
fn one(index: i64) -> PyResult<u16> {
    u16::try_from(index)
        .map_err(|_| pyo3::exceptions::PyIndexError::new_err(format!("no semaphore {index}")))
}

/// The semaphores a legacy call with `index` addresses among `count` (`< 0`: all of them).
fn indices(count: usize, index: i64) -> PyResult<Vec<u16>> {
    if index < 0 {
        return Ok((0..count).filter_map(|i| u16::try_from(i).ok()).collect());
    }
    one(index).map(|i| vec![i])
}

/// `sempost(index)`: one semaphore, or (`index < 0`) every one as a publish does.
pub fn post(stream: &PyStream, py: Python<'_>, index: i64) -> PyResult<()> {
    stream.with_stream(py, |s| {
        if index < 0 {
            s.post_all();
        } else {
            s.post(one(index)?).py()?;
        }
        Ok(())
    })
}

/// `semflush(index)`: drains one semaphore or (`index < 0`) every one; the posts dropped.
pub fn flush(stream: &PyStream, py: Python<'_>, index: i64) -> PyResult<u32> {
    stream.with_stream(py, |s| {
        let mut dropped = 0;
        for i in indices(s.semaphore_values().len(), index)? {
            dropped += s.semaphore(i).py()?.flush();
        }
        Ok(dropped)
    })
}

/// Proc-trace entry `index`.
pub fn proc_trace(stream: &PyStream, py: Python<'_>, index: u16) -> PyResult<ProcTrace> {
    stream.with_stream(py, |s| {
        let p = s.proc_trace(index).py()?;
        Ok((
            p.triggermode,
            p.procwrite_pid,
            p.trigger_inode,
            seconds(p.ts_procstart),
            seconds(p.ts_streamupdate),
            p.trigsemindex,
            p.triggerstatus,
            p.cnt0,
        ))
    })
}
