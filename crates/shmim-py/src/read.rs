//! Consistent reads from Python: frames (`Stream.read`, `Reader.read`) and the header
//! (`Stream.metadata`).
//!
//! The core's consistent copy keeps trying for its read timeout while a writer is mid-frame. Run
//! in one piece with the GIL released, a long (or unbounded) timeout made the call deaf to
//! Ctrl-C and held the handle. So the caller's bound is cut into slices (`wait::sliced`): each
//! slice is one core copy with its timeout set to the slice, and between slices the call looks
//! at signals and at the handle's closing flag. A dead writer ends the call at once (its evidence
//! is conclusive); a stuck one or a frame that kept changing is retried until the bound.

use std::sync::Arc;
use std::time::Duration;

use numpy::PyUntypedArray;
use pyo3::prelude::*;
use shmim_core::{Error, Metadata};

use crate::errors::{TornError, WriterDiedError, WriterStuckError};
use crate::frame::FrameShape;
use crate::reader::ReaderState;
use crate::shared::Shared;
use crate::stream::{BlockState, PyStream, StreamState, inside_block};
use crate::wait::{Between, Step, sliced};

/// What a consistent frame copy runs on: a stream's state or a reader's.
pub trait CopySource: Send {
    /// One slice: a consistent copy of a frame shaped `frame` into `buf`, bounded by `slice`.
    fn copy(
        &mut self,
        frame: &Arc<FrameShape>,
        slice: Duration,
        buf: &mut [u8],
    ) -> PyResult<Step<u64>>;

    /// Whether the copy must wait for another thread (its write block through the same handle).
    fn behind_block(&mut self) -> bool {
        false
    }
}

impl CopySource for StreamState {
    fn copy(
        &mut self,
        frame: &Arc<FrameShape>,
        slice: Duration,
        buf: &mut [u8],
    ) -> PyResult<Step<u64>> {
        if let Some(step) = facing_block(self, "read")? {
            return Ok(step);
        }
        if !Arc::ptr_eq(frame, &self.frame) {
            // Another thread reopened the handle on a new file since the read began.
            return Err(pyo3::exceptions::PyValueError::new_err(
                "the stream was reopened (by another thread) during this read",
            ));
        }
        let st = self.stream_mut()?;
        st.set_read_timeout(slice);
        Step::of_read(st.read_bytes_into(buf))
    }

    fn behind_block(&mut self) -> bool {
        self.block() == BlockState::Other
    }
}

impl CopySource for ReaderState {
    fn copy(
        &mut self,
        _frame: &Arc<FrameShape>,
        slice: Duration,
        buf: &mut [u8],
    ) -> PyResult<Step<u64>> {
        let r = self.reader_mut()?;
        r.set_read_timeout(slice);
        Step::of_read(r.read_bytes_into(buf))
    }
}

/// A consistent read of a stream facing the handle's own write block, if one is open. Inside the
/// block (this thread's) no read can succeed until the block ends: refused at once. Another
/// thread's block is a writer mid-frame, as another handle's would be: the read waits for it to
/// end, until its bound (`WriterStuckError`). It waits with the lock released (a core read facing
/// the flag would hold it for its whole slice, and the writer could not leave its block): each
/// slice waits in `Shared::locked_after` for the block's end (`Write` notifies) and comes here
/// only once it ended or the slice ran out.
fn facing_block<T>(state: &StreamState, what: &str) -> PyResult<Option<Step<T>>> {
    match state.block() {
        BlockState::None => Ok(None),
        BlockState::Own => Err(inside_block(what)),
        BlockState::Other => Ok(Some(Step::Again(Error::WriterStuck {
            writer: i32::try_from(std::process::id()).unwrap_or(i32::MAX),
            waited: Duration::ZERO,
        }))),
    }
}

/// `read(out, timeout=...)` of a stream or reader whose frames are `frame`: a consistent copy
/// into `out` (or a new array), trying for `bound` seconds in slices; the array and the frame
/// number.
pub fn frame<'py, T: CopySource>(
    py: Python<'py>,
    shared: &Shared<T>,
    frame: &Arc<FrameShape>,
    out: Option<&Bound<'py, PyAny>>,
    bound: f64,
) -> PyResult<(Bound<'py, PyUntypedArray>, u64)> {
    let bound = crate::time::read_timeout(bound)?;
    let mut dest = frame.destination(py, out)?;
    let buf = dest.bytes();
    let between = Between {
        open: shared.open_flag(),
        watch: None,
    };
    let number = sliced(py, Some(bound), between, |slice| {
        shared.locked_after(slice, T::behind_block, |source, rest| {
            source.copy(frame, rest, buf)
        })
    })?;
    Ok((dest.into_array(), number))
}

/// `Stream.metadata`: a consistent copy, or (writer stuck or dead, or frames that kept changing
/// for the whole bound) the header as it is.
pub fn metadata(stream: &PyStream, py: Python<'_>) -> PyResult<Metadata> {
    let own_block = stream.state.with(py, |s| s.block() == BlockState::Own);
    let snapshot = || stream.with_stream(py, |s| Ok(s.metadata_snapshot()));
    if own_block {
        // This thread holds the flag itself: no consistent copy can succeed until it leaves its
        // block.
        return snapshot();
    }
    let between = Between {
        open: stream.state.open_flag(),
        watch: None,
    };
    let bound = crate::time::read_timeout(stream.read_timeout.get())?;
    let copied = sliced(py, Some(bound), between, |slice| {
        stream
            .state
            .locked_after(slice, StreamState::behind_block, |s, rest| {
                if let Some(step) = facing_block(s, "read the metadata")? {
                    return Ok(step);
                }
                let st = s.stream_mut()?;
                st.set_read_timeout(rest);
                Step::of_read(st.metadata())
            })
    });
    match copied {
        Err(e)
            if e.is_instance_of::<WriterStuckError>(py)
                || e.is_instance_of::<WriterDiedError>(py)
                || e.is_instance_of::<TornError>(py) =>
        {
            snapshot()
        }
        other => other,
    }
}
