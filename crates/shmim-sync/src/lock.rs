//! A symmetric exclusive lock that can live at any 8-aligned offset of any shared mapping, robust
//! when a holder dies.
//!
//! # The choice: a process-shared, robust, error-checking pthread mutex
//! The lock *is* a glibc `pthread_mutex_t` (40 bytes, align 8 on x86_64) initialised with
//! `PTHREAD_PROCESS_SHARED`, `PTHREAD_MUTEX_ROBUST` and `PTHREAD_MUTEX_ERRORCHECK`, so a C program
//! mapping the same bytes locks it with plain `pthread_mutex_lock`. The kernel does the hard part:
//! every thread registers the robust mutexes it holds in a per-thread list, and when the thread
//! exits or its process dies (SIGKILL included) the kernel marks each one `FUTEX_OWNER_DIED` and
//! wakes a waiter. No PID check, so no PID-reuse hazard. The price is that the proof is by real
//! processes and SIGKILL (`tests/cross_process.rs`), not by loom: the state machine is glibc's and
//! the kernel's, not ours.
//!
//! # Owner died
//! When the previous holder died holding the lock, the next locker still gets it, and its guard
//! says so ([`LockGuard::owner_died`]). The data the lock protects may be half updated: repair or
//! re-initialise it, then call [`LockGuard::mark_consistent`]. If the guard is dropped without
//! that, glibc marks the mutex *not recoverable*: every later `lock` fails with
//! [`LockError::NotRecoverable`] (C sees `ENOTRECOVERABLE`) until someone re-initialises it with
//! [`RobustLock::init`] (which is only sound when nobody uses the lock).
//!
//! # Fairness
//! None guaranteed. The lock is a futex: an unlock wakes one waiter, but a thread that arrives
//! meanwhile (or the unlocker itself, locking again at once) may take the lock first, so a waiter
//! can in principle wait indefinitely under sustained contention. Hold it briefly. No priority
//! inheritance either (`PTHREAD_PRIO_NONE`).
//!
//! # Orderings
//! This module names no ordering of its own: `pthread_mutex_lock` acquires and
//! `pthread_mutex_unlock` releases (POSIX memory synchronisation), so everything written under
//! the lock by one holder is visible to the next, in any process. Plain (non-atomic) accesses to
//! the protected data are therefore fine *among parties that all take the lock*.
//!
//! # Requirements
//! glibc ≥ 2.30 (`pthread_mutex_clocklock`, also what [`crate::semaphore`] needs for
//! `sem_clockwait`). The mapping must stay mapped, at the same address, while a process holds the
//! lock (the kernel walks the robust list through that address); the guard's lifetime ensures it
//! on the Rust side.
//!
//! ```no_run
//! # use shmim_sync::lock::RobustLock;
//! # fn f(p: *mut libc::pthread_mutex_t) -> Result<(), shmim_sync::lock::LockError> {
//! // SAFETY: `p` points to an initialised lock in a mapping that outlives `lock`.
//! let lock = unsafe { RobustLock::from_ptr(p) };
//! let mut guard = lock.lock()?;
//! if guard.owner_died() {
//!     // repair the protected table here, then:
//!     guard.mark_consistent()?;
//! }
//! # Ok(()) }
//! ```

use std::io;
use std::marker::PhantomData;
use std::time::Duration;

