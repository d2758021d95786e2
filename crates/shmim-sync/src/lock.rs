//! A symmetric exclusive lock that can live at any 8-aligned offset of any shared mapping, robust
//! when a holder dies, usable from C (`ImageStreamIO_lock.h`) with the same protocol.
//!
//! # Why not a robust pthread mutex
//! A process-shared robust pthread mutex keeps glibc's robust-list pointers *inside the shared
//! bytes*: whoever can write the file can make the unlocking process write chosen values into
//! its own heap, and the heap addresses of every locker leak into the file. Its type is not
//! checked either (a plain mutex created from C silently loses robustness). Nothing in a shared
//! file may steer this process's memory, so the lock is a word that holds only *who* holds it.
//!
//! # The protocol (`docs/segment-lock.md`; the word and its orderings: [`crate::lock_word`])
//! * The word holds the holder's PID and thread id; taking it is one compare-and-swap.
//! * A busy lock is waited for with **timed** process-shared futex waits on the word (a dead
//!   holder wakes nobody), re-judging the holder every [`RECHECK`].
//! * A holder is **dead** when [`crate::liveness`] says so (zombies count as dead). That is only
//!   asked when the locker and the recorded holder are both in the PID namespace the segment's
//!   creator recorded (the inode of `/proc/self/ns/pid`): a PID from another namespace means
//!   nothing here, so across namespaces a locker waits until its timeout
//!   ([`LockError::Timeout`] says why) and may then take the lock with [`PidLock::force`].
//! * A locker that finds **its own PID** in the word asks this process's record of its guards:
//!   held by this thread → [`LockError::Deadlock`]; by another live thread → wait; by nobody →
//!   the record is stale (a dead process had our PID, or a thread of ours ended holding it) and
//!   the lock is taken over. The record is consulted and the word changed under one process-wide
//!   mutex, so two threads of one process never both take the lock.
//! * The locker after a death is told ([`LockGuard::owner_died`]), like `EOWNERDEAD`: the data
//!   may be half updated. It repairs it and calls [`LockGuard::mark_consistent`]; if it releases
//!   without doing so, the *next* locker is told in turn.
//!
//! # Limits
//! * Fairness: none (a futex wakes one sleeper; a thread arriving meanwhile may win).
//! * A C program's guards are not in this process's record: do not lock one lock from both C and
//!   Rust code of the same process (the Rust side would take a C holder of its own process for
//!   stale).
//! * Without `/proc` the namespace cannot be read (recorded as 0): no automatic take-over at all,
//!   only timeouts and `force`.
//! * `fork` while another thread holds the process-wide record's mutex leaves the child unable
//!   to lock (as with any mutex); a child must not use guards inherited from its parent.

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::lock_word::{self, Attempt, Locker, Verdict, Word};
use crate::{liveness, pid};

/// How long a waiter sleeps before it judges the holder again (a dead holder wakes nobody).
pub const RECHECK: Duration = Duration::from_millis(10);

/// Why a lock operation failed (a busy [`PidLock::try_lock`] is `Ok(None)`, not an error).
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// This thread already holds the lock (it is not recursive).
    #[error("this thread already holds the lock")]
    Deadlock,
    /// The lock stayed held for the whole wait.
    #[error(
        "lock still held by PID {owner} after {waited:?}{}",
        if *unjudged {
            "; that holder is outside this segment's PID namespace (or the namespace is unknown), \
             so its death cannot be detected: if you know it is gone, take the lock with force"
        } else {
            " (a live process)"
        }
    )]
    Timeout {
        /// The holder's PID, in its own namespace.
        owner: u32,
        /// How long we waited.
        waited: Duration,
        /// Liveness could not be checked (another PID namespace): only `force` can help.
        unjudged: bool,
    },
    /// A futex call failed for another reason than a timeout, a changed word or a signal.
    #[error("{op} failed: {source}")]
    Os {
        /// The call.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Which lock this is, independent of where it is mapped: the process's record of its own
/// guards is keyed by it, so two mappings of one file are one lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockId {
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// Offset of the word in the file.
    pub offset: u64,
}

