//! Taking each new frame of a stream once, paced by its writer, and counting the ones missed.
//!
//! A registered reader waits on its semaphore; after a post it copies a frame (with its stamp,
//! [`crate::frame`]). The frames published between two it took are the ones it missed: `cnt0`
//! gaps, counted from the frame current when it registered. A copy that fails because the writer
//! kept the frame busy is no frame: the next gap counts it.
//!
//! **Without a circular buffer** only the newest frame is there to copy: after a post the taker
//! copies it, and posts for frames it already has (the semaphore counts posts, the copy takes the
//! newest frame) are passed over.
//!
//! **With a circular buffer** every frame is still in its slot until the writer goes round the
//! buffer, so the taker takes them one by one, in order: whenever `cnt0` is past the last frame
//! it took, it takes the next one from its slot ([`crate::backlog`], which copies a slot while
//! the writer fills another), and it blocks on the semaphore only when it has taken everything
//! published. The writer fills a slot before it publishes the frame, so a frame counted in
//! `cnt0` is in its slot; a burst of frames whose posts arrive together is taken whole, the last
//! one included, without waiting for a later frame. Frames the writer overwrote before the taker
//! came to them are counted missed (the taker then starts a few frames into what the buffer
//! still holds); a slot that does not hold its frame (a writer that does not record slot
//! metadata) sends the taker to the newest frame, as without a buffer.
//!
//! The reader's own idea of the last frame (what its waits compare `cnt0` with) and the taker's
//! can differ here: a wait notes the newest frame, slots are taken after it. That only costs a
//! wake-up that brings nothing (a post for a frame already taken from its slot): the taker never
//! blocks while `cnt0` is past its last frame, so no post it needs is swallowed.

use std::time::Duration;

use shmim_core::{Reader, Stream};

use crate::backlog::{self, Backlog, Slot};
use crate::error::{Error, Result};
use crate::frame::{FrameBuf, Stamp, read_through};

