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
//! # The protocol (`docs/segment-lock.md`; the word: [`crate::lock_word`]; the record and the
//! verdicts: [`crate::lock_record`])
//! * The word holds the holder's PID and thread id; taking it is one compare-and-swap.
//! * **Within this process, its own record of guards decides**, never the word: while a live
//!   thread of ours holds a guard, other threads of ours wait, [`PidLock::force`] refuses, and the
//!   holding thread relocking gets [`LockError::Deadlock`] (in any PID namespace). A scribbled
//!   word or another process's `force` can therefore never give two guards — two `&mut` — in one
//!   process.
//! * A busy lock is waited for with **timed** process-shared futex waits on the word (a dead
//!   holder wakes nobody), re-judging the holder every [`RECHECK`].
//! * Another process holding it is **dead** when [`crate::liveness`] says so (a process that has
//!   exited, zombie included). That is only asked when the locker and the recorded holder are
//!   both in the PID namespace the segment's creator recorded (the inode of
//!   `/proc/self/ns/pid`): a PID from another namespace means nothing here, so across namespaces
//!   a locker waits until its timeout ([`LockError::Timeout`] says why) and may then take the
//!   lock with [`PidLock::force`].
//! * A word naming **our own PID** that no live thread of ours holds is stale (a dead process
//!   had our PID, or a thread of ours ended holding it) and is taken over.
//! * The locker after a death is told ([`LockGuard::owner_died`]), like `EOWNERDEAD`: the data
//!   may be half updated. It repairs it and calls [`LockGuard::mark_consistent`]; if it releases
//!   without doing so — or the holding thread panics — the *next* locker is told in turn.
//!
//! # Limits
//! * Fairness: none (a futex wakes one sleeper; a thread arriving meanwhile may win).
//! * A C program's guards are not in this process's record: do not lock one lock from both C and
//!   Rust code of the same process (the Rust side would take a C holder of its own process for
//!   stale).
//! * Without `/proc` the namespace cannot be read (recorded as 0): no automatic take-over at all,
//!   only timeouts and `force`.
//! * A guard whose thread forgot it (`mem::forget`) holds the lock for this process until that
//!   thread ends, like a forgotten `MutexGuard`.
//! * A forked child starts with an empty record (its parent's guards are not its own) and never
//!   releases a guard it inherited; it must not use such a guard's data either: the parent still
//!   holds the lock.
#[cfg(not(target_endian = "little"))]
compile_error!(
    "the segment lock sleeps on the low half of its 64-bit word at the word's address: little-endian targets only"
);

use std::cell::Cell;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicI32, AtomicU64};
use std::time::{Duration, Instant};

use crate::local_lock::{LocalGuard, LocalLock};
pub use crate::lock_record::LockId;
use crate::lock_record::{Me, Os, Record, Refusal};
use crate::lock_wait::{self, Outcome, Waiting};
use crate::lock_word::{Locker, Word};
use crate::{futex, liveness, pid};

/// How long a waiter sleeps before it judges the holder again (a dead holder wakes nobody).
pub const RECHECK: Duration = Duration::from_millis(10);

/// Why a lock operation failed (a busy [`PidLock::try_lock`] is `Ok(None)`, not an error).
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// This thread already holds the lock (it is not recursive).
    #[error("this thread already holds the lock")]
    Deadlock,
    /// [`PidLock::force`] refused: a live thread of this very process holds the lock, and two
    /// guards in one process would alias the data it protects.
    #[error(
        "thread {tid} of this process holds the lock: force only takes a lock from a holder \
         outside this process; wait for that thread to release it"
    )]
    HeldInThisProcess {
        /// The holding thread's id.
        tid: u32,
    },
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
        unsafe { AtomicU64::from_ptr(p) }.store(0, Relaxed);
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
        self.word.load(Relaxed)
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

    /// Waits until `deadline` (`None`: forever); the timeout error names the holder: this process
    /// when the record kept us out (another of its threads holds a guard, whatever the word says
    /// now: another process may have forced and released it meanwhile), else the word's owner.
    fn lock_until(&self, deadline: Option<Instant>) -> Result<LockGuard<'a>, LockError> {
        let start = Instant::now();
        self.acquire(deadline)?.map_err(|seen| {
            let me = self.me();
            let w = Word::decode(seen);
            let held_here = record()
                .other_thread_holding(self.id, me, &System)
                .is_some();
            LockError::Timeout {
                owner: if held_here { me.locker.pid } else { w.owner },
                waited: start.elapsed(),
                unjudged: !self.judgeable(w),
            }
        })
    }

    /// Takes the lock whatever another process holds, as if its holder had died: the guard says
    /// [`LockGuard::owner_died`]. For a holder that cannot be judged (another PID namespace) and
    /// is known to be gone. **If it is alive, there are two holders** in two processes: nothing
    /// stops its writes meanwhile. Refused while a live thread of *this* process holds the lock
    /// ([`LockError::Deadlock`] for the calling thread, [`LockError::HeldInThisProcess`]
    /// otherwise): two guards in one process would alias the data.
    pub fn force(&self) -> Result<LockGuard<'a>, LockError> {
        let me = self.me();
        let forced = record().force(self.word, self.id, me, &System);
        match forced {
            Ok(()) => Ok(self.guard(me, true)),
            Err(Refusal::ThisThread) => Err(LockError::Deadlock),
            Err(Refusal::Thread(tid)) => Err(LockError::HeldInThisProcess { tid }),
        }
    }

    /// Whether liveness can be asked about the holder `w` from here.
    fn judgeable(&self, w: Word) -> bool {
        !w.foreign && in_namespace(self.home_ns)
    }

    fn me(&self) -> Me {
        Me {
            locker: Locker {
                pid: pid::current() as u32,
                tid: pid::current_thread(),
                home: in_namespace(self.home_ns),
            },
            token: thread_token(),
        }
    }

    fn guard(&self, me: Me, owner_died: bool) -> LockGuard<'a> {
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
        let me = self.me();
        let mut waiting = FutexWaiting {
            word: self.word,
            deadline,
        };
        let outcome = lock_wait::acquire(record, self.word, self.id, me, &System, &mut waiting)
            .map_err(|source| LockError::Os {
                op: "futex(FUTEX_WAIT)",
                source,
            })?;
        match outcome {
            Outcome::Held { owner_died } => Ok(Ok(self.guard(me, owner_died))),
            Outcome::Relock => Err(LockError::Deadlock),
            Outcome::TimedOut(seen) => Ok(Err(seen)),
        }
    }
}