/// A view of a lock word in a mapping.
#[derive(Clone, Copy)]
pub struct PidLock<'a> {
    word: &'a AtomicU64,
    home_ns: u64,
    id: LockId,
}

impl std::fmt::Debug for PidLock<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PidLock")
            .field("word", &Word::decode(self.raw()))
            .field("home_ns", &self.home_ns)
            .field("id", &self.id)
            .finish()
    }
}

impl<'a> PidLock<'a> {
    /// Bytes the lock occupies.
    pub const SIZE: usize = 8;
    /// Alignment the lock needs.
    pub const ALIGN: usize = 8;

    /// Initialises the word at `p`: free.
    ///
    /// # Safety
    /// `p` must be 8-aligned and valid for writes, and nobody may be using it as a lock.
    pub unsafe fn init(p: *mut u64) {
        // SAFETY: forwarded to the caller.
        unsafe { AtomicU64::from_ptr(p) }.store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Views the lock at `p`. `home_ns` is the PID namespace recorded with it (0: unknown),
    /// `id` names it for this process's record of its guards.
    ///
    /// # Safety
    /// `p` must be 8-aligned and valid for reads and writes for `'a` (the mapping outlives the
    /// view and stays at this address), and accessed only atomically in this process. Any value
    /// in the word is acceptable.
    pub unsafe fn from_ptr(p: *mut u64, home_ns: u64, id: LockId) -> Self {
        Self {
            // SAFETY: forwarded to the caller.
            word: unsafe { AtomicU64::from_ptr(p) },
            home_ns,
            id,
        }
    }

    /// The raw word now (for tools and messages).
    pub fn raw(&self) -> u64 {
        self.word.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Blocks until the lock is ours (a live holder may keep it forever; across PID namespaces
    /// a dead one does: prefer [`Self::lock_timeout`]).
    pub fn lock(&self) -> Result<LockGuard<'a>, LockError> {
        self.lock_until(None)
    }

    /// Takes the lock if it is free or its holder is dead; `Ok(None)` if a live holder has it.
    pub fn try_lock(&self) -> Result<Option<LockGuard<'a>>, LockError> {
        Ok(self.acquire(Some(Instant::now()))?.ok())
    }

    /// Waits at most `timeout` (measured on the monotonic clock).
    pub fn lock_timeout(&self, timeout: Duration) -> Result<LockGuard<'a>, LockError> {
        self.lock_until(Instant::now().checked_add(timeout))
    }