/// A registered reader taking each new frame once.
pub(crate) struct Taker<'s> {
    stream: &'s Stream,
    reader: Reader,
    last: u64,
    /// The circular buffer, when the stream has one.
    backlog: Option<Backlog>,
    /// `cnt0` when a copy last gave up on a writer that kept the stream busy (stuck, or dead
    /// holding its flag): while the flag stays set and `cnt0` there, another copy would spin
    /// through another read timeout for nothing, so the taker waits on its semaphore instead.
    stalled_at: Option<u64>,
    /// Copies that gave up on a busy writer (for the tests).
    #[cfg(test)]
    gave_up: u32,
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
            backlog: (stream.geometry().cb_size > 0).then(|| Backlog::new(stream)),
            stalled_at: None,
            #[cfg(test)]
            gave_up: 0,
        })
    }

    /// Copies the next frame into `buf` (one frame long), waiting up to `poll` for one when every
    /// frame published is taken; `None` when none came, the post was for a frame already taken,
    /// or the writer kept the frame busy.
    pub(crate) fn next(&mut self, poll: Duration, buf: &mut FrameBuf) -> Result<Option<Taken>> {
        // While a writer holds the stream as it did when a copy gave up on it, wait for its
        // post; a frame that ends the stall is taken at once (its post is spent).
        let came = if self.stalled() {
            if !self.wait(poll)? || self.stalled() {
                return Ok(None);
            }
            true
        } else {
            false
        };
        let behind = self.backlog.is_some() && self.stream.cnt0() > self.last;
        if !behind && !came && !self.wait(poll)? {
            return Ok(None);
        }
        let Some(backlog) = self.backlog.as_mut() else {
            return self.take_newest(buf);
        };
        match backlog.next_after(self.stream, self.last, buf)? {
            Slot::Frame(stamp) => Ok(self.took(stamp)),
            Slot::Nothing => Ok(None),
            Slot::NotHeld | Slot::Overtaken => self.take_newest(buf),
            Slot::Busy => {
                self.give_up();
                Ok(None)
            }
        }
    }

    /// Whether the writer still holds the stream as it did when a copy last gave up on it.
    fn stalled(&mut self) -> bool {
        let Some(at) = self.stalled_at else {
            return false;
        };
        let still = self.stream.is_writing() && self.stream.cnt0() == at;
        if !still {
            self.stalled_at = None;
        }
        still
    }

    /// A copy gave up on a busy writer: remember where the stream was.
    fn give_up(&mut self) {
        self.stalled_at = Some(self.stream.cnt0());
        #[cfg(test)]
        {
            self.gave_up += 1;
        }
    }

    /// Waits up to `poll` for a post bringing a frame after the last one taken.
    fn wait(&mut self, poll: Duration) -> Result<bool> {
        match self.reader.wait_timeout(poll) {
            Ok(frame) => Ok(frame > self.last),
            Err(shmim_core::Error::Timeout(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The stream's newest frame, through the reader.
    fn take_newest(&mut self, buf: &mut FrameBuf) -> Result<Option<Taken>> {
        let stamp = match read_through(self.stream, &mut self.reader, buf) {
            Ok(stamp) => stamp,
            Err(Error::Stream(e)) if backlog::busy(&e) => {
                self.give_up();
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        Ok(self.took(stamp))
    }

    /// Records `stamp` as taken, with the frames missed since the last one; `None` for a frame
    /// not after the last one taken (a post for a frame already taken, or a header whose `cnt0`
    /// went back).
    fn took(&mut self, stamp: Stamp) -> Option<Taken> {
        let missed = stamp.cnt0.checked_sub(self.last)?.checked_sub(1)?;
        self.last = stamp.cnt0;
        Some(Taken { stamp, missed })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shmim_core::{Datatype, Stream, StreamSpec};

    use super::{Taken, Taker};
    use crate::frame::FrameBuf;

    /// One call of the logger's loop with a short poll.
    fn poll(taker: &mut Taker<'_>, buf: &mut FrameBuf) -> Option<Taken> {
        taker.next(Duration::from_millis(5), buf).unwrap()
    }

    #[test]
    fn a_stuck_writer_costs_one_read_timeout_then_the_taker_waits_on_its_semaphore() {
        let (dir, mut w, r) = stream("stuck", 4);
        let mut taker = Taker::new(&r).unwrap();
        let mut buf = FrameBuf::new(8, &dir).unwrap();
        for f in 1..=3u16 {
            w.write_frame(&[f; 4]).unwrap();
        }
        // A writer that holds its flag and publishes nothing (stuck, or dead holding it) while
        // the taker is behind: each call used to spin through a whole read timeout finding
        // where the buffer's frames are.
        let guard = w.write().unwrap();
        for _ in 0..5 {
            assert!(poll(&mut taker, &mut buf).is_none());
        }
        assert_eq!(taker.gave_up, 1, "one read gave up; the next calls waited");
        guard.commit().unwrap();
        let taken = poll(&mut taker, &mut buf).unwrap();
        assert_eq!((taken.stamp.cnt0, taken.missed), (1, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A stream in a directory of its own, and a handle on it with a short read timeout.
    fn stream(tag: &str, cb: u32) -> (std::path::PathBuf, Stream, Stream) {
        let dir = std::env::temp_dir().join(format!("shmim-fits-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = StreamSpec::new(&[4], Datatype::U16)
            .circular_buffer(cb)
            .dir(&dir);
        let w = Stream::create("s", &spec).unwrap();
        let mut r = Stream::open_in(&dir, "s").unwrap();
        r.set_read_timeout(Duration::from_millis(20));
        (dir, w, r)
    }

    #[test]
    fn the_frame_that_ends_a_stall_is_taken_at_once() {
        // No circular buffer: only the newest frame is there, and its post is the only news.
        let (dir, mut w, r) = stream("stall-end", 0);
        let mut taker = Taker::new(&r).unwrap();
        let mut buf = FrameBuf::new(8, &dir).unwrap();
        w.write_frame(&[1u16; 4]).unwrap();
        let guard = w.write().unwrap();
        assert!(poll(&mut taker, &mut buf).is_none());
        assert_eq!(taker.gave_up, 1);
        // Stalled, the taker waits for the writer's post; the writer publishes frame 2 during
        // that wait and goes quiet: the call whose wait it ends takes it.
        let taken = std::thread::scope(|scope| {
            scope.spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                guard.commit().unwrap();
            });
            taker.next(Duration::from_secs(10), &mut buf).unwrap()
        });
        let taken = taken.expect("the frame that ended the stall");
        assert_eq!((taken.stamp.cnt0, taken.missed), (2, 1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_writer_stuck_mid_write_costs_the_oldest_frame_only() {
        // 8 slots; frame 1 taken (the anchor read), then 2..=9 published: the slots hold them
        // all, 2 the oldest, whose slot the stuck write is filling.
        let (dir, mut w, r) = stream("stuck-edge", 8);
        let mut taker = Taker::new(&r).unwrap();
        let mut buf = FrameBuf::new(8, &dir).unwrap();
        w.write_frame(&[1u16; 4]).unwrap();
        let first = poll(&mut taker, &mut buf).unwrap();
        assert_eq!(first.stamp.cnt0, 1);
        for f in 2..=9u16 {
            w.write_frame(&[f; 4]).unwrap();
        }
        let _stuck = w.write().unwrap();
        let taken = poll(&mut taker, &mut buf).unwrap();
        assert_eq!((taken.stamp.cnt0, taken.missed), (3, 1));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
