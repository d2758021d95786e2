//! Loom models of the segment lock's word (`shmim_sync::lock_word`): acquire, release, waiters,
//! take-over of a dead holder, the stale record of one's own PID, and force — never two
//! holders, and the data they protect (a non-atomic cell) always ordered from one to the next.
//!
//! The operating system is modelled as `lock.rs` uses it: a holder's death is a flag its process
//! sets after its last store (the kernel tears the process down before `kill`/`/proc` report it
//! dead: the Release/Acquire pair on the flag stands for that); the process's record of its own
//! guards is a mutex-protected list, consulted and updated together with the word; the futex is
//! a mutex and condition variable (sleep only while the word still holds the value seen; a
//! release that reports waiters wakes one sleeper). Loom has no clock: the timed waits that let
//! sleepers notice a dead holder are modelled by sleeps that end at the holder's death. A wake-up
//! lost between live lockers would leave a sleeper blocked forever, which loom reports as a
//! deadlock.
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use loom::sync::{Arc, Condvar, Mutex};
use shmim_sync::lock_word::{self, Attempt, Locker, Verdict, Word};

/// Process 1 runs two threads; process 2 takes the lock and dies holding it; process 3 is
/// another live process.
const P1: u32 = 100;
const P2: u32 = 200;
const P3: u32 = 300;

struct World {
    word: AtomicU64,
    /// The protected data: non-atomic, so loom flags any access the lock does not order.
    data: UnsafeCell<u64>,
    /// Live holders (the property: never more than one). Relaxed read-modify-writes: they are
    /// totally ordered, and must not order anything else (the lock's own orderings are checked).
    holders: AtomicU32,
    /// Process 2 died.
    p2_dead: AtomicBool,
    /// Process 1's and process 3's records of their threads holding the lock.
    p1_record: Mutex<Vec<u32>>,
    p3_record: Mutex<Vec<u32>>,
    /// Acquisitions told that an owner died.
    told: AtomicU32,
    /// The futex: sleepers and wakers meet here.
    futex: Mutex<()>,
    woken: Condvar,
}

impl World {
    fn new() -> Self {
        Self {
            word: AtomicU64::new(0),
            data: UnsafeCell::new(0),
            holders: AtomicU32::new(0),
            p2_dead: AtomicBool::new(false),
            p1_record: Mutex::new(Vec::new()),
            p3_record: Mutex::new(Vec::new()),
            told: AtomicU32::new(0),
            futex: Mutex::new(()),
            woken: Condvar::new(),
        }
    }

    /// `FUTEX_WAIT` with a timeout: sleeps while the word's futex half still holds `value`'s,
    /// until woken — or, once the holder is dead, not at all (the timeout ends every sleep
    /// within one recheck of the death; loom has no clock to wait it out).
    fn sleep(&self, value: u64) {
        let guard = self.futex.lock().unwrap();
        let holder_dead = Word::decode(value).owner == P2 && self.p2_dead.load(Acquire);
        if Word::futex_value(self.word.load(SeqCst)) == Word::futex_value(value) && !holder_dead {
            drop(self.woken.wait(guard).unwrap());
        }
    }

    /// `FUTEX_WAKE` of one sleeper.
    fn wake_one(&self) {
        let _guard = self.futex.lock().unwrap();
        self.woken.notify_one();
    }

    /// What the sleepers' timeouts do once a holder died: every sleeper looks again.
    fn time_out_sleepers(&self) {
        let _guard = self.futex.lock().unwrap();
        self.woken.notify_all();
    }

    /// The record of a process that keeps one (process 2 dies before it could matter).
    fn record(&self, pid: u32) -> Option<&Mutex<Vec<u32>>> {
        match pid {
            P1 => Some(&self.p1_record),
            P3 => Some(&self.p3_record),
            _ => None,
        }
    }

    /// `lock.rs`'s verdict, for a locker of process `me.pid`.
    fn judge(&self, w: Word, me: Locker, record: Option<&mut Vec<u32>>) -> Verdict {
        if w.owner == me.pid {
            let record = record.expect("a process with threads keeps a record");
            return match record.iter().find(|&&t| t == w.tid) {
                Some(&t) if t == me.tid => Verdict::ThisThread,
                Some(_) => Verdict::Alive,
                None => Verdict::Dead,
            };
        }
        if w.owner == P2 && self.p2_dead.load(Acquire) {
            Verdict::Dead
        } else {
            Verdict::Alive
        }
    }

    /// Locks as `lock.rs` does (attempt; announce and "sleep" while busy). Returns whether the
    /// locker was told that an owner died.
    fn lock(&self, me: Locker) -> bool {
        let mut waited = false;
        loop {
            let outcome = if let Some(record) = self.record(me.pid) {
                let mut record = record.lock().unwrap();
                let outcome = lock_word::attempt(&self.word, me, waited, |w| {
                    self.judge(w, me, Some(&mut record))
                });
                if let Attempt::Acquired { .. } = outcome {
                    record.push(me.tid);
                }
                outcome
            } else {
                lock_word::attempt(&self.word, me, waited, |w| self.judge(w, me, None))
            };
            match outcome {
                Attempt::Acquired { owner_died } => {
                    let before = self.holders.fetch_add(1, Relaxed);
                    assert_eq!(before, 0, "two holders");
                    if owner_died {
                        self.told.fetch_add(1, Relaxed);
                    }
                    return owner_died;
                }
                Attempt::Relock => panic!("no thread relocks in these models"),
                Attempt::Busy(seen) => {
                    if let Some(value) = lock_word::announce_waiter(&self.word, seen) {
                        self.sleep(value);
                        waited = true;
                    }
                }
            }
        }
    }