    /// Waits until `deadline` (`None`: forever); the timeout error names the holder.
    fn lock_until(&self, deadline: Option<Instant>) -> Result<LockGuard<'a>, LockError> {
        let start = Instant::now();
        self.acquire(deadline)?.map_err(|seen| {
            let w = Word::decode(seen);
            LockError::Timeout {
                owner: w.owner,
                waited: start.elapsed(),
                unjudged: !self.judgeable(w),
            }
        })
    }

    /// Takes the lock whatever holds it, as if its holder had died: the guard says
    /// [`LockGuard::owner_died`]. For a holder that cannot be judged (another PID namespace)
    /// and is known to be gone. **If it is alive, there are two holders**: the old one's
    /// release is then ignored, but its writes meanwhile are not.
    pub fn force(&self) -> LockGuard<'a> {
        let me = self.locker();
        let mut held = record();
        lock_word::force(self.word, me);
        held.retain(|h| h.id != self.id || h.pid != me.pid);
        held.push(Held {
            id: self.id,
            pid: me.pid,
            tid: me.tid,
        });
        self.guard(me, true)
    }

    /// Whether liveness can be asked about the holder `w` from here.
    fn judgeable(&self, w: Word) -> bool {
        !w.foreign && self.locker().home
    }

    fn locker(&self) -> Locker {
        Locker {
            pid: pid::current() as u32,
            tid: rustix::thread::gettid().as_raw_nonzero().get() as u32,
            home: in_namespace(self.home_ns),
        }
    }

    fn guard(&self, me: Locker, owner_died: bool) -> LockGuard<'a> {
        LockGuard {
            lock: *self,
            me,
            owner_died,
            consistent: !owner_died,
            _not_send: PhantomData,
        }
    }

    /// Attempts, sleeping between them, until the lock is ours, or `deadline` (then `Err` with
    /// the word last seen).
    fn acquire(&self, deadline: Option<Instant>) -> Result<Result<LockGuard<'a>, u64>, LockError> {
        let me = self.locker();
        let mut waited = false;
        loop {
            let outcome = {
                // The record and the word change together (module docs).
                let mut held = record();
                let outcome =
                    lock_word::attempt(self.word, me, waited, |w| self.judge(w, me, &mut held));
                if let Attempt::Acquired { .. } = outcome {
                    held.push(Held {
                        id: self.id,
                        pid: me.pid,
                        tid: me.tid,
                    });
                }
                outcome
            };
            let seen = match outcome {
                Attempt::Acquired { owner_died } => return Ok(Ok(self.guard(me, owner_died))),
                Attempt::Relock => return Err(LockError::Deadlock),
                Attempt::Busy(seen) => seen,
            };
            let nap = match deadline {
                None => RECHECK,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(RECHECK),
                    _ => return Ok(Err(seen)),
                },
            };
            if let Some(value) = lock_word::announce_waiter(self.word, seen) {
                futex_wait(self.word, Word::futex_value(value), nap)?;
                waited = true;
            }
        }
    }

    /// The verdict on the holder a busy word names (module docs). `held` is this process's
    /// record, locked by the caller.
    fn judge(&self, w: Word, me: Locker, held: &mut Vec<Held>) -> Verdict {
        if !me.home || w.foreign {
            return Verdict::Alive;
        }
        if w.owner == me.pid {
            held.retain(|h| h.pid == me.pid);
            return match held.iter().find(|h| h.id == self.id) {
                Some(h) if h.tid == me.tid => Verdict::ThisThread,
                Some(h) if thread_alive(h.tid) => Verdict::Alive,
                // A thread of ours ended holding it, or a dead process had our PID.
                Some(_) | None => {
                    held.retain(|h| h.id != self.id);
                    Verdict::Dead
                }
            };
        }
        // `owner` is > 0 here (a free word needs no verdict), so `kill` never sees 0 or less.
        if liveness::is_dead(w.owner as i32) {
            Verdict::Dead
        } else {
            Verdict::Alive
        }
    }
}

/// The held lock; dropping it releases it (and wakes a sleeper).
///
/// Not `Send`: the word names the locking thread, and the process's record of its guards ties
/// the guard to it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: PidLock<'a>,
    me: Locker,
    owner_died: bool,
    consistent: bool,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("owner_died", &self.owner_died)
            .field("consistent", &self.consistent)
            .finish_non_exhaustive()
    }
}

impl LockGuard<'_> {
    /// True when a previous holder died holding the lock and nobody repaired the data since: it
    /// may be half updated. Stays true after [`Self::mark_consistent`] (it describes how the
    /// lock was taken).
    pub fn owner_died(&self) -> bool {
        self.owner_died
    }

    /// False between an owner-died acquisition and [`Self::mark_consistent`]. Released in that
    /// state, the lock tells the next locker that the owner died.
    pub fn is_consistent(&self) -> bool {
        self.consistent
    }

    /// Declares the protected data repaired: the next locker is not told of the death. A no-op on
    /// a lock taken normally.
    pub fn mark_consistent(&mut self) {
        self.consistent = true;
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let wake = {
            let mut held = record();
            held.retain(|h| {
                !(h.id == self.lock.id && h.pid == self.me.pid && h.tid == self.me.tid)
            });
            lock_word::release(self.lock.word, self.me, self.consistent)
        };
        if wake {
            futex_wake(self.lock.word);
        }
    }
}

/// One guard of this process, in its record.
#[derive(Debug, Clone, Copy)]
struct Held {
    id: LockId,
    /// The process that took it (entries of a parent are ignored in a forked child).
    pid: u32,
    tid: u32,
}

