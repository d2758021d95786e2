//! Loom model: a writer's begin/publish against a consistent reader.
//!
//! Pixels are two loom `AtomicU64` words written and read Relaxed (the `strict` copy); the write
//! flag, `cnt0` and `ownerPID` are loom atomics reached through [`shmim_sync::AtomicCell`], so the
//! protocol code under test is the shipped code. Frame `k` holds `pixel(k, i)` in word `i`; a
//! reader that accepts frame `c` must hold exactly frame `c`'s words: never a mix of two writes,
//! never a stale word of an earlier frame.
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

use loom::sync::Arc;
use loom::sync::atomic::Ordering::Relaxed;
use loom::sync::atomic::{AtomicI32, AtomicU8, AtomicU64};
use shmim_sync::spin::Spin;
use shmim_sync::{seqlock, write_flag};
use std::time::Duration;

const WORDS: usize = 3;

fn pixel(frame: u64, i: usize) -> u64 {
    (frame << 8) | i as u64
}

struct Stream {
    cnt0: AtomicU64,
    write: AtomicU8,
    owner: AtomicI32,
    pixels: [AtomicU64; WORDS],
}

impl Stream {
    fn new() -> Self {
        Self {
            cnt0: AtomicU64::new(0),
            write: AtomicU8::new(0),
            owner: AtomicI32::new(0),
            pixels: std::array::from_fn(|i| AtomicU64::new(pixel(0, i))),
        }
    }

    fn write_frame(&self, me: i32) {
        write_flag::begin(&self.write, &self.owner, me).expect("single writer");
        let next = self.cnt0.load(Relaxed) + 1;
        for (i, p) in self.pixels.iter().enumerate() {
            p.store(pixel(next, i), Relaxed);
        }
        assert_eq!(write_flag::publish(&self.cnt0, &self.write), next);
    }

    /// One consistent read through the shipped driver (its Spin yields to loom and gives up after
    /// a few pauses).
    fn read(&self) -> Option<(u64, [u64; WORDS])> {
        let mut copy = [0; WORDS];
        let mut spin = Spin::for_duration(Duration::from_secs(1));
        let c = seqlock::read(&self.cnt0, &self.write, &mut spin, || {
            for (dst, p) in copy.iter_mut().zip(&self.pixels) {
                *dst = p.load(Relaxed);
            }
        })
        .ok()?;
        Some((c, copy))
    }
}

fn assert_whole(c: u64, words: [u64; WORDS]) {
    for (i, w) in words.iter().enumerate() {
        assert_eq!(*w, pixel(c, i), "accepted frame {c} holds {words:x?}");
    }
}

#[test]
fn reader_never_accepts_a_torn_frame() {
    loom::model(|| {
        let s = Arc::new(Stream::new());
        let writer = {
            let s = s.clone();
            loom::thread::spawn(move || {
                s.write_frame(10);
                s.write_frame(10);
            })
        };
        if let Some((c, words)) = s.read() {
            assert_whole(c, words);
        }
        writer.join().unwrap();
        let (c, words) = s.read().expect("no writer left: the read must succeed");
        assert_eq!(c, 2);
        assert_whole(c, words);
    });
}

#[test]
fn begin_validate_pair_rejects_an_overlapping_write() {
    // The bare pair, without the retry driver: one attempt, checked exactly.
    loom::model(|| {
        let s = Arc::new(Stream::new());
        let writer = {
            let s = s.clone();
            loom::thread::spawn(move || s.write_frame(10))
        };
        if let Some(c) = seqlock::read_begin(&s.cnt0, &s.write) {
            let words: [u64; WORDS] = std::array::from_fn(|i| s.pixels[i].load(Relaxed));
            if seqlock::read_validate(&s.cnt0, &s.write, c) {
                assert_whole(c, words);
            }
        }
        writer.join().unwrap();
    });
}
