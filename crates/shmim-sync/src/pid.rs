//! This process's PID, cached, and right in a forked child.
//!
//! glibc no longer caches `getpid()`, and the legacy `UpdateIm` paid one system call per semaphore
//! for it. We cache it in a static and clear the cache in the child of every `fork` (a
//! `pthread_atfork` child handler), so a forked child never records its parent's PID as a writer,
//! a reader or a claim.
//!
//! **No lock, no `Once`.** A `fork` copies memory as it is, with only the forking thread: had
//! another thread been inside a `Once` (registering the handler) at that instant, the child would
//! inherit a `Once` that is "running" forever and hang on its first call. The registration is
//! therefore a three-state word driven by compare-and-swap, and nobody ever waits for it:
//!
//! * `UNREGISTERED` → `REGISTERING`: the one caller that wins the CAS registers the handler, then
//!   stores `REGISTERED` (Release).
//! * Everybody else, and a child forked mid-registration (which sees `REGISTERING` forever),
//!   calls `getpid()` without caching: correct, only slower.
//! * The cache is written only once `REGISTERED` is observed (Acquire), so every cached value
//!   is cleared by the handler in any later child.
//!
//! Limit: a child created by a raw `clone` system call that bypasses glibc's `fork` keeps the
//! stale value until it calls `exec` (then the cache starts empty again).

use std::cell::Cell;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicI32, AtomicU8};

/// 0 = not cached.
static CACHED: AtomicI32 = AtomicI32::new(0);
/// The registration state of the fork handler.
static STATE: AtomicU8 = AtomicU8::new(UNREGISTERED);
const UNREGISTERED: u8 = 0;
const REGISTERING: u8 = 1;
const REGISTERED: u8 = 2;

extern "C" fn forget_in_child() {
    // Runs in the single-threaded child right after fork; a Relaxed store is enough.
    CACHED.store(0, Relaxed);
}

/// The PID of the calling process.
#[inline]
pub fn current() -> i32 {
    let pid = CACHED.load(Relaxed);
    if pid != 0 { pid } else { slow() }
}

#[cold]
fn slow() -> i32 {
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    // Acquire: pairs with the Release store of REGISTERED, so the handler that will clear our
    // cached value in any later child is in place before we cache.
    match STATE.load(Acquire) {
        REGISTERED => CACHED.store(pid, Relaxed),
        UNREGISTERED
            if STATE
                .compare_exchange(UNREGISTERED, REGISTERING, Relaxed, Relaxed)
                .is_ok() =>
        {
            // SAFETY: registers a handler that only performs an atomic store; valid for the
            // life of the process. glibc serialises this with `fork`.
            let rc = unsafe { libc::pthread_atfork(None, None, Some(forget_in_child)) };
            if rc == 0 {
                STATE.store(REGISTERED, Release);
                // Relaxed: the value is the payload; racing callers store the same PID.
                CACHED.store(pid, Relaxed);
            }
            // On failure the state stays REGISTERING: never cache, always ask the kernel.
        }
        // Someone else is registering (or was, in the parent of this forked child), or won the
        // race to: don't wait.
        _ => {}
    }
    pid
}

/// The kernel id of the calling thread (`gettid`), cached per thread. The cache remembers the
/// PID it was taken in: the thread that calls `fork` goes on in the child under another id.
#[inline]
pub fn current_thread() -> u32 {
    thread_local! {
        static TID: Cell<(i32, u32)> = const { Cell::new((0, 0)) };
    }
    let pid = current();
    TID.with(|cache| match cache.get() {
        (cached_in, tid) if cached_in == pid => tid,
        _ => {
            let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
            cache.set((pid, tid));
            tid
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg_attr(miri, ignore)] // system calls (sem_*, futex, kill, getpid) are outside Miri
    fn cached_pid_is_ours() {
        assert_eq!(super::current(), std::process::id() as i32);
        assert_eq!(super::current(), std::process::id() as i32);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn cached_thread_ids_are_each_threads_own() {
        let gettid = || rustix::thread::gettid().as_raw_nonzero().get() as u32;
        assert_eq!(super::current_thread(), gettid());
        assert_eq!(super::current_thread(), gettid());
        let there = std::thread::spawn(move || (super::current_thread(), gettid()))
            .join()
            .unwrap();
        assert_eq!(there.0, there.1);
        assert_ne!(there.0, super::current_thread());
    }
}
