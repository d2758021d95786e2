//! This process's PID, cached.
//!
//! glibc no longer caches `getpid()`, and the legacy `UpdateIm` paid one system call per semaphore
//! for it. We cache it in a static and clear the cache in the child of every `fork` (a
//! `pthread_atfork` child handler, registered once), so a forked child never reports its parent's
//! PID. Limit: a child created by a raw `clone` system call that bypasses glibc's `fork` keeps the
//! stale value until it calls `exec` (then the cache starts empty again).

use std::sync::Once;
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::Relaxed;

/// 0 = not cached yet.
static CACHED: AtomicI32 = AtomicI32::new(0);
static ATFORK: Once = Once::new();

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
    ATFORK.call_once(|| {
        // SAFETY: registers a handler that only performs an atomic store; valid for the process.
        unsafe { libc::pthread_atfork(None, None, Some(forget_in_child)) };
    });
    let pid = rustix::process::getpid().as_raw_nonzero().get();
    // Relaxed: the value is the payload; racing initialisers store the same PID.
    CACHED.store(pid, Relaxed);
    pid
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg_attr(miri, ignore)] // system calls (sem_*, futex, kill, getpid) are outside Miri
    fn cached_pid_is_ours() {
        assert_eq!(super::current(), std::process::id() as i32);
        assert_eq!(super::current(), std::process::id() as i32);
    }
}
