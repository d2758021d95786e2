//! Loom model: a reader copying one circular-buffer slot while the writer goes on writing the
//! next frames into the others.
//!
//! Two slots, frame `k` in slot `(k - 1) mod 2`; writers write frames under the shipped write
//! protocol (one writer writing frames 1 to 3, or two writers taking turns through the flag), so
//! frame 3 rewrites frame 1's slot. The reader copies the newest frame it sees published and
//! keeps the copy only if [`seqlock::newest_frame_touched`] says no write of that slot can have
//! overlapped it. A kept copy must hold exactly its frame's words, and some execution must
//! refuse a copy (else the model saw no overlap and proves nothing). The same models with the
//! bound one frame too lax (forgetting the write that may be in progress), without the fence,
//! or with an acquire load in place of the fence must fail: the model sees the tear the rule
//! guards against.
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

mod support;

use std::sync::atomic::AtomicUsize;

use loom::sync::Arc;
use loom::sync::atomic::AtomicU64;
use loom::sync::atomic::Ordering::{Acquire, Relaxed};
use shmim_sync::seqlock;
use support::loom_stream::{self, assert_whole, pixel};

const WORDS: usize = 2;
const SLOTS: u64 = 2;

type Stream = loom_stream::Stream<[[AtomicU64; WORDS]; SLOTS as usize]>;

/// The bound under test: the newest frame a write of which the copy may have seen.
type Bound = fn(&Stream) -> u64;

fn shipped(s: &Stream) -> u64 {
    seqlock::newest_frame_touched(&s.cnt0, &s.write)
}

fn new_stream() -> Stream {
    Stream::with_pixels(std::array::from_fn(|_| {
        std::array::from_fn(|i| AtomicU64::new(pixel(0, i)))
    }))
}

fn slot(frame: u64) -> usize {
    ((frame - 1) % SLOTS) as usize
}

/// Writer `me`'s whole turn for the next frame: begin (waiting for another writer's turn to
/// end), fill its slot, publish.
fn write_frame(s: &Stream, me: i32) {
    while s.flag().begin(me, |_| false).is_err() {
        loom::thread::yield_now();
    }
    let frame = s.cnt0.load(Relaxed) + 1;
    for (i, p) in s.pixels[slot(frame)].iter().enumerate() {
        p.store(pixel(frame, i), Relaxed);
    }
    assert_eq!(s.flag().publish(me), frame);
}

/// Copies the newest published frame's slot; `Some` when `bound` keeps the copy, and counts the
/// copies refused in `refused`.
fn read_newest(s: &Stream, bound: Bound, refused: &AtomicUsize) -> Option<(u64, [u64; WORDS])> {
    let frame = s.cnt0.load(Acquire);
    if frame == 0 {
        return None;
    }
    let words = std::array::from_fn(|i| s.pixels[slot(frame)][i].load(Relaxed));
    if bound(s) - frame < SLOTS {
        Some((frame, words))
    } else {
        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        None
    }
}

/// Runs the model with `writers` (writer ids, frames each) against one reader.
fn model(bound: Bound, writers: &'static [(i32, usize)]) {
    // Across executions (a plain atomic: loom resets its own between them).
    let refused = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = refused.clone();
    loom::model(move || {
        let s = Arc::new(new_stream());
        let threads: Vec<_> = writers
            .iter()
            .map(|&(me, frames)| {
                let s = s.clone();
                loom::thread::spawn(move || {
                    for _ in 0..frames {
                        write_frame(&s, me);
                    }
                })
            })
            .collect();
        // Lets the writers run first in some schedules: without it loom explored only the one
        // where the reader looks before any writer starts.
        loom::thread::yield_now();
        if let Some((frame, words)) = read_newest(&s, bound, &counted) {
            assert_whole(frame, words);
        }
        for t in threads {
            t.join().unwrap();
        }
    });
    assert!(
        refused.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no execution overlapped a copy with a write of its slot: the model proves nothing"
    );
}

const ONE_WRITER: &[(i32, usize)] = &[(10, 3)];
const TWO_WRITERS: &[(i32, usize)] = &[(10, 2), (20, 1)];

#[test]
fn a_kept_slot_copy_is_never_torn_by_the_writer_going_round() {
    model(shipped, ONE_WRITER);
}

#[test]
fn a_kept_slot_copy_is_never_torn_by_writers_taking_turns() {
    model(shipped, TWO_WRITERS);
}

#[test]
#[should_panic(expected = "accepted frame")]
fn the_model_rejects_a_bound_that_forgets_the_write_in_progress() {
    model(
        |s| {
            loom::sync::atomic::fence(Acquire);
            s.cnt0.load(Relaxed)
        },
        ONE_WRITER,
    );
}

#[test]
#[should_panic(expected = "accepted frame")]
fn the_model_rejects_a_bound_without_the_fence() {
    model(|s| s.cnt0.load(Relaxed) + 1, ONE_WRITER);
}

#[test]
#[should_panic(expected = "accepted frame")]
fn the_model_rejects_an_acquire_load_in_place_of_the_fence() {
    model(|s| s.cnt0.load(Acquire) + 1, ONE_WRITER);
}
