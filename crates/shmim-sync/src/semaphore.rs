//! glibc process-shared semaphores living in the stream file.
//!
//! C programs `sem_wait(im.semptr[i])` on these very bytes, so they must stay real glibc `sem_t`s.
//! Waiting goes through glibc (`sem_wait`, `sem_trywait`, `sem_clockwait`). Posting does not: the
//! legacy rule "post only while the value is below `SEMAPHORE_MAXVAL`" is a check-then-post race
//! when done with `sem_getvalue` + `sem_post` (two posters can both see 9). We post with glibc's own
//! algorithm instead, with the bound inside the compare-and-swap:
//!
//! glibc's 64-bit semaphore is one `u64` word at offset 0 — the value in the low 32 bits, the
//! number of waiters in the high 32 — plus a futex-privacy word at offset 8 (`0x80` = process
//! shared). `sem_post` is "CAS the word to value + 1 (Release); if there were waiters,
//! `FUTEX_WAKE` one on the value's address". Doing the same CAS, refusing when the value has
//! reached the bound, is race-free, interoperates with glibc waiters in any process, and makes the
//! uncontended post a single instruction with no system call (the wake is skipped when nobody
//! waits). The layout facts are checked against real `sem_init`/`sem_post` in the tests.

// The bounded post below, `waiters`, `flush` and `flag_word` read and write glibc's `sem_t` by
// hand. That layout (one 64-bit word, value in the low half, waiters in the high half, futex
// privacy word at offset 8) is glibc's on 64-bit targets, little-endian. Elsewhere (musl's
// `sem_t`, glibc's 32-bit layout, big-endian halves) the same bytes mean something else, and a
// "bounded post" would corrupt semaphores other processes wait on: refuse to build.
#[cfg(not(all(
    target_os = "linux",
    target_env = "gnu",
    target_pointer_width = "64",
    target_endian = "little"
)))]
compile_error!(
    "shmim-sync needs glibc's 64-bit sem_t layout (Linux, glibc, 64-bit, little-endian, as on \
     x86_64): its race-free bounded sem_post reads and writes that word directly, and this \
     target (musl, 32-bit or big-endian) lays sem_t out differently"
);

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Duration;

use shmim_layout::{SEMAPHORE_MAXVAL, SemSlot};

