//! Loom model: two writers racing for the write flag.
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

mod support;

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::Ordering::Relaxed;
use support::loom_stream;

/// The pixels are one non-atomic word: loom reports any access not ordered by the flag.
type Stream = loom_stream::Stream<UnsafeCell<u64>>;

#[test]
fn exactly_one_of_two_racing_writers_wins_begin() {
    loom::model(|| {
        let s = Arc::new(Stream::with_pixels(UnsafeCell::new(0)));
        let racers: Vec<_> = [1, 2]
            .into_iter()
            .map(|me| {
                let s = s.clone();
                loom::thread::spawn(move || s.flag().begin(me, |_| false).map(|()| me))
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<i32> = results.iter().filter_map(|r| r.ok()).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        assert_eq!(s.write.load(Relaxed), 1);
        assert_eq!(s.claim.load(Relaxed), winners[0]);
    });
}

#[test]
fn writers_that_retry_begin_are_serialised() {
    loom::model(|| {
        let s = Arc::new(Stream::with_pixels(UnsafeCell::new(0)));
        let writers: Vec<_> = [1, 2]
            .into_iter()
            .map(|me| {
                let s = s.clone();
                loom::thread::spawn(move || {
                    while s.flag().begin(me, |_| false).is_err() {
                        loom::thread::yield_now();
                    }
                    // SAFETY: exclusive by the flag, and ordered after the previous writer's
                    // frame by begin's Acquire (pairs with publish's Release of write = 0).
                    s.pixels.with_mut(|d| unsafe { *d += 1 });
                    s.flag().publish(me)
                })
            })
            .collect();
        let mut frames: Vec<u64> = writers.into_iter().map(|t| t.join().unwrap()).collect();
        frames.sort_unstable();
        assert_eq!(
            frames,
            [1, 2],
            "each publish returns its own new frame number"
        );
        // SAFETY: every writer has been joined.
        assert_eq!(s.pixels.with(|d| unsafe { *d }), 2);
        assert_eq!(s.write.load(Relaxed), 0);
        assert_eq!(s.claim.load(Relaxed), 0, "each publish cleared its claim");
    });
}
