//! Loom models of the segment lock, running the shipped code: the word's transitions
//! (`shmim_sync::lock_word`), the process's record of guards and the verdicts
//! (`shmim_sync::lock_record`), and the acquisition loop with its waiting rules
//! (`shmim_sync::lock_wait`). Never two holders, in any two processes or two threads of one
//! process; the data they protect (non-atomic cells) always ordered from one holder to the next;
//! no wake-up lost.
//!
//! Only the operating system is modelled, as `lock.rs` uses it: a process's death is a flag it
//! sets after its last store (the kernel tears the process down before `kill`/`/proc` report it
//! dead: the Release/Acquire pair on the flag stands for that); each process's record sits behind
//! a mutex (its `LocalLock` in `lock.rs`); the futex is a mutex and a condition variable (sleep
//! only while the word still holds the value seen; a wake wakes one sleeper). Loom has no clock:
//! a sleep on a live holder is untimed — so a wake-up lost between live lockers leaves a sleeper
//! blocked forever, which loom reports as a deadlock — while the sleeps whose end the real code
//! owes to its timeout (a dead holder, a word cleared behind a holder of our own process) end at
//! once, and a locker's deadline is a number of naps.
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

use std::time::Duration;

use loom::cell::UnsafeCell;
use loom::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use loom::sync::{Arc, Condvar, Mutex};
use shmim_sync::lock_record::{LockId, Me, Os, Record};
use shmim_sync::lock_wait::{self, Outcome, Waiting};
use shmim_sync::lock_word::{Locker, Word};

/// Process 1 runs two threads; process 2 takes the lock and dies holding it; process 3 is
/// another live process.
const P1: u32 = 100;
const P2: u32 = 200;
const P3: u32 = 300;

const ID: LockId = LockId {
    dev: 1,
    ino: 1,
    offset: 16,
};

struct World {
    word: AtomicU64,
    /// The protected data: non-atomic, so loom flags any access the lock does not order.
    data: UnsafeCell<u64>,
    /// Live holders (the property: never more than one). Relaxed read-modify-writes: they are
    /// totally ordered, and must not order anything else (the lock's own orderings are checked).
    holders: AtomicU32,
    /// Process 2 died.
    p2_dead: AtomicBool,
    /// Each process's record of its guards.
    records: [Mutex<Record>; 3],
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
            records: [
                Mutex::new(Record::new()),
                Mutex::new(Record::new()),
                Mutex::new(Record::new()),
            ],
            told: AtomicU32::new(0),
            futex: Mutex::new(()),
            woken: Condvar::new(),
        }
    }

    fn record(&self, pid: u32) -> &Mutex<Record> {
        &self.records[(pid / 100 - 1) as usize]
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

    /// Locks as `lock.rs` does, with the shipped loop; `naps`: how many sleeps the locker's
    /// deadline allows (`None`: no deadline). Returns the outcome (`Held` counted as a holder).
    fn lock(&self, me: Me, naps: Option<u32>) -> Outcome {
        let mut waiting = ModelWaiting { world: self, naps };
        let outcome = lock_wait::acquire(
            || self.record(me.locker.pid).lock().unwrap(),
            &self.word,
            ID,
            me,
            self,
            &mut waiting,
        )
        .unwrap();
        if let Outcome::Held { owner_died } = outcome {
            let before = self.holders.fetch_add(1, Relaxed);
            assert_eq!(before, 0, "two holders");
            if owner_died {
                self.told.fetch_add(1, Relaxed);
            }
        }
        outcome
    }

    /// The critical section: a non-atomic update of the data.
    fn update(&self) {
        // SAFETY: under the lock; loom checks that the lock orders it with every other access.
        self.data.with_mut(|d| unsafe { *d += 1 });
    }

    /// Releases as `LockGuard::drop` does.
    fn unlock(&self, me: Me, consistent: bool) {
        self.holders.fetch_sub(1, Relaxed);
        let wake = self
            .record(me.locker.pid)
            .lock()
            .unwrap()
            .release(&self.word, ID, me, consistent);
        if wake {
            self.wake_one();
        }
    }
}

impl Os for World {
    /// No thread of these models ends (stale entries are unit-tested in `lock_record.rs`).
    fn thread_alive(&self, _tid: u32) -> bool {
        true
    }

    fn process_dead(&self, pid: u32) -> bool {
        pid == P2 && self.p2_dead.load(Acquire)
    }
}

/// The futex and the clock of the model (module docs).
struct ModelWaiting<'a> {
    world: &'a World,
    naps: Option<u32>,
}

