//! Taking each new frame of a stream once, paced by its writer, and counting the ones missed.
//!
//! A registered reader waits on its semaphore; after a post it copies the current frame (with
//! its stamp, [`crate::frame`]). Posts for frames it already has (the semaphore counts posts,
//! the copy takes the newest frame) are passed over, and the frames published between two it
//! took are the ones it missed: `cnt0` gaps, counted from the frame current when it registered.
//! A copy that fails because the writer kept the frame busy is no frame: the next gap counts it.
//! A stream with a circular buffer still holds the frames of a gap while the writer has not gone
//! round it: those are taken from there first, oldest first ([`crate::backlog`]), so a reader
//! that falls behind for less than the buffer's length misses nothing.

use std::time::Duration;

use shmim_core::{Reader, Stream};

use crate::backlog;
use crate::error::{Error, Result};
use crate::frame::{FrameBuf, Stamp, read_through};

/// A registered reader taking each new frame once.
pub(crate) struct Taker<'s> {
    stream: &'s Stream,
    reader: Reader,
    last: u64,
}

/// A frame taken, and how many were published since the previous one without being taken.
pub(crate) struct Taken {
    pub(crate) stamp: Stamp,
    pub(crate) missed: u64,
}

impl<'s> Taker<'s> {
    /// Registers on `stream`; frames published before are not taken.
    pub(crate) fn new(stream: &'s Stream) -> Result<Self> {
        let reader = stream.reader()?;
        let last = reader.last_frame();
        Ok(Self {
            stream,
            reader,
            last,
        })
    }

    /// Waits up to `poll` for a new frame and copies it into `buf` (one frame long); `None` when
    /// none came or the post was for a frame already taken.
    pub(crate) fn next(&mut self, poll: Duration, buf: &mut FrameBuf) -> Result<Option<Taken>> {
        if let Some(taken) = self.take_backlog(buf)? {
            return Ok(Some(taken));
        }
        match self.reader.wait_timeout(poll) {
            Ok(frame) if frame <= self.last => return Ok(None),
            Ok(_) => {}
            Err(shmim_core::Error::Timeout(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        if let Some(taken) = self.take_backlog(buf)? {
            return Ok(Some(taken));
        }
        let stamp = match read_through(self.stream, &mut self.reader, buf) {
            Ok(stamp) => stamp,
            Err(Error::Stream(
                shmim_core::Error::Torn { .. }
                | shmim_core::Error::WriterStuck { .. }
                | shmim_core::Error::WriterDied { .. },
            )) => return Ok(None),
            Err(e) => return Err(e),
        };
        if stamp.cnt0 <= self.last {
            return Ok(None);
        }
        Ok(Some(self.took(stamp)))
    }

    /// The oldest frame of a gap, if the stream's circular buffer still holds it.
    fn take_backlog(&mut self, buf: &mut FrameBuf) -> Result<Option<Taken>> {
        if self.stream.geometry().cb_size == 0 {
            return Ok(None);
        }
        Ok(backlog::oldest_after(self.stream, self.last, buf)?.map(|stamp| self.took(stamp)))
    }

    fn took(&mut self, stamp: Stamp) -> Taken {
        let missed = stamp.cnt0 - self.last - 1;
        self.last = stamp.cnt0;
        Taken { stamp, missed }
    }
}