/// This process's record of the guards it holds.
fn record() -> MutexGuard<'static, Vec<Held>> {
    static HELD: Mutex<Vec<Held>> = Mutex::new(Vec::new());
    // A panic while the record was locked leaves it consistent (every change is one call).
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whether thread `tid` of this process is alive (`tgkill(getpid(), tid, 0)`); never asks
/// about a value ≤ 0.
fn thread_alive(tid: u32) -> bool {
    let Ok(tid) = libc::pid_t::try_from(tid) else {
        return false;
    };
    if tid <= 0 {
        return false;
    }
    // SAFETY: signal 0 sends nothing; it only checks that the thread exists in our group.
    let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid::current(), tid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The inode of this process's PID namespace (`/proc/self/ns/pid`), 0 if it cannot be read.
/// Cached per PID (a forked child of a process that called `unshare(CLONE_NEWPID)` is in another
/// namespace than its parent).
pub fn pid_namespace() -> u64 {
    static CACHE: Mutex<(i32, u64)> = Mutex::new((0, 0));
    let me = pid::current();
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if cache.0 != me {
        let ns = rustix::fs::stat("/proc/self/ns/pid").map_or(0, |st| st.st_ino);
        *cache = (me, ns);
    }
    cache.1
}

/// Whether this process is in namespace `home` (never when either is unknown).
fn in_namespace(home: u64) -> bool {
    home != 0 && pid_namespace() == home
}

/// Sleeps while the futex half of `word` holds `value`, for at most `nap`. A wake, a changed
/// value, a signal or the timeout all just return (the caller attempts again).
fn futex_wait(word: &AtomicU64, value: u32, nap: Duration) -> Result<(), LockError> {
    let ts = libc::timespec {
        tv_sec: nap.as_secs() as libc::time_t,
        tv_nsec: nap.subsec_nanos() as libc::c_long,
    };
    // SAFETY: the address is the word's low half (little-endian), valid while `word` is; the
    // kernel only reads it. FUTEX_WAIT without the PRIVATE flag: the word is shared between
    // processes. The timeout is relative (CLOCK_MONOTONIC).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr().cast::<u32>(),
            libc::FUTEX_WAIT,
            value,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::ETIMEDOUT | libc::EINTR) => Ok(()),
        _ => Err(LockError::Os {
            op: "futex(FUTEX_WAIT)",
            source: e,
        }),
    }
}