impl Waiting for ModelWaiting<'_> {
    type Error = std::convert::Infallible;

    fn nap(&mut self) -> Option<Duration> {
        match &mut self.naps {
            None => Some(Duration::ZERO),
            Some(0) => None,
            Some(n) => {
                *n -= 1;
                Some(Duration::ZERO)
            }
        }
    }

    fn sleep(&mut self, value: u32, _nap: Duration) -> Result<bool, Self::Error> {
        let w = self.world;
        let guard = w.futex.lock().unwrap();
        let seen = Word::decode(u64::from(value));
        // Sleeps the timeout ends: a dead holder wakes nobody; a free word slept on unmarked
        // (cleared behind a holder of our own process, whose release will not wake us).
        let timed = (seen.owner == P2 && w.p2_dead.load(Acquire)) || seen.is_free();
        if Word::futex_value(w.word.load(SeqCst)) != value || timed {
            drop(guard);
            loom::thread::yield_now();
            return Ok(false);
        }
        drop(w.woken.wait(guard).unwrap());
        Ok(true)
    }

    fn wake_one(&mut self) {
        self.world.wake_one();
    }
}

fn thread(pid: u32, tid: u32) -> Me {
    Me {
        locker: Locker {
            pid,
            tid,
            home: true,
        },
        token: u64::from(tid),
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
                let me = thread(pid, tid);
                let Outcome::Held { owner_died } = world.lock(me, None) else {
                    panic!("no deadline, no relock: held");
                };
                world.update();
                world.unlock(me, true);
                owner_died
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
                world.lock(thread(P2, 201), None);
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
        let world = Arc::new(World::new());
        let old = thread(P3, 301);
        assert_eq!(world.lock(old, None), Outcome::Held { owner_died: false });
        let forcer = {
            let world = world.clone();
            loom::thread::spawn(move || {
                let mut record = world.record(P1).lock().unwrap();
                record.force(&world.word, ID, thread(P1, 101), &*world)
            })
        };
        world.unlock(old, true);
        assert_eq!(forcer.join().unwrap(), Ok(()));
        let w = Word::decode(world.word.load(Acquire));
        assert_eq!((w.owner, w.tid), (P1, 101), "the forcer holds it");
        assert!(w.owner_died);
    });
}

#[test]
fn a_word_cleared_behind_a_holder_never_admits_a_second_thread_of_its_process() {
    // Process 3 forces the lock from a live thread of process 1 and releases it; another thread
    // of process 1 must still wait for the first: within a process the record decides.
    loom::model(|| {
        let world = Arc::new(World::new());
        let first = thread(P1, 101);
        assert_eq!(world.lock(first, None), Outcome::Held { owner_died: false });
        let second = {
            let world = world.clone();
            loom::thread::spawn(move || {
                let me = thread(P1, 102);
                let outcome = world.lock(me, None);
                world.update();
                world.unlock(me, true);
                outcome
            })
        };
        let forcer = {
            let world = world.clone();
            loom::thread::spawn(move || {
                let me = thread(P3, 301);
                let mut record = world.record(P3).lock().unwrap();
                record.force(&world.word, ID, me, &*world).unwrap();
                let wake = record.release(&world.word, ID, me, true);
                drop(record);
                if wake {
                    world.wake_one();
                }
            })
        };
        // The first thread's critical section, racing the second unless the record orders them.
        world.update();
        world.unlock(first, true);
        forcer.join().unwrap();
        assert!(matches!(second.join().unwrap(), Outcome::Held { .. }));
        assert_eq!(updates(&world), 2);
    });
}

#[test]
fn a_woken_waiter_that_gives_up_passes_the_wake_on() {
    // Process 3 holds; thread 101 may sleep once (then its deadline passes), thread 102 waits
    // without a deadline; thread 202 takes the lock once if it is free (never sleeping, so its
    // release wakes nobody). If the release wakes 101 and 202 took the lock meanwhile, 101 gives
    // up: unless it passes the wake on, 102 sleeps forever (a deadlock for loom).
    loom::model(|| {
        let world = Arc::new(World::new());
        let holder = thread(P3, 301);
        assert_eq!(
            world.lock(holder, None),
            Outcome::Held { owner_died: false }
        );
        let spawn = |me: Me, naps: Option<u32>| {
            let world = world.clone();
            loom::thread::spawn(move || {
                let outcome = world.lock(me, naps);
                if let Outcome::Held { .. } = outcome {
                    world.update();
                    world.unlock(me, true);
                }
            })
        };
        let lockers = [
            spawn(thread(P1, 101), Some(1)),
            spawn(thread(P1, 102), None),
            spawn(thread(P2, 202), Some(0)),
        ];
        world.unlock(holder, true);
        for t in lockers {
            t.join().unwrap();
        }
        assert_eq!(world.holders.load(Relaxed), 0);
    });
}
