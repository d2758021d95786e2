//! Waiting for a semaphore post, whatever it brings: the legacy wait semantics.
//!
//! The frame waits of [`Reader`] ([`Reader::wait`] and the others) return only a frame they have
//! not returned before, and consume a post that brings none: a post is a hint, a frame is its
//! `cnt0`. The legacy C library's waits are different: `ImageStreamIO_semwait` returns for every
//! post, frame or not. milk relies on that with *bare posts*, posts without a frame: `imsetsempost`
//! wakes a stream's readers by hand, and `sempost_loop` posts a stream every millisecond as a clock
//! for processes that wait on it. A frame wait swallows those posts and sleeps on.
//!
//! [`Reader::wait_post`], [`Reader::wait_post_timeout`] and [`Reader::try_wait_post`] keep the
//! legacy meaning: each returns after taking **one** post, any post, and says what it found
//! ([`Woken`]). They keep everything else of the frame waits: the same slot and semaphore, timed
//! slices with the replacement check (`Replaced` / `Removed` within 100 ms, and a post on a file
//! whose `READY` bit was cleared is a replacement, not a wake-up), and a post that does bring a
//! new frame counts that frame as returned, so a later frame wait does not return it again.
//! Compatibility layers that emulate `semwait`, `semtimedwait` and `semtrywait` use these.

use std::time::Duration;

use crate::error::Result;
use crate::mapping::Mapping;
use crate::reader::{Frames, Reader};

/// What a post wait woke for: the post it took, and the frame counter then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Woken {
    /// The frame counter (`cnt0`) when the post was taken.
    pub cnt0: u64,
    /// Whether `cnt0` is a frame this reader had not returned yet (now it has). False for a bare
    /// post (no frame published with it), or a post whose frame a busy-poll already returned.
    pub new_frame: bool,
}

impl Woken {
    /// The post waits' `OnPost`: every post ends the wait.
    fn taken(frames: &mut Frames, map: &Mapping) -> Option<Self> {
        Some(match frames.new_frame(map) {
            Some(cnt0) => Self {
                cnt0,
                new_frame: true,
            },
            None => Self {
                cnt0: frames.last,
                new_frame: false,
            },
        })
    }
}

impl Reader {
    /// Blocks until a post arrives on this reader's semaphore, a frame's or a bare one, and takes
    /// it (the legacy `semwait`). [`Replaced`](crate::Error::Replaced) or
    /// [`Removed`](crate::Error::Removed) within 100 ms of the stream being re-created or deleted.
    pub fn wait_post(&mut self) -> Result<Woken> {
        self.wait_for(None, Woken::taken)
    }

    /// Like [`Self::wait_post`], for at most `timeout` ([`Timeout`](crate::Error::Timeout) after
    /// it; the legacy `semtimedwait`).
    pub fn wait_post_timeout(&mut self, timeout: Duration) -> Result<Woken> {
        self.wait_for(Some(timeout), Woken::taken)
    }

    /// Takes a pending post, if there is one, without blocking (the legacy `semtrywait`).
    pub fn try_wait_post(&mut self) -> Result<Option<Woken>> {
        self.take_pending(Woken::taken)
    }
}