/// Wakes one sleeper of `word`. A failure here only delays the sleeper to its next recheck.
fn futex_wake(word: &AtomicU64) {
    // SAFETY: as in `futex_wait`; FUTEX_WAKE only uses the address as a key.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr().cast::<u32>(),
            libc::FUTEX_WAKE,
            1,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock_word::{OWNER_DIED, OWNER_MASK};

    /// A heap word for in-process tests, with its own identity.
    struct Heap(Box<u64>, LockId);

    impl Heap {
        fn new(offset: u64) -> Self {
            Self(
                Box::new(0),
                LockId {
                    dev: u64::MAX,
                    ino: u64::MAX,
                    offset,
                },
            )
        }

        fn set(&mut self, raw: u64) {
            *self.0 = raw;
        }

        fn lock(&mut self) -> PidLock<'_> {
            // SAFETY: a live, aligned heap word, accessed only through the view meanwhile.
            unsafe { PidLock::from_ptr(&raw mut *self.0, pid_namespace(), self.1) }
        }
    }

    fn me() -> (u32, u32) {
        (
            std::process::id(),
            rustix::thread::gettid().as_raw_nonzero().get() as u32,
        )
    }

    #[test]
    #[cfg_attr(miri, ignore)] // system calls are outside Miri
    fn try_lock_fails_while_another_thread_holds_it_and_succeeds_after() {
        let mut heap = Heap::new(1);
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
        let mut heap = Heap::new(2);
        let lock = heap.lock();
        let _guard = lock.lock().unwrap();
        assert!(matches!(lock.lock(), Err(LockError::Deadlock)));
        assert!(matches!(lock.try_lock(), Err(LockError::Deadlock)));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_waiter_is_woken_by_the_release() {
        let mut heap = Heap::new(3);
        let lock = heap.lock();
        let guard = lock.lock().unwrap();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let g = lock.lock_timeout(Duration::from_secs(60)).unwrap();
                assert!(!g.owner_died());
            });
            while !Word::decode(lock.raw()).waiters && !waiter.is_finished() {
                std::thread::yield_now();
            }
            drop(guard);
            waiter.join().unwrap();
        });
        assert_eq!(lock.raw(), 0, "released, clean");
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn lock_timeout_names_a_live_holder() {
        let mut heap = Heap::new(4);
        let lock = heap.lock();
        let _guard = lock.lock().unwrap();
        std::thread::scope(|s| {
            s.spawn(|| match lock.lock_timeout(Duration::from_millis(5)) {
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
    #[cfg_attr(miri, ignore)]
    fn a_thread_that_ends_holding_the_lock_leaves_it_owner_died() {
        let mut heap = Heap::new(5);
        let lock = heap.lock();
        std::thread::scope(|s| {
            s.spawn(|| std::mem::forget(lock.lock().unwrap()));
        });
        let mut guard = lock.lock_timeout(Duration::from_secs(60)).unwrap();
        assert!(guard.owner_died() && !guard.is_consistent());
        guard.mark_consistent();
        drop(guard);
        assert!(!lock.lock().unwrap().owner_died());
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn releasing_unrepaired_tells_the_next_locker_again() {
        let mut heap = Heap::new(6);
        heap.set(u64::from(OWNER_DIED));
        let lock = heap.lock();
        let guard = lock.lock().unwrap();
        assert!(guard.owner_died());
        drop(guard);
        let mut guard = lock.lock().unwrap();
        assert!(guard.owner_died(), "still not repaired");
        guard.mark_consistent();
        drop(guard);
        assert!(!lock.lock().unwrap().owner_died());
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn our_own_pid_with_no_guard_of_ours_is_a_stale_record() {
        let (pid, tid) = me();
        let mut heap = Heap::new(7);
        // A dead process had our PID (and even this thread's id) and died holding the lock.
        for recorded_tid in [tid, tid.wrapping_add(1_000_000), 0] {
            heap.set(
                Word {
                    owner: pid,
                    tid: recorded_tid,
                    ..Word::default()
                }
                .encode(),
            );
            let lock = heap.lock();
            let guard = lock.try_lock().unwrap().expect("taken over");
            assert!(guard.owner_died());
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn hostile_words_never_crash_and_end_in_a_take_over_or_a_timeout() {
        let (pid, _) = me();
        let values = [
            u64::MAX,
            u64::from(OWNER_MASK),
            0xffff_ffff_0000_0001, // PID 1 (init: alive), thread id -1
            0x8000_0000_0000_0000,
            u64::from(OWNER_MASK) | (u64::from(u32::MAX) << 32),
            u64::from(pid) | 0x2000_0000, // our PID marked foreign
            u64::from(OWNER_DIED) | 0xdead_0000_0000_0000,
        ];
        for (i, raw) in values.into_iter().enumerate() {
            let mut heap = Heap::new(100 + i as u64);
            heap.set(raw);
            let lock = heap.lock();
            match lock.lock_timeout(Duration::from_millis(20)) {
                Ok(guard) => assert!(
                    guard.owner_died() || Word::decode(raw).is_free(),
                    "{raw:#x}: a take-over is reported"
                ),
                Err(LockError::Timeout { .. }) => {}
                Err(e) => panic!("{raw:#x}: {e}"),
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn force_takes_a_lock_nobody_can_judge() {
        let mut heap = Heap::new(8);
        // Held by PID 2 "in another namespace".
        heap.set(u64::from(2 | crate::lock_word::FOREIGN));
        let lock = heap.lock();
        match lock.lock_timeout(Duration::from_millis(5)) {
            Err(e @ LockError::Timeout { unjudged: true, .. }) => {
                assert!(e.to_string().contains("force"), "{e}");
            }
            other => panic!("expected an unjudged timeout, got {other:?}"),
        }
        let mut guard = lock.force();
        assert!(guard.owner_died());
        guard.mark_consistent();
        drop(guard);
        assert_eq!(lock.raw(), 0);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn this_process_knows_its_pid_namespace() {
        assert_ne!(pid_namespace(), 0, "/proc/self/ns/pid is readable here");
        assert_eq!(pid_namespace(), pid_namespace());
    }
}