/// Sleeping on a lock word with the futex, for at most [`RECHECK`] at a time, until a deadline
/// on the monotonic clock.
struct FutexWaiting<'a> {
    word: &'a AtomicU64,
    deadline: Option<Instant>,
}

impl Waiting for FutexWaiting<'_> {
    type Error = io::Error;

    fn nap(&mut self) -> Option<Duration> {
        match self.deadline {
            None => Some(RECHECK),
            Some(d) => d
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero())
                .map(|left| left.min(RECHECK)),
        }
    }

    fn sleep(&mut self, value: u32, nap: Duration) -> io::Result<bool> {
        futex::wait(self.word, value, nap)
    }

    fn wake_one(&mut self) {
        futex::wake_one(self.word);
    }
}

/// The held lock; dropping it releases it (and wakes a sleeper).
///
/// Not `Send`: the word names the locking thread, and the process's record of its guards ties
/// the guard to it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: PidLock<'a>,
    me: Me,
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
        if pid::current() as u32 != self.me.locker.pid {
            // A forked child's copy of its parent's guard: the parent still holds the lock.
            return;
        }
        // A thread that panics while holding the lock may have left the data half updated, like
        // a holder that died: the next locker is told (a poisoned `Mutex`, across processes).
        let consistent = self.consistent && !std::thread::panicking();
        let wake = record().release(self.lock.word, self.lock.id, self.me, consistent);
        if wake {
            futex::wake_one(self.lock.word);
        }
    }
}

/// This process's record of the guards it holds, locked (see [`crate::lock_record`]). A
/// [`LocalLock`]: a fork that catches another thread holding it does not leave the child
/// unable to lock.
fn record() -> LocalGuard<'static, Record> {
    static RECORD: LocalLock<Record> = LocalLock::new(Record::new());
    RECORD.lock()
}

/// A number no other thread of this process ever had (thread ids are reused; these are not).
fn thread_token() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: Cell<u64> = const { Cell::new(0) };
    }
    TOKEN.with(|t| {
        if t.get() == 0 {
            // Relaxed: only uniqueness matters, which the read-modify-write gives.
            t.set(NEXT.fetch_add(1, Relaxed));
        }
        t.get()
    })
}

/// The answers of this system: `tgkill` for our threads, [`liveness`] for other processes.
struct System;

impl Os for System {
    fn thread_alive(&self, tid: u32) -> bool {
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

    fn process_dead(&self, pid: u32) -> bool {
        i32::try_from(pid).is_ok_and(liveness::is_dead)
    }
}

/// The inode of this process's PID namespace (`/proc/self/ns/pid`), 0 if it cannot be read.
/// Cached per PID (a forked child of a process that called `unshare(CLONE_NEWPID)` is in another
/// namespace than its parent).
pub fn pid_namespace() -> u64 {
    static NS: AtomicU64 = AtomicU64::new(0);
    static READ_IN: AtomicI32 = AtomicI32::new(0);
    let me = pid::current();
    // Acquire: pairs with the Release below, so `NS` is the value read in this process.
    if READ_IN.load(Acquire) == me {
        return NS.load(Relaxed);
    }
    // Threads racing here read and store the same value.
    let ns = rustix::fs::stat("/proc/self/ns/pid").map_or(0, |st| st.st_ino);
    NS.store(ns, Relaxed);
    READ_IN.store(me, Release);
    ns
}

/// Whether this process is in namespace `home` (never when either is unknown).
fn in_namespace(home: u64) -> bool {
    home != 0 && pid_namespace() == home
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock_word::{FOREIGN, OWNER_DIED, OWNER_MASK};

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

        /// The lock, in this process's PID namespace.
        fn lock(&mut self) -> PidLock<'_> {
            self.lock_in(pid_namespace())
        }

