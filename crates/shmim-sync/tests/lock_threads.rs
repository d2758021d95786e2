//! The segment lock between threads of one process: they exclude each other, a sleeper is woken
//! by the release, and within the process the record of guards decides whatever the word says —
//! `force` never gives a second guard to a thread of the holder's own process, a cleared word
//! never lets a second thread in, a thread that ends or panics holding the lock leaves the
//! owner-died news for the next locker.
//!
//! Multithreaded, so CI also runs it under ThreadSanitizer (`cargo xtask ci --only tsan`). Every
//! wait is bounded by a watchdog deadline; none asserts a duration.
#![cfg(not(loom))]

use std::sync::{Barrier, mpsc};
use std::time::{Duration, Instant};

use shmim_sync::Field;
use shmim_sync::lock::{LockError, LockGuard, LockId, PidLock, pid_namespace};
use shmim_sync::lock_word::Word;

/// Watchdog for every wait (generous: CI machines can be slow and loaded).
const WATCHDOG: Duration = Duration::from_secs(60);

/// A lock word on the heap, with an identity of its own, and a counter it protects.
struct Heap {
    words: Box<[u64; 2]>,
    id: LockId,
}

impl Heap {
    fn new(offset: u64) -> Self {
        Self {
            words: Box::new([0; 2]),
            id: LockId {
                dev: u64::MAX - 1,
                ino: u64::MAX - 1,
                offset,
            },
        }
    }

    fn view(&mut self) -> View<'_> {
        let words = self.words.as_mut_ptr();
        View {
            // SAFETY: a live, aligned heap word, accessed only atomically through these views.
            lock: unsafe { PidLock::from_ptr(words, pid_namespace(), self.id) },
            // SAFETY: as above; the second word.
            word: unsafe { Field::new(words) },
            // SAFETY: in bounds of the box; only touched under the lock.
            data: unsafe { words.add(1) },
        }
    }
}

#[derive(Clone, Copy)]
struct View<'a> {
    lock: PidLock<'a>,
    /// The lock word itself, for what another process or a scribbler could do to it.
    word: Field<'a, u64>,
    data: *mut u64,
}

// SAFETY: the data word is only touched under the lock (the property under test); the rest are
// atomic views.
unsafe impl Send for View<'_> {}
// SAFETY: as above.
unsafe impl Sync for View<'_> {}

impl View<'_> {
    /// A non-atomic read-modify-write of the data: two threads inside at once race (a data
    /// race ThreadSanitizer reports) and lose updates.
    fn bump(&self, _held: &LockGuard<'_>) {
        // SAFETY: under the lock.
        unsafe {
            let v = self.data.read();
            std::thread::yield_now();
            self.data.write(v + 1);
        }
    }

    fn data(&self, _held: &LockGuard<'_>) -> u64 {
        // SAFETY: under the lock.
        unsafe { self.data.read() }
    }
}

#[test]
fn threads_of_one_process_exclude_each_other() {
    let mut heap = Heap::new(1);
    let v = heap.view();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(move || {
                for _ in 0..500 {
                    let g = v.lock.lock_timeout(WATCHDOG).unwrap();
                    v.bump(&g);
                }
            });
        }
    });
    let g = v.lock.lock().unwrap();
    assert_eq!(v.data(&g), 2000);
}

#[test]
fn try_lock_fails_while_another_thread_holds_it_and_succeeds_after() {
    let mut heap = Heap::new(2);
    let v = heap.view();
    let guard = v.lock.lock().unwrap();
    assert!(!guard.owner_died());
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(
                v.lock.try_lock().unwrap().is_none(),
                "held by the main thread"
            )
        });
    });
    drop(guard);
    std::thread::scope(|s| {
        s.spawn(|| assert!(v.lock.try_lock().unwrap().is_some()));
    });
}

#[test]
fn a_waiter_is_woken_by_the_release() {
    let mut heap = Heap::new(3);
    let v = heap.view();
    let guard = v.lock.lock().unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let g = v.lock.lock_timeout(WATCHDOG).unwrap();
            assert!(!g.owner_died());
        });
        while !Word::decode(v.lock.raw()).waiters && !waiter.is_finished() {
            std::thread::yield_now();
        }
        drop(guard);
        waiter.join().unwrap();
    });
    assert_eq!(v.lock.raw(), 0, "released, clean");
}

#[test]
fn lock_timeout_names_a_live_holder() {
    let mut heap = Heap::new(4);
    let v = heap.view();
    let _guard = v.lock.lock().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| match v.lock.lock_timeout(Duration::from_millis(5)) {
            Err(LockError::Timeout {
                owner, unjudged, ..
            }) => {
                assert_eq!(owner, std::process::id());
                assert!(!unjudged);
            }
            other => panic!("expected a timeout, got {other:?}"),
        });
    });
}

#[test]
fn a_thread_that_ends_holding_the_lock_leaves_it_owner_died() {
    let mut heap = Heap::new(5);
    let v = heap.view();
    std::thread::scope(|s| {
        s.spawn(|| std::mem::forget(v.lock.lock().unwrap()));
    });
    let mut guard = v.lock.lock_timeout(WATCHDOG).unwrap();
    assert!(guard.owner_died() && !guard.is_consistent());
    guard.mark_consistent();
    drop(guard);
    assert!(!v.lock.lock().unwrap().owner_died());
}

