//! A lock among the threads of one process that a `fork` cannot leave taken in the child.
//!
//! `fork` copies memory as it is, with only the forking thread. A `std::sync::Mutex` that another
//! thread held at that instant stays locked in the child forever: the child's first `lock()`
//! hangs (Python's `multiprocessing` forks by default on Linux, from programs with threads).
//! [`LocalLock`] keeps its holder's PID and thread id in its word instead, with the segment
//! lock's word protocol ([`crate::lock_word`], model-checked by loom): a word naming *another*
//! process can only be a copy inherited through `fork` — the memory is this process's own — so
//! its holder is not here and the lock is taken over. Waiting sleeps on the word (`futex`); the
//! release wakes one sleeper.
//!
//! The protected value of a lock taken over may be half updated (its holder was stopped by the
//! fork, not by a release): [`LocalGuard::inherited`] says so, and the caller starts afresh.
//!
//! Not reentrant: the holding thread locking again panics (a bug in this workspace: the lock is
//! for short internal sections).

use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::lock_word::{self, Attempt, Locker, Verdict};
use crate::{futex, pid};

/// How long a waiter sleeps at most before it looks again (a release wakes it sooner).
const NAP: Duration = Duration::from_millis(10);

/// A value behind a process-local lock that survives `fork` (module docs).
pub struct LocalLock<T> {
    word: AtomicU64,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, and one guard exists at a time (the word's
// protocol); the guard hands `&mut T` to one thread at a time, so `T: Send` suffices, as for
// `std::sync::Mutex`.
unsafe impl<T: Send> Sync for LocalLock<T> {}

impl<T: Default> Default for LocalLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> std::fmt::Debug for LocalLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLock").finish_non_exhaustive()
    }
}

impl<T> LocalLock<T> {
    /// A free lock around `value`.
    pub const fn new(value: T) -> Self {
        Self {
            word: AtomicU64::new(0),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits until the lock is ours.
    ///
    /// # Panics
    /// If the calling thread holds it already.
    pub fn lock(&self) -> LocalGuard<'_, T> {
        let me = Locker {
            pid: pid::current() as u32,
            tid: pid::current_thread(),
            home: true,
        };
        let mut waited = false;
        loop {
            let judge = |w: lock_word::Word| {
                if w.owner != me.pid {
                    // Another process's holder: a copy inherited through fork (module docs).
                    Verdict::Dead
                } else if w.tid == me.tid {
                    Verdict::ThisThread
                } else {
                    Verdict::Alive
                }
            };
            let seen = match lock_word::attempt(&self.word, me, waited, judge) {
                Attempt::Acquired { owner_died } => {
                    return LocalGuard {
                        lock: self,
                        me,
                        inherited: owner_died,
                        _not_send: PhantomData,
                    };
                }
                Attempt::Relock => panic!("a LocalLock is not reentrant"),
                Attempt::Busy(seen) => seen,
            };
            if let Some(value) = lock_word::announce_waiter(&self.word, seen) {
                // An error (none is expected for a valid address) only shortens the nap.
                let _ = futex::wait(&self.word, lock_word::Word::futex_value(value), NAP);
                waited = true;
            }
        }
    }
}

/// The held [`LocalLock`]; dropping it releases the lock and wakes a sleeper.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LocalGuard<'a, T> {
    lock: &'a LocalLock<T>,
    me: Locker,
    inherited: bool,
    /// The word names the locking thread.
    _not_send: PhantomData<*const ()>,
}

impl<T> LocalGuard<'_, T> {
    /// True when the lock was taken over from a holder that a `fork` left behind: the value may
    /// be half updated (start afresh without reading it where that matters).
    pub fn inherited(&self) -> bool {
        self.inherited
    }
}

impl<T> Deref for LocalGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: we hold the lock, so no other guard (and no `&mut`) exists in this process.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for LocalGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; `&mut self` makes this the only reference through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for LocalGuard<'_, T> {
    fn drop(&mut self) {
        // Consistent: a taken-over value is the caller's to reset, the word keeps no news.
        if lock_word::release(&self.lock.word, self.me, true) {
            futex::wake_one(&self.lock.word);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)] // futex and gettid are system calls
    fn threads_take_turns_and_a_sleeper_is_woken() {
        let lock = LocalLock::new(0u64);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        let mut g = lock.lock();
                        let v = *g;
                        std::thread::yield_now();
                        *g = v + 1;
                    }
                });
            }
        });
        assert_eq!(*lock.lock(), 4000);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_word_naming_another_process_is_a_fork_copy_and_is_taken_over() {
        let lock = LocalLock::new(7u32);
        // What a child sees of a lock its parent's other thread held at the fork.
        let parent = lock_word::Word {
            owner: (pid::current() as u32 + 1) & lock_word::OWNER_MASK,
            tid: 1,
            ..Default::default()
        };
        lock.word
            .store(parent.encode(), std::sync::atomic::Ordering::Relaxed);
        let g = lock.lock();
        assert!(g.inherited());
        drop(g);
        assert!(!lock.lock().inherited(), "a normal lock again");
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    #[should_panic(expected = "not reentrant")]
    fn relocking_from_the_holder_is_a_bug_not_a_hang() {
        let lock = LocalLock::new(());
        let _g = lock.lock();
        let _again = lock.lock();
    }
}