unsafe extern "C" {
    /// glibc ≥ 2.30: `pthread_mutex_timedlock` against a chosen clock (the `libc` crate does not
    /// bind it); used with `CLOCK_MONOTONIC` so wall-clock jumps do not shorten or stretch a
    /// timeout.
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

/// Why a lock operation failed (a busy lock or a timeout is `Ok(None)`, not an error).
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// A holder died, and the one after it released the lock without marking it consistent.
    #[error(
        "lock is not recoverable: a holder died and the next one did not mark it consistent \
         (re-initialise the segment)"
    )]
    NotRecoverable,
    /// This thread already holds the lock (it is not recursive).
    #[error("this thread already holds the lock")]
    Deadlock,
    /// `mark_consistent` on a lock that is not in the owner-died state (or not robust).
    #[error("the lock is not in the owner-died state (or is not a robust mutex)")]
    NotInconsistent,
    /// Any other failure of a pthread call (e.g. `EINVAL`: the bytes are not an initialised
    /// mutex).
    #[error("{op} failed: {source}")]
    Os {
        /// The pthread call.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A view of a process-shared robust mutex in a mapping.
#[derive(Clone, Copy)]
pub struct RobustLock<'a> {
    m: *mut libc::pthread_mutex_t,
    _mapping: PhantomData<&'a libc::pthread_mutex_t>,
}

// SAFETY: a process-shared mutex is designed to be used from any thread (and process); the
// pointer stays valid for 'a by the constructor's contract. Which thread unlocks is the guard's
// business (it is not `Send`).
unsafe impl Send for RobustLock<'_> {}
// SAFETY: as above; every operation is a pthread call, which synchronises internally.
unsafe impl Sync for RobustLock<'_> {}

impl<'a> RobustLock<'a> {
    /// Bytes the lock occupies.
    pub const SIZE: usize = size_of::<libc::pthread_mutex_t>();
    /// Alignment the lock needs.
    pub const ALIGN: usize = align_of::<libc::pthread_mutex_t>();

    /// Initialises the bytes at `p` as a process-shared, robust, error-checking mutex, unlocked.
    ///
    /// # Safety
    /// `p` must be valid for writes of [`Self::SIZE`] bytes and [`Self::ALIGN`]-aligned, and no
    /// thread of any process may be using those bytes as a mutex (re-initialising a mutex someone
    /// holds or waits on is undefined in POSIX).
    pub unsafe fn init(p: *mut libc::pthread_mutex_t) -> Result<(), LockError> {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        let attr = attr.as_mut_ptr();
        // SAFETY: `attr` is writable storage for an attribute object.
        let rc = unsafe { libc::pthread_mutexattr_init(attr) };
        check(rc, "pthread_mutexattr_init")?;
        let configured = (|| {
            // SAFETY: `attr` was initialised above and is destroyed only below.
            let rc =
                unsafe { libc::pthread_mutexattr_setpshared(attr, libc::PTHREAD_PROCESS_SHARED) };
            check(rc, "pthread_mutexattr_setpshared")?;
            // SAFETY: as above.
            let rc = unsafe { libc::pthread_mutexattr_setrobust(attr, libc::PTHREAD_MUTEX_ROBUST) };
            check(rc, "pthread_mutexattr_setrobust")?;
            // ERRORCHECK: relocking by the holder is `EDEADLK`, not a hang.
            // SAFETY: as above.
            let rc =
                unsafe { libc::pthread_mutexattr_settype(attr, libc::PTHREAD_MUTEX_ERRORCHECK) };
            check(rc, "pthread_mutexattr_settype")?;
            // SAFETY: the caller guarantees `p` is writable, aligned and unused; `attr` is valid.
            let rc = unsafe { libc::pthread_mutex_init(p, attr) };
            check(rc, "pthread_mutex_init")
        })();
        // SAFETY: `attr` was initialised and is not used after this.
        unsafe { libc::pthread_mutexattr_destroy(attr) };
        configured
    }

    /// Views the lock at `p`.
    ///
    /// # Safety
    /// `p` must be [`Self::ALIGN`]-aligned, valid for reads and writes of [`Self::SIZE`] bytes
    /// for `'a` (the mapping outlives the view and stays at this address), and hold a mutex
    /// initialised by [`Self::init`] (or by C with the same attributes).
    pub unsafe fn from_ptr(p: *mut libc::pthread_mutex_t) -> Self {
        Self {
            m: p,
            _mapping: PhantomData,
        }
    }