        /// The lock, recorded as belonging to PID namespace `home_ns`.
        fn lock_in(&mut self, home_ns: u64) -> PidLock<'_> {
            // SAFETY: a live, aligned heap word, accessed only through the view meanwhile.
            unsafe { PidLock::from_ptr(&raw mut *self.0, home_ns, self.1) }
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
    fn relocking_from_the_holding_thread_is_an_error_not_a_hang_in_any_namespace() {
        // Home; the namespace unknown (0); another namespace (the word says FOREIGN).
        for home_ns in [pid_namespace(), 0, pid_namespace() ^ 1] {
            let mut heap = Heap::new(2);
            let lock = heap.lock_in(home_ns);
            let _guard = lock.lock().unwrap();
            // A watchdog, not a bound: the answer is immediate (before the fix, outside the home
            // namespace, a timeout here and `lock()` below hung).
            let relock = lock.lock_timeout(Duration::from_secs(10));
            assert!(
                matches!(relock, Err(LockError::Deadlock)),
                "{home_ns}: {relock:?}"
            );
            assert!(matches!(lock.try_lock(), Err(LockError::Deadlock)));
            assert!(matches!(lock.lock(), Err(LockError::Deadlock)));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn force_is_refused_while_this_thread_holds_the_lock() {
        let mut heap = Heap::new(3);
        let lock = heap.lock();
        let guard = lock.lock().unwrap();
        assert!(matches!(lock.force(), Err(LockError::Deadlock)));
        drop(guard);
        assert_eq!(lock.raw(), 0, "the refused force changed nothing");
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

    /// What a locker makes of a hostile word.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Verdict {
        /// Taken: `owner_died` as the guard reports it.
        Taken { owner_died: bool },
        /// Timed out; whether the holder could be judged.
        Waited { unjudged: bool },
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn hostile_words_never_crash_and_each_ends_as_the_protocol_says() {
        let (pid, _) = me();
        let taken_over = Verdict::Taken { owner_died: true };
        let cases = [
            // PID 0x1fffffff (above PID_MAX_LIMIT: no such process), marked foreign: unjudged.
            (u64::MAX, Verdict::Waited { unjudged: true }),
            // The same PID at home: no such process, taken over.
            (u64::from(OWNER_MASK), taken_over),
            (
                u64::from(OWNER_MASK) | (u64::from(u32::MAX) << 32),
                taken_over,
            ),
            // PID 1 (this namespace's init, alive), thread id -1: waited for.
            (0xffff_ffff_0000_0001, Verdict::Waited { unjudged: false }),
            // Owner 0 is free whatever the other bits say; the owner-died news is passed on.
            (0x8000_0000_0000_0000, Verdict::Taken { owner_died: false }),
            (u64::from(OWNER_DIED) | 0xdead_0000_0000_0000, taken_over),
            // Our own PID, marked foreign: it means nothing here.
            (u64::from(pid | FOREIGN), Verdict::Waited { unjudged: true }),
        ];
        for (i, (raw, expected)) in cases.into_iter().enumerate() {
            let mut heap = Heap::new(100 + i as u64);
            heap.set(raw);
            let lock = heap.lock();
            let got = match lock.lock_timeout(Duration::from_millis(20)) {
                Ok(guard) => Verdict::Taken {
                    owner_died: guard.owner_died(),
                },
                Err(LockError::Timeout { unjudged, .. }) => Verdict::Waited { unjudged },
                Err(e) => panic!("{raw:#x}: {e}"),
            };
            assert_eq!(got, expected, "word {raw:#x}");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn force_takes_a_lock_nobody_can_judge() {
        let mut heap = Heap::new(8);
        // Held by PID 2 "in another namespace".
        heap.set(u64::from(2 | FOREIGN));
        let lock = heap.lock();
        match lock.lock_timeout(Duration::from_millis(5)) {
            Err(e @ LockError::Timeout { unjudged: true, .. }) => {
                assert!(e.to_string().contains("force"), "{e}");
            }
            other => panic!("expected an unjudged timeout, got {other:?}"),
        }
        let mut guard = lock.force().unwrap();
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

    #[test]
    #[cfg_attr(miri, ignore)]
    fn thread_tokens_are_never_shared() {
        let here = thread_token();
        assert_eq!(here, thread_token());
        let there = std::thread::spawn(thread_token).join().unwrap();
        assert_ne!(here, there);
    }
}
