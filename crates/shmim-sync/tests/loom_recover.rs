//! Loom model: recovering a dead writer's flag never makes two writers.
//!
//! A writer (PID `DEAD`) took the flag at frame 0 and died: `write = 1`, claim `DEAD`, ticket 0.
//! Against that state run, all at once: two recoverers, a shmim writer inside its begin window,
//! and a legacy writer that stores `write` 1 then 0 plainly (it ignores the flag and the claim
//! words, as the legacy library does). Every shmim party that wins counts itself in a ghost
//! counter while it holds the flag, up to its publish: the counter never exceeds one.
//!
//! The shipped rule (`WriteFlag::recover`, `WriteFlag::begin`) is checked, and so is a broken
//! variant (judge the evidence, then take the flag over unconditionally) that the model must
//! reject: a model that cannot fail proves nothing.
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

mod support;

use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::{Relaxed, SeqCst};
use shmim_sync::write_flag::{Busy, Holder};
use support::loom_stream;

const DEAD: i32 = 7;
const RECOVERERS: [i32; 2] = [21, 22];
const WRITER: i32 = 30;

type Stream = loom_stream::Stream<()>;

fn is_dead(pid: i32) -> bool {
    pid == DEAD
}

/// The model's state: the stream and the ghost count of shmim parties holding the flag.
struct World {
    s: Stream,
    holders: AtomicUsize,
}

impl World {
    /// The flag a dead writer left: set at frame 0, claimed by `DEAD` with ticket 0.
    fn dead_writers_flag() -> Arc<Self> {
        let s = Stream::with_pixels(());
        s.write.store(1, Relaxed);
        s.claim.store(DEAD, Relaxed);
        Arc::new(Self {
            s,
            holders: AtomicUsize::new(0),
        })
    }

    /// After winning the flag as `me`: count ourselves while holding it, then publish.
    fn hold_and_publish(&self, me: i32) {
        let before = self.holders.fetch_add(1, SeqCst);
        assert_eq!(
            before, 0,
            "two holders of the write flag (the second is {me})"
        );
        loom::thread::yield_now();
        self.holders.fetch_sub(1, SeqCst);
        self.s.flag().publish(me);
    }
}

/// Runs the four parties; `recover` is the recovery under test.
fn model(recover: fn(&Stream, i32) -> Result<(), Busy>, legacy_writer: bool) {
    loom::model(move || {
        let w = World::dead_writers_flag();
        let mut parties = Vec::new();
        for me in RECOVERERS {
            let w = w.clone();
            parties.push(loom::thread::spawn(move || {
                if recover(&w.s, me).is_ok() {
                    w.hold_and_publish(me);
                }
            }));
        }
        {
            let w = w.clone();
            parties.push(loom::thread::spawn(move || {
                if w.s.flag().begin(WRITER, is_dead).is_ok() {
                    w.hold_and_publish(WRITER);
                }
            }));
        }
        if legacy_writer {
            // The legacy idiom around a frame: `write = 1`, copy, `write = 0` (its UpdateIm).
            w.s.write.store(1, Relaxed);
            w.s.write.store(0, Relaxed);
        }
        for p in parties {
            p.join().unwrap();
        }
    });
}

fn shipped(s: &Stream, me: i32) -> Result<(), Busy> {
    s.flag().recover(me, is_dead)
}

/// The defect the claim rule fixes: judge, then take over with no single decision.
fn check_then_take_over(s: &Stream, me: i32) -> Result<(), Busy> {
    match s.flag().holder(is_dead) {
        Holder::Died { .. } => {
            s.flag().force(me);
            Ok(())
        }
        Holder::Nobody => s.flag().begin(me, is_dead),
        Holder::Stuck { claim } => Err(Busy { claim }),
    }
}

#[test]
fn two_recoverers_and_a_writer_in_its_begin_window_never_hold_the_flag_together() {
    model(shipped, false);
}

#[test]
fn a_legacy_writer_clearing_the_flag_plainly_still_never_makes_two_shmim_holders() {
    model(shipped, true);
}

#[test]
#[should_panic(expected = "two holders")]
fn the_model_rejects_check_then_take_over() {
    model(check_then_take_over, false);
}