#[test]
fn a_thread_that_panics_holding_the_lock_leaves_it_owner_died() {
    let mut heap = Heap::new(6);
    let v = heap.view();
    std::thread::scope(|s| {
        let panicked = s
            .spawn(|| {
                let g = v.lock.lock().unwrap();
                v.bump(&g); // half of an update
                panic!("a bug in the middle of the update");
            })
            .join();
        assert!(panicked.is_err());
    });
    let mut guard = v.lock.lock_timeout(WATCHDOG).unwrap();
    assert!(
        guard.owner_died(),
        "a panic while holding the lock is news for the next locker"
    );
    guard.mark_consistent();
}

#[test]
fn force_is_refused_while_another_thread_of_this_process_holds_the_lock() {
    let mut heap = Heap::new(7);
    let v = heap.view();
    let (held_tx, held) = mpsc::channel();
    // Dropped when the main thread is done — also if it fails: the holder never waits forever.
    let (release, released) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let holder = s.spawn(move || {
            let g = v.lock.lock().unwrap();
            held_tx
                .send(rustix::thread::gettid().as_raw_nonzero().get() as u32)
                .unwrap();
            let _ = released.recv_timeout(WATCHDOG);
            v.bump(&g);
        });
        let holder_tid = held.recv().unwrap();
        let refused = v.lock.force();
        drop(release);
        let Err(e @ LockError::HeldInThisProcess { tid }) = refused else {
            panic!("force gave a second guard in one process: {refused:?}");
        };
        assert!(e.to_string().contains("this process"), "{e}");
        assert_eq!(tid, holder_tid);
        holder.join().unwrap();
    });
    let g = v.lock.try_lock().unwrap().expect("released");
    assert_eq!(v.data(&g), 1);
}

#[test]
fn a_cleared_word_never_lets_a_second_thread_of_the_holders_process_in() {
    // As if another process forced the lock and released it (or scribbled 0 over the word)
    // while a thread of ours holds it: within this process, the record decides.
    let mut heap = Heap::new(8);
    let v = heap.view();
    let (held, cleared) = (Barrier::new(2), Barrier::new(2));
    let (tx, got_it) = mpsc::channel();
    let (held, cleared) = (&held, &cleared);
    std::thread::scope(|s| {
        s.spawn(move || {
            let g = v.lock.lock().unwrap();
            held.wait();
            cleared.wait();
            // Give the other thread every chance to get in wrongly, then update.
            let deadline = Instant::now() + Duration::from_millis(50);
            while Instant::now() < deadline {
                assert!(got_it.try_recv().is_err(), "two holders in one process");
                std::thread::yield_now();
            }
            v.bump(&g);
        });
        held.wait();
        v.word.set(0);
        s.spawn(move || {
            cleared.wait();
            let g = v.lock.lock_timeout(WATCHDOG).unwrap();
            let _ = tx.send(());
            v.bump(&g);
        });
    });
    let g = v.lock.lock().unwrap();
    assert_eq!(v.data(&g), 2);
}

#[test]
fn a_stale_entry_never_lets_a_third_thread_take_a_live_threads_lock() {
    // Thread A forgets its guard; the word is cleared behind it; thread B takes the lock; A ends
    // (its entry is stale now). The main thread must wait for B, not take B's lock over.
    let mut heap = Heap::new(9);
    let v = heap.view();
    std::thread::scope(|s| {
        s.spawn(|| std::mem::forget(v.lock.lock().unwrap()))
            .join()
            .unwrap();
    });
    v.word.set(0);
    let (b_holds_tx, b_holds) = mpsc::channel();
    // Dropped when the main thread is done — also if it fails: B never waits forever.
    let (b_ends, b_may_end) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        s.spawn(move || {
            let g = v.lock.lock_timeout(WATCHDOG).unwrap();
            b_holds_tx.send(()).unwrap();
            let _ = b_may_end.recv_timeout(WATCHDOG);
            v.bump(&g);
        });
        b_holds.recv().unwrap();
        let outcome = v.lock.lock_timeout(Duration::from_millis(20)).map(drop);
        drop(b_ends);
        match outcome {
            Err(LockError::Timeout {
                unjudged: false, ..
            }) => {}
            other => panic!("expected to wait for the live holder, got {other:?}"),
        }
    });
    assert_eq!(v.data(&v.lock.lock().unwrap()), 1);
}

#[test]
fn a_timeout_behind_a_guard_of_this_process_names_this_process_whatever_the_word_says() {
    // Thread A holds the lock; another process forced and released it behind A's back (the word
    // reads free). Waiters of this process are kept out by the record, and their timeout must
    // name the real holder, this process, not the PID 0 of a free word.
    let mut heap = Heap::new(10);
    let v = heap.view();
    let (held, done) = (Barrier::new(2), Barrier::new(2));
    let (held, done) = (&held, &done);
    std::thread::scope(|s| {
        s.spawn(move || {
            let _g = v.lock.lock().unwrap();
            held.wait();
            done.wait();
        });
        held.wait();
        v.word.set(0);
        let outcome = v.lock.lock_timeout(Duration::from_millis(20)).map(drop);
        done.wait();
        match outcome {
            Err(LockError::Timeout {
                owner,
                unjudged: false,
                ..
            }) => assert_eq!(owner, std::process::id()),
            other => panic!("expected a timeout naming this process, got {other:?}"),
        }
    });
}
