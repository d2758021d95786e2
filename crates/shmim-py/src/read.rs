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
use shmim_core::Metadata;

use crate::errors::{TornError, WriterDiedError, WriterStuckError};
use crate::frame::FrameShape;
use crate::reader::ReaderState;
use crate::shared::Shared;
use crate::stream::{PyStream, StreamState};
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
}

impl CopySource for StreamState {
    fn copy(
        &mut self,
        frame: &Arc<FrameShape>,
        slice: Duration,
        buf: &mut [u8],
    ) -> PyResult<Step<u64>> {
        self.not_writing("read")?;
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
        shared.locked(|source| source.copy(frame, slice, buf))
    })?;
    Ok((dest.into_array(), number))
}

/// `Stream.metadata`: a consistent copy, or (writer stuck or dead, or frames that kept changing
/// for the whole bound) the header as it is.
pub fn metadata(stream: &PyStream, py: Python<'_>) -> PyResult<Metadata> {
    let own_block = stream.state.with(py, |s| s.held.is_some());
    let snapshot = || stream.with_stream(py, |s| Ok(s.metadata_snapshot()));
    if own_block {
        // This handle holds the flag itself: no consistent copy can succeed until its block ends.
        return snapshot();
    }
    let between = Between {
        open: stream.state.open_flag(),
        watch: None,
    };
    let bound = crate::time::read_timeout(stream.read_timeout.get())?;
    let copied = sliced(py, Some(bound), between, |slice| {
        stream.state.locked(|s| {
            let st = s.stream_mut()?;
            st.set_read_timeout(slice);
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
