//! Loom models: the registry of abandoned flags (`shmim_sync::abandoned`) never makes two holders
//! in one process, and a forked child neither sees its parent's records nor waits on its lock.
//!
//! A process is its PID here: every call passes one, as the shipped code passes
//! `pid::current()`. "Handles" of a process are threads that use the same PID and registry; a
//! forked child is threads with another PID that find the parent's registry as the fork left it.
//! Every party that takes the flag counts itself in a ghost counter while it holds it, up to its
//! publish: the counter never exceeds one.
//!
//! Broken variants the models must reject (a model that cannot fail proves nothing): a recovery
//! that leaves the abandon record behind (what `recover_writer(false)` did: a second handle then
//! adopted the flag the recoverer was writing under), and process-wide state behind a plain lock
//! (a child hangs on the lock a parent thread held at the fork).
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

mod support;

use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::{Relaxed, SeqCst};
use loom::sync::{Arc, Mutex, MutexGuard};
use shmim_sync::abandoned::{Abandoned, Take};
use shmim_sync::fork_local::ForkLocal;
use shmim_sync::write_flag::Busy;
use std::sync::TryLockResult;
use support::loom_stream;

/// The process that abandoned the frame.
const ME: i32 = 10;
/// Another process, dead by now.
const DEAD: i32 = 20;
/// The stream file.
const FILE: u8 = 1;

type Stream = loom_stream::Stream<()>;

fn file() -> Option<u8> {
    Some(FILE)
}

fn is_dead(pid: i32) -> bool {
    pid == DEAD
}

/// The model's state: the stream, the process's registry, and the ghost count of holders.
struct World {
    s: Stream,
    registry: Abandoned<u8>,
    holders: AtomicUsize,
}

impl World {
    /// `abandoner` took the flag at frame 0 and abandoned it: set, claimed by it, recorded in its
    /// registry.
    fn abandoned_by(abandoner: i32) -> Arc<Self> {
        let w = Self {
            s: Stream::with_pixels(()),
            registry: Abandoned::new(),
            holders: AtomicUsize::new(0),
        };
        w.s.flag().begin(abandoner, is_dead).unwrap();
        w.registry.remember(abandoner, FILE, &w.s.flag());
        Arc::new(w)
    }

    /// After taking the flag as `me`: count ourselves while holding it, then publish.
    fn hold_and_publish(&self, me: i32) {
        let before = self.holders.fetch_add(1, SeqCst);
        assert_eq!(before, 0, "two holders of the write flag in process {me}");
        loom::thread::yield_now();
        self.holders.fetch_sub(1, SeqCst);
        self.s.flag().publish(me);
    }

    /// A handle of process `me` taking the flag as `how`, through the registry.
    fn take(&self, how: Take, me: i32) -> Result<(), Busy> {
        self.registry.take(how, me, file, &self.s.flag(), is_dead)
    }
}

/// Runs `parties` (each takes the flag its way and, if it won, holds and publishes) on `w`.
fn run(w: &Arc<World>, parties: Vec<(i32, fn(&World, i32) -> Result<(), Busy>)>) {
    let threads: Vec<_> = parties
        .into_iter()
        .map(|(me, take)| {
            let w = w.clone();
            loom::thread::spawn(move || {
                if take(&w, me).is_ok() {
                    w.hold_and_publish(me);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn begin(w: &World, me: i32) -> Result<(), Busy> {
    w.take(Take::Begin, me)
}

fn recover(w: &World, me: i32) -> Result<(), Busy> {
    w.take(Take::Recover, me)
}

/// The defect: a recovery that does not consume this process's record of the file.
fn recover_leaving_the_record(w: &World, me: i32) -> Result<(), Busy> {
    w.s.flag().recover(me, is_dead)
}

#[test]
fn two_handles_adopting_an_abandoned_frame_never_both_hold_the_flag() {
    loom::model(|| {
        let w = World::abandoned_by(ME);
        run(&w, vec![(ME, begin), (ME, begin)]);
        // The first to look adopts the frame; the other is refused, or writes the next one.
        assert!(
            w.s.cnt0.load(Relaxed) >= 1,
            "the abandoned frame was resumed"
        );
    });
}

/// Our abandoned flag was forced by another process, which died holding it (the ticket is still
/// the one of our record). One handle recovers it while another writes.
fn model_recovery_against_an_adopter(recover: fn(&World, i32) -> Result<(), Busy>) {
    loom::model(move || {
        let w = World::abandoned_by(ME);
        w.s.flag().force(DEAD);
        run(&w, vec![(ME, recover), (ME, begin)]);
    });
}

#[test]
fn a_recovery_of_our_abandoned_flag_leaves_nothing_for_another_handle_to_adopt() {
    model_recovery_against_an_adopter(recover);
}

#[test]
#[should_panic(expected = "two holders")]
fn the_model_rejects_a_recovery_that_leaves_the_record_behind() {
    model_recovery_against_an_adopter(recover_leaving_the_record);
}

/// The parent abandoned a frame and died (a daemon's parent exits after the fork); two threads
/// of the child, which inherited the parent's registry, recover and write.
#[test]
fn a_forked_child_never_adopts_its_parents_abandoned_frame() {
    const CHILD: i32 = 30;
    loom::model(|| {
        let w = World::abandoned_by(DEAD);
        run(&w, vec![(CHILD, recover), (CHILD, begin)]);
        assert!(w.s.cnt0.load(Relaxed) >= 1, "the recoverer published");
    });
}

/// A parent thread holds the process-wide lock at the fork; the child then uses the same state.
/// `try_lock` is the state under test, as process `me` sees it: in the child, a lock it finds held
/// would be held for ever (its holder was not copied), so finding it held is the failure.
fn model_fork_with_the_lock_held<S: Send + Sync + 'static>(
    state: fn() -> S,
    try_lock: fn(&S, i32) -> TryLockResult<MutexGuard<'_, u32>>,
) {
    const PARENT: i32 = 1;
    const CHILD: i32 = 2;
    loom::model(move || {
        let s = Arc::new(state());
        // The parent's other thread, inside the lock at the instant of the fork.
        let held = try_lock(&s, PARENT).unwrap();
        let child = {
            let s = s.clone();
            loom::thread::spawn(move || match try_lock(&s, CHILD) {
                Ok(mut g) => *g += 1,
                Err(_) => panic!("the child waits for ever on a lock its parent's thread held"),
            })
        };
        child.join().unwrap();
        assert_eq!(*held, 0, "the parent's value is untouched");
        drop(held);
        assert_eq!(*try_lock(&s, CHILD).unwrap(), 1, "the child's own value");
    });
}

#[test]
fn a_forked_child_never_waits_on_a_lock_its_parent_held_at_the_fork() {
    model_fork_with_the_lock_held(ForkLocal::<Mutex<u32>>::new, |s, me| {
        s.get(me, Mutex::default).try_lock()
    });
}

#[test]
#[should_panic(expected = "waits for ever")]
fn the_model_rejects_process_wide_state_behind_a_plain_lock() {
    model_fork_with_the_lock_held(Mutex::<u32>::default, |s, _| s.try_lock());
}
