//! Loom model: a writer's begin/publish against a consistent reader.
//!
//! The stream is `support::loom_stream`'s: the write flag, `cnt0` and the claim words are loom atomics
//! reached through [`shmim_sync::AtomicCell`], so the protocol code under test is the shipped
//! code, and the pixels are `WORDS` loom words written and read Relaxed (the `strict` copy). A
//! reader that accepts frame `c` must hold exactly frame `c`'s words: never a mix of two writes,
//! never a stale word of an earlier frame.
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

mod support;

use loom::sync::Arc;
use loom::sync::atomic::AtomicU64;
use shmim_sync::seqlock;
use support::loom_stream::{self, assert_whole};

const WORDS: usize = 3;

type Stream = loom_stream::Stream<[AtomicU64; WORDS]>;

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
        if let Ok((c, words)) = s.read() {
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
            let words = s.copy_pixels();
            if seqlock::read_validate(&s.cnt0, &s.write, c) {
                assert_whole(c, words);
            }
        }
        writer.join().unwrap();
    });
}