    /// The raw `pthread_mutex_t *`, for C.
    pub fn as_ptr(&self) -> *mut libc::pthread_mutex_t {
        self.m
    }

    /// Blocks until the lock is ours.
    pub fn lock(&self) -> Result<LockGuard<'a>, LockError> {
        // SAFETY: an initialised mutex, valid for 'a (constructor contract).
        let rc = unsafe { libc::pthread_mutex_lock(self.m) };
        match self.acquired(rc, "pthread_mutex_lock")? {
            Some(guard) => Ok(guard),
            // POSIX does not allow EBUSY / ETIMEDOUT here; report it rather than panic.
            None => Err(LockError::Os {
                op: "pthread_mutex_lock",
                source: io::Error::from_raw_os_error(rc),
            }),
        }
    }

    /// Takes the lock if it is free; `Ok(None)` if someone holds it.
    pub fn try_lock(&self) -> Result<Option<LockGuard<'a>>, LockError> {
        // SAFETY: an initialised mutex, valid for 'a (constructor contract).
        let rc = unsafe { libc::pthread_mutex_trylock(self.m) };
        self.acquired(rc, "pthread_mutex_trylock")
    }

    /// Blocks for at most `timeout`, measured on `CLOCK_MONOTONIC`; `Ok(None)` on timeout.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<Option<LockGuard<'a>>, LockError> {
        let deadline = crate::semaphore::deadline_after(timeout);
        // SAFETY: an initialised mutex, valid for 'a (constructor contract); `deadline` is a
        // valid timespec for the duration of the call.
        let rc = unsafe { pthread_mutex_clocklock(self.m, libc::CLOCK_MONOTONIC, &deadline) };
        self.acquired(rc, "pthread_mutex_clocklock")
    }

    /// Turns the return code of a locking call into a guard (`Some`), busy/timeout (`None`), or
    /// an error. pthread functions return the error number; they do not set `errno`.
    fn acquired(
        &self,
        rc: libc::c_int,
        op: &'static str,
    ) -> Result<Option<LockGuard<'a>>, LockError> {
        let owner_died = match rc {
            0 => false,
            // We hold the lock, in the owner-died state.
            libc::EOWNERDEAD => true,
            libc::EBUSY | libc::ETIMEDOUT => return Ok(None),
            libc::ENOTRECOVERABLE => return Err(LockError::NotRecoverable),
            libc::EDEADLK => return Err(LockError::Deadlock),
            e => {
                return Err(LockError::Os {
                    op,
                    source: io::Error::from_raw_os_error(e),
                });
            }
        };
        Ok(Some(LockGuard {
            lock: *self,
            owner_died,
            consistent: !owner_died,
            _not_send: PhantomData,
        }))
    }
}

/// The held lock; dropping it unlocks.
///
/// Not `Send`: a pthread mutex must be unlocked by the thread that locked it (and the kernel's
/// owner-died bookkeeping is per thread).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: RobustLock<'a>,
    owner_died: bool,
    consistent: bool,
    _not_send: PhantomData<*const ()>,
}

impl LockGuard<'_> {
    /// True when the previous holder died holding the lock: the protected data may be half
    /// updated. Stays true after [`Self::mark_consistent`] (it describes how the lock was taken).
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// False between an owner-died acquisition and [`Self::mark_consistent`]. Dropping the guard
    /// in that state makes the lock permanently unusable ([`LockError::NotRecoverable`]).
    pub fn is_consistent(&self) -> bool {
        self.consistent
    }

    /// Declares the protected data repaired, so the lock works normally again after this guard.
    /// A no-op on a lock taken normally.
    pub fn mark_consistent(&mut self) -> Result<(), LockError> {
        if self.consistent {
            return Ok(());
        }
        // SAFETY: a valid mutex that this thread holds in the owner-died state.
        match unsafe { libc::pthread_mutex_consistent(self.lock.m) } {
            0 => {
                self.consistent = true;
                Ok(())
            }
            libc::EINVAL => Err(LockError::NotInconsistent),
            e => Err(LockError::Os {
                op: "pthread_mutex_consistent",
                source: io::Error::from_raw_os_error(e),
            }),
        }
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: a valid mutex held by this thread (the guard is not `Send`). If it was taken
        // owner-died and not marked consistent, glibc makes it not recoverable here, as
        // documented.
        let rc = unsafe { libc::pthread_mutex_unlock(self.lock.m) };
        debug_assert_eq!(rc, 0, "unlocking a held robust mutex cannot fail");
    }
}