unsafe extern "C" {
    /// glibc ≥ 2.30: `sem_timedwait` against a chosen clock (the `libc` crate does not bind it).
    fn sem_clockwait(
        sem: *mut libc::sem_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

/// What a bounded post did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Post {
    /// The value went up by one (and a waiter, if any, was woken).
    Posted,
    /// The value was already at `SEMAPHORE_MAXVAL`; nothing changed.
    Saturated,
}

/// A semaphore failure other than a timeout or an interruption (which are retried).
#[derive(Debug, thiserror::Error)]
#[error("semaphore {op} failed: {source}")]
pub struct SemError {
    /// The glibc call.
    pub op: &'static str,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// A view of one `sem_t` in a mapping.
#[derive(Clone, Copy)]
pub struct Semaphore<'a> {
    sem: *mut libc::sem_t,
    _mapping: PhantomData<&'a SemSlot>,
}

// SAFETY: a process-shared semaphore is designed to be used from any thread (and process); the
// pointer stays valid for 'a by the constructor's contract.
unsafe impl Send for Semaphore<'_> {}
// SAFETY: as above; every operation is a glibc call or an atomic access.
unsafe impl Sync for Semaphore<'_> {}

impl<'a> Semaphore<'a> {
    /// Initialises the slot as a process-shared semaphore with `value` (`sem_init(s, 1, value)`).
    ///
    /// # Safety
    /// `slot` must be valid for writes, 8-aligned, and no process may be using it as a semaphore
    /// (initialising a semaphore that has waiters is undefined in POSIX).
    pub unsafe fn init(slot: *mut SemSlot, value: u32) -> Result<(), SemError> {
        // SAFETY: the caller guarantees a writable, aligned, unused 32-byte slot, which is exactly
        // a glibc `sem_t`.
        let rc = unsafe { libc::sem_init(slot.cast(), 1, value) };
        check(rc, "sem_init")
    }

    /// Views the semaphore in `slot`.
    ///
    /// # Safety
    /// `slot` must be 8-aligned and valid for reads and writes for `'a` (the mapping outlives the
    /// view), and hold a semaphore initialised by glibc or by [`Self::init`] (a zeroed slot is a
    /// valid process-private semaphore of value 0).
    pub unsafe fn from_slot(slot: *mut SemSlot) -> Self {
        Self {
            sem: slot.cast(),
            _mapping: PhantomData,
        }
    }

    /// The raw `sem_t *` (for the C API's `semptr` array).
    pub fn as_ptr(&self) -> *mut libc::sem_t {
        self.sem
    }

    fn word(&self) -> &'a AtomicU64 {
        // SAFETY: the slot is 8-aligned and valid for 'a (constructor contract), and this word is
        // only ever accessed atomically (by glibc and by us).
        unsafe { AtomicU64::from_ptr(self.sem.cast::<u64>()) }
    }

    /// glibc's futex privacy word (bytes 8..12 of the slot): 0 for a process-private semaphore,
    /// `0x80` for a process-shared one. Any other value is a damaged semaphore: glibc's wait would
    /// then abort the process or wait against the wrong clock, so [`Self::wait`] and friends refuse
    /// it (see [`Self::waitable`]).
    pub fn flag_word(&self) -> i32 {
        // SAFETY: bytes 8..12 lie inside the valid, 8-aligned 32-byte slot; a volatile read of a
        // word glibc writes only in `sem_init`.
        unsafe {
            self.sem
                .cast::<u8>()
                .add(SemSlot::PSHARED_BYTE)
                .cast::<i32>()
                .read_volatile()
        }
    }

    /// `Ok` when glibc can wait on this semaphore; an `InvalidData` error naming `op` when its flag
    /// word is damaged. A process rewriting the word between this check and the wait can still
    /// make glibc misbehave; nothing short of not calling glibc prevents that.
    pub fn waitable(&self, op: &'static str) -> Result<(), SemError> {
        let word = self.flag_word();
        if word == 0 || word == i32::from(SemSlot::PSHARED_MARK) {
            Ok(())
        } else {
            let msg = format!(
                "damaged semaphore: futex flag word {word:#x} is not 0 or 0x80, not waiting on it"
            );
            Err(SemError {
                op,
                source: io::Error::new(io::ErrorKind::InvalidData, msg),
            })
        }
    }

    fn futex_flags(&self) -> rustix::thread::futex::Flags {
        // SAFETY: byte 8 of the slot is inside the valid 32 bytes; glibc writes it only in
        // `sem_init`, before any waiter exists.
        let marker = unsafe {
            self.sem
                .cast::<u8>()
                .add(SemSlot::PSHARED_BYTE)
                .read_volatile()
        };
        if marker == SemSlot::PSHARED_MARK {
            rustix::thread::futex::Flags::empty()
        } else {
            rustix::thread::futex::Flags::PRIVATE
        }
    }

    /// Posts if the value is below `SEMAPHORE_MAXVAL`: race-free, and without a system call when
    /// no process is blocked on the semaphore.
    #[inline]
    pub fn post(&self) -> Post {
        self.post_below(SEMAPHORE_MAXVAL)
    }

    /// Posts if the value is below `bound`.
    #[inline]
    pub fn post_below(&self, bound: u32) -> Post {
        let word = self.word();
        let mut d = word.load(Relaxed);
        loop {
            if (d as u32) >= bound {
                return Post::Saturated;
            }
            // Release, as glibc's sem_post: what we wrote before posting is visible to the waiter
            // whose decrement (Acquire, in glibc) takes this token.
            match word.compare_exchange_weak(d, d + 1, Release, Relaxed) {
                Ok(_) => break,
                Err(actual) => d = actual,
            }
        }
        if d >> 32 != 0 {
            // There are waiters: wake one, on the value's address (the low half of the word), as
            // glibc does. Failure is impossible for a valid address; the value is already posted.
            let value = self.sem.cast::<std::sync::atomic::AtomicU32>();
            // SAFETY: the low 4 bytes of the slot are valid for 'a and 4-aligned; the kernel only
            // reads the address, we make no Rust access through this reference.
            let _ = rustix::thread::futex::wake(unsafe { &*value }, self.futex_flags(), 1);
        }
        Post::Posted
    }

    /// The current value (`sem_getvalue`).
    #[inline]
    pub fn value(&self) -> u32 {
        self.word().load(Relaxed) as u32
    }

    /// How many threads (of any process) are blocked on the semaphore, as glibc counts them
    /// (the high half of the word; a waiter registers just before it sleeps). A diagnostic, e.g.
    /// for tests that need a waiter to be asleep before posting.
    #[inline]
    pub fn waiters(&self) -> u32 {
        (self.word().load(Relaxed) >> 32) as u32
    }

    /// Sets the value to 0 without touching the waiter count; returns how many posts it drained.
    pub fn flush(&self) -> u32 {
        let word = self.word();
        let mut d = word.load(Relaxed);
        loop {
            if d as u32 == 0 {
                return 0;
            }
            // Acquire: like a sem_wait that takes every token at once.
            match word.compare_exchange_weak(d, d & !0xFFFF_FFFF, Acquire, Relaxed) {
                Ok(_) => return d as u32,
                Err(actual) => d = actual,
            }
        }
    }

    /// Takes a token if one is there (`sem_trywait`, no system call).
    pub fn try_wait(&self) -> bool {
        // SAFETY: a valid semaphore by the constructor's contract.
        unsafe { libc::sem_trywait(self.sem) == 0 }
    }

    /// Blocks until a token is there (`sem_wait`), retrying on EINTR.
    pub fn wait(&self) -> Result<(), SemError> {
        self.waitable("sem_wait")?;
        loop {
            // SAFETY: a valid semaphore by the constructor's contract.
            let rc = unsafe { libc::sem_wait(self.sem) };
            match check(rc, "sem_wait") {
                Err(e) if e.source.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// Blocks for at most `timeout` (measured on `CLOCK_MONOTONIC`, so wall-clock jumps do not
    /// matter). `Ok(true)` when a token was taken, `Ok(false)` on timeout; EINTR is retried
    /// against the same deadline.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, SemError> {
        let deadline = deadline_after(timeout);
        self.wait_until(libc::CLOCK_MONOTONIC, &deadline)
    }

    /// Blocks until the absolute `deadline` on `clock` (`sem_clockwait`); the C API uses
    /// `CLOCK_REALTIME` for the legacy `semtimedwait`.
    pub fn wait_until(
        &self,
        clock: libc::clockid_t,
        deadline: &libc::timespec,
    ) -> Result<bool, SemError> {
        self.waitable("sem_clockwait")?;
        loop {
            // SAFETY: a valid semaphore by the constructor's contract; `deadline` is a valid
            // timespec reference.
            let rc = unsafe { sem_clockwait(self.sem, clock, deadline) };
            match check(rc, "sem_clockwait") {
                Ok(()) => return Ok(true),
                Err(e) if e.source.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.source.raw_os_error() == Some(libc::ETIMEDOUT) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }
}

/// `CLOCK_MONOTONIC` now + `timeout`, saturating.
pub(crate) fn deadline_after(timeout: Duration) -> libc::timespec {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let secs = now
        .tv_sec
        .saturating_add(i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX / 2));
    let mut nsec = now.tv_nsec + i64::from(timeout.subsec_nanos());
    let secs = if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        secs.saturating_add(1)
    } else {
        secs
    };
    libc::timespec {
        tv_sec: secs,
        tv_nsec: nsec,
    }
}

fn check(rc: libc::c_int, op: &'static str) -> Result<(), SemError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(SemError {
            op,
            source: io::Error::last_os_error(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> Box<SemSlot> {
        Box::new(SemSlot { bytes: [0; 32] })
    }

    #[test]
    #[cfg_attr(miri, ignore)] // system calls (sem_*, futex, kill, getpid) are outside Miri
    fn init_matches_the_documented_glibc_bytes() {
        let mut s = slot();
        // SAFETY: a fresh heap slot nobody else uses.
        unsafe { Semaphore::init(&mut *s, 0) }.unwrap();
        assert_eq!(*s, SemSlot::process_shared(0));
    }

    #[test]
    #[cfg_attr(miri, ignore)] // system calls (sem_*, futex, kill, getpid) are outside Miri
    fn post_saturates_at_maxval_and_glibc_sees_our_posts() {
        let mut s = slot();
        let p: *mut SemSlot = &mut *s;
        // SAFETY: a fresh heap slot, alive for the whole test.
        let sem = unsafe {
            Semaphore::init(p, 0).unwrap();
            Semaphore::from_slot(p)
        };
        for _ in 0..SEMAPHORE_MAXVAL {
            assert_eq!(sem.post(), Post::Posted);
        }
        assert_eq!(sem.post(), Post::Saturated);
        let mut v = 0;
        // SAFETY: valid semaphore, valid out pointer.
        assert_eq!(unsafe { libc::sem_getvalue(sem.as_ptr(), &mut v) }, 0);
        assert_eq!(v, SEMAPHORE_MAXVAL as i32);
        assert!(sem.try_wait());
        assert_eq!(sem.value(), SEMAPHORE_MAXVAL - 1);
        assert_eq!(sem.flush(), SEMAPHORE_MAXVAL - 1);
        assert!(!sem.try_wait());
        assert!(
            !sem.wait_timeout(Duration::from_millis(5)).unwrap(),
            "timed out"
        );
    }

    #[test]
    #[cfg_attr(miri, ignore)] // system calls (sem_*, futex, kill, getpid) are outside Miri
    fn a_damaged_flag_word_is_refused_instead_of_crashing_in_glibc() {
        let mut s = slot();
        let p: *mut SemSlot = &mut *s;
        // SAFETY: a fresh heap slot, alive for the whole test, written below only through `p`.
        let sem = unsafe {
            Semaphore::init(p, 0).unwrap();
            p.cast::<u8>().add(SemSlot::PSHARED_BYTE).write(0x82);
            Semaphore::from_slot(p)
        };
        let err = sem.wait_timeout(Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.source.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("0x82"), "{err}");
        assert!(sem.wait().is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore)] // system calls (sem_*, futex, kill, getpid) are outside Miri
    fn a_blocked_thread_is_woken_by_our_post() {
        let mut s = slot();
        let p: *mut SemSlot = &mut *s;
        // SAFETY: a fresh heap slot that outlives the scoped thread below.
        let sem = unsafe {
            Semaphore::init(p, 0).unwrap();
            Semaphore::from_slot(p)
        };
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| sem.wait_timeout(Duration::from_secs(30)).unwrap());
            // Wait until glibc has registered the waiter, so the post must take the futex path.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while sem.word().load(Relaxed) >> 32 == 0 && std::time::Instant::now() < deadline {
                std::thread::yield_now();
            }
            assert_eq!(sem.post(), Post::Posted);
            assert!(waiter.join().unwrap(), "woken, not timed out");
        });
    }
}
