//! The stream the loom models share: the protocol fields as loom atomics, reached by the shipped
//! protocol code through [`shmim_sync::AtomicCell`], and the pixels.
//!
//! Pixel words are loom `AtomicU64`s written and read Relaxed (the `strict` copy). Frame `k` holds
//! `pixel(k, i)` in word `i`; a reader that accepts frame `c` must hold exactly frame `c`'s words:
//! never a mix of two writes, never a stale word of an earlier frame.

use loom::sync::atomic::Ordering::Relaxed;
use loom::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64};
use shmim_sync::seqlock;
use shmim_sync::spin::Spin;
use shmim_sync::write_flag::WriteFlag;
use std::time::Duration;

/// Word `i` of frame `frame`.
pub fn pixel(frame: u64, i: usize) -> u64 {
    (frame << 8) | i as u64
}

/// The write protocol over a model stream's loom atomics.
pub type Flag<'a> = WriteFlag<'a, AtomicU8, AtomicU64, AtomicI32, AtomicU32>;

/// A stream reduced to what the protocols touch: `cnt0`, the write flag, the claim PID and
/// ticket, and the pixels `P`.
pub struct Stream<P> {
    pub cnt0: AtomicU64,
    pub write: AtomicU8,
    pub claim: AtomicI32,
    pub ticket: AtomicU32,
    pub pixels: P,
}

impl<P> Stream<P> {
    /// No frame published yet, no writer, and `pixels`.
    pub fn with_pixels(pixels: P) -> Self {
        Self {
            cnt0: AtomicU64::new(0),
            write: AtomicU8::new(0),
            claim: AtomicI32::new(0),
            ticket: AtomicU32::new(0),
            pixels,
        }
    }

    /// The shipped write protocol on this stream's words.
    pub fn flag(&self) -> Flag<'_> {
        WriteFlag {
            write: &self.write,
            cnt0: &self.cnt0,
            claim: &self.claim,
            ticket: &self.ticket,
        }
    }
}

impl<const WORDS: usize> Stream<[AtomicU64; WORDS]> {
    /// Frame 0 in the pixels, not published, no writer.
    pub fn new() -> Self {
        Self::with_pixels(std::array::from_fn(|i| AtomicU64::new(pixel(0, i))))
    }

    /// A writer's whole turn: begin, write frame `cnt0 + 1`, publish it.
    pub fn write_frame(&self, me: i32) {
        self.flag().begin(me, |_| false).expect("single writer");
        let next = self.cnt0.load(Relaxed) + 1;
        assert_eq!(self.write_and_publish(me, next), next);
    }

    /// Writes frame `frame` whole and publishes it, by writer `me` that holds the flag; returns
    /// the frame number `publish` gives.
    pub fn write_and_publish(&self, me: i32, frame: u64) -> u64 {
        for (i, p) in self.pixels.iter().enumerate() {
            p.store(pixel(frame, i), Relaxed);
        }
        self.flag().publish(me)
    }

    /// The pixel words, as a reader copies them (not validated).
    pub fn copy_pixels(&self) -> [u64; WORDS] {
        std::array::from_fn(|i| self.pixels[i].load(Relaxed))
    }

    /// One consistent read through the shipped driver (its Spin yields to loom and gives up after
    /// a few pauses): the accepted frame's number and words.
    pub fn read(&self) -> Result<(u64, [u64; WORDS]), seqlock::Contention> {
        let mut copy = [0; WORDS];
        let mut spin = Spin::for_duration(Duration::from_secs(1));
        let c = seqlock::read(&self.cnt0, &self.write, &mut spin, || {
            copy = self.copy_pixels();
        })?;
        Ok((c, copy))
    }
}

/// Asserts that the words a reader accepted as frame `c` are exactly frame `c`'s.
pub fn assert_whole<const WORDS: usize>(c: u64, words: [u64; WORDS]) {
    for (i, w) in words.iter().enumerate() {
        assert_eq!(*w, pixel(c, i), "accepted frame {c} holds {words:x?}");
    }
}