fn check(rc: libc::c_int, op: &'static str) -> Result<(), LockError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(LockError::Os {
            op,
            source: io::Error::from_raw_os_error(rc),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A heap-allocated lock for in-process tests.
    struct Heap(Box<std::mem::MaybeUninit<libc::pthread_mutex_t>>);

    impl Heap {
        fn new() -> Self {
            let mut b = Box::new(std::mem::MaybeUninit::zeroed());
            // SAFETY: fresh, aligned heap storage nobody else uses.
            unsafe { RobustLock::init(b.as_mut_ptr()) }.unwrap();
            Self(b)
        }

        fn lock(&mut self) -> RobustLock<'_> {
            // SAFETY: initialised above; the box outlives the borrow.
            unsafe { RobustLock::from_ptr(self.0.as_mut_ptr()) }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn try_lock_fails_while_held_and_succeeds_after_release() {
        let mut heap = Heap::new();
        let lock = heap.lock();
        let guard = lock.lock().unwrap();
        assert!(!guard.owner_died());
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(
                    lock.try_lock().unwrap().is_none(),
                    "held by the main thread"
                )
            });
        });
        drop(guard);
        std::thread::scope(|s| {
            s.spawn(|| assert!(lock.try_lock().unwrap().is_some()));
        });
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn relocking_from_the_holding_thread_is_an_error_not_a_hang() {
        let mut heap = Heap::new();
        let lock = heap.lock();
        let _guard = lock.lock().unwrap();
        assert!(matches!(lock.lock(), Err(LockError::Deadlock)));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn lock_timeout_gives_up_on_a_held_lock() {
        let mut heap = Heap::new();
        let lock = heap.lock();
        let _guard = lock.lock().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let r = lock.lock_timeout(Duration::from_millis(5)).unwrap();
                assert!(r.is_none(), "timed out");
            });
        });
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_holder_thread_that_exits_leaves_owner_died_then_consistent_lock_works() {
        let mut heap = Heap::new();
        let lock = heap.lock();
        std::thread::scope(|s| {
            // The thread ends holding the lock: its robust list marks it owner-died at exit.
            s.spawn(|| std::mem::forget(lock.lock().unwrap()));
        });
        let mut guard = lock.lock().unwrap();
        assert!(guard.owner_died() && !guard.is_consistent());
        guard.mark_consistent().unwrap();
        assert!(guard.is_consistent());
        assert!(guard.mark_consistent().is_ok(), "marking twice is harmless");
        drop(guard);
        let guard = lock.lock().unwrap();
        assert!(!guard.owner_died());
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn dropping_an_owner_died_guard_unmarked_makes_the_lock_not_recoverable() {
        let mut heap = Heap::new();
        let lock = heap.lock();
        std::thread::scope(|s| {
            s.spawn(|| std::mem::forget(lock.lock().unwrap()));
        });
        let guard = lock.lock().unwrap();
        assert!(guard.owner_died());
        drop(guard);
        assert!(matches!(lock.lock(), Err(LockError::NotRecoverable)));
        assert!(matches!(lock.try_lock(), Err(LockError::NotRecoverable)));
    }

    #[test]
    fn the_lock_is_a_glibc_mutex() {
        assert_eq!(RobustLock::SIZE, 40);
        assert_eq!(RobustLock::ALIGN, 8);
    }
}