    /// The critical section: a non-atomic update of the data.
    fn update(&self) {
        // SAFETY: under the lock; loom checks that the lock orders it with every other access.
        self.data.with_mut(|d| unsafe { *d += 1 });
    }

    fn unlock(&self, me: Locker, consistent: bool) {
        self.holders.fetch_sub(1, Relaxed);
        let mut record = self.record(me.pid).map(|r| r.lock().unwrap());
        if let Some(r) = record.as_mut() {
            r.retain(|&t| t != me.tid);
        }
        let wake = lock_word::release(&self.word, me, consistent);
        drop(record);
        if wake {
            self.wake_one();
        }
    }
}

fn locker(pid: u32, tid: u32) -> Locker {
    Locker {
        pid,
        tid,
        home: true,
    }
}

/// One thread per `(pid, tid)` that locks, updates the data and unlocks (repairing if told);
/// returns how many were told that an owner died, once all are joined.
fn lock_update_unlock(world: &Arc<World>, lockers: &[(u32, u32)]) -> u32 {
    let threads: Vec<_> = lockers
        .iter()
        .map(|&(pid, tid)| {
            let world = world.clone();
            loom::thread::spawn(move || {
                let me = locker(pid, tid);
                let told = world.lock(me);
                world.update();
                world.unlock(me, true);
                told
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| u32::from(t.join().unwrap()))
        .sum()
}

/// The data once every thread is joined.
fn updates(world: &World) -> u64 {
    // SAFETY: called after every thread touching the data has been joined.
    world.data.with(|d| unsafe { *d })
}

#[test]
fn two_threads_of_one_process_and_a_holder_that_dies_never_hold_it_together() {
    loom::model(|| {
        let world = Arc::new(World::new());
        let dies = {
            let world = world.clone();
            loom::thread::spawn(move || {
                let me = locker(P2, 201);
                world.lock(me);
                world.update();
                // Dies holding the lock: stops being a holder, then the kernel reports it dead.
                world.holders.fetch_sub(1, Relaxed);
                world.p2_dead.store(true, Release);
                world.time_out_sleepers();
            })
        };
        // The first one told repairs; the news stops there.
        let told = lock_update_unlock(&world, &[(P1, 101), (P1, 102)]);
        dies.join().unwrap();
        let last = Word::decode(world.word.load(Acquire));
        assert!(told <= 1, "one death, told at most once");
        if told == 0 {
            // Both threads were done before process 2 took the lock: it still names the dead.
            assert_eq!(last.owner, P2);
        } else {
            assert!(
                last.is_free() && !last.owner_died,
                "repaired and released: {last:?}"
            );
        }
        assert_eq!(updates(&world), 3);
    });
}

#[test]
fn two_live_processes_hand_the_data_over_through_the_word_alone() {
    // Different processes share no record: only the word's Acquire/Release orders the data.
    loom::model(|| {
        let world = Arc::new(World::new());
        assert_eq!(
            lock_update_unlock(&world, &[(P1, 101), (P3, 301)]),
            0,
            "nobody died"
        );
        assert_eq!(world.word.load(Acquire), 0);
        assert_eq!(updates(&world), 2);
    });
}

#[test]
fn a_stale_record_of_our_own_pid_is_taken_over_once() {
    loom::model(|| {
        // A dead process with our PID held the lock: our record knows nothing of it.
        let world = Arc::new(World::new());
        let stale = Word {
            owner: P1,
            tid: 999,
            ..Word::default()
        };
        world.word.store(stale.encode(), Release);
        let told = lock_update_unlock(&world, &[(P1, 101), (P1, 102)]);
        assert_eq!(told, 1, "exactly one thread takes the stale lock over");
        assert_eq!(world.word.load(Acquire), 0);
    });
}

#[test]
fn a_forced_take_over_is_never_undone_by_the_old_holders_release() {
    loom::model(|| {
        let word = Arc::new(AtomicU64::new(0));
        let old = locker(300, 301);
        assert_eq!(
            lock_word::attempt(&*word, old, false, |_| unreachable!()),
            Attempt::Acquired { owner_died: false }
        );
        let forcer = {
            let word = word.clone();
            loom::thread::spawn(move || lock_word::force(&*word, locker(P1, 101)))
        };
        let released = lock_word::release(&*word, old, true);
        forcer.join().unwrap();
        let w = Word::decode(word.load(Acquire));
        assert_eq!(
            (w.owner, w.tid),
            (P1, 101),
            "the forcer holds it ({released})"
        );
        assert!(w.owner_died);
    });
}
