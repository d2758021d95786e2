//! Loom model: a reader copying one circular-buffer slot while the writer goes on writing the
//! next frames into the others.
//!
//! Two slots, frame `k` in slot `(k - 1) mod 2`; the writer writes frames 1 to 3 under the
//! shipped write protocol, so frame 3 rewrites frame 1's slot. The reader copies the newest frame
//! it sees published and keeps the copy only if [`seqlock::newest_frame_touched`] says no write
//! of that slot can have overlapped it. A kept copy must hold exactly its frame's words. The
//! same model with the bound one frame too lax (forgetting the write that may be in progress)
//! must fail: the model can see the tear the bound guards against.
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

mod support;

use loom::sync::Arc;
use loom::sync::atomic::AtomicU64;
use loom::sync::atomic::Ordering::{Acquire, Relaxed};
use shmim_sync::seqlock;
use support::loom_stream::{self, assert_whole, pixel};

const WORDS: usize = 2;
const SLOTS: u64 = 2;

type Stream = loom_stream::Stream<[[AtomicU64; WORDS]; SLOTS as usize]>;

fn new_stream() -> Stream {
    Stream::with_pixels(std::array::from_fn(|_| {
        std::array::from_fn(|i| AtomicU64::new(pixel(0, i)))
    }))
}

fn slot(frame: u64) -> usize {
    ((frame - 1) % SLOTS) as usize
}

/// The writer's whole turn for the next frame: begin, fill its slot, publish.
fn write_frame(s: &Stream) {
    let me = 10;
    s.flag().begin(me, |_| false).expect("single writer");
    let frame = s.cnt0.load(Relaxed) + 1;
    for (i, p) in s.pixels[slot(frame)].iter().enumerate() {
        p.store(pixel(frame, i), Relaxed);
    }
    assert_eq!(s.flag().publish(me), frame);
}

/// Copies the newest published frame's slot; `Some` when the copy is kept, by `newest_touched`.
fn read_newest(s: &Stream, newest_touched: fn(&Stream) -> u64) -> Option<(u64, [u64; WORDS])> {
    let frame = s.cnt0.load(Acquire);
    if frame == 0 {
        return None;
    }
    let words = std::array::from_fn(|i| s.pixels[slot(frame)][i].load(Relaxed));
    let n = newest_touched(s);
    (n - frame < SLOTS).then_some((frame, words))
}

fn model(newest_touched: fn(&Stream) -> u64) {
    loom::model(move || {
        let s = Arc::new(new_stream());
        let writer = {
            let s = s.clone();
            loom::thread::spawn(move || {
                for _ in 0..3 {
                    write_frame(&s);
                }
            })
        };
        // Lets the writer run first in some schedules: without it loom explored only the one
        // where the reader looks before the writer starts.
        loom::thread::yield_now();
        if let Some((frame, words)) = read_newest(&s, newest_touched) {
            assert_whole(frame, words);
        }
        writer.join().unwrap();
    });
}

#[test]
fn a_kept_slot_copy_is_never_torn_by_the_writer_going_round() {
    model(|s| seqlock::newest_frame_touched(&s.cnt0, &s.write));
}

#[test]
#[should_panic(expected = "accepted frame")]
fn the_model_rejects_a_bound_that_forgets_the_write_in_progress() {
    model(|s| {
        loom::sync::atomic::fence(Acquire);
        s.cnt0.load(Relaxed)
    });
}
