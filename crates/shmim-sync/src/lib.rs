//! Synchronisation on the frozen ImageStreamIO layout: the only crate of shmim that names a memory
//! ordering.
//!
//! The stream file keeps its legacy, non-atomic field types (`write: u8`, `cnt0: u64`, …), because
//! C programs dereference them directly. This crate reaches those fields through atomic *views*
//! built from a pointer to the field ([`field::view`], i.e. `AtomicU64::from_ptr`), the Rust
//! counterpart of the C `__atomic_*` builtins on plain objects, and builds the protocols of
//! `docs/protocol.md` on top:
//!
//! | module | protocol |
//! |---|---|
//! | [`field`] | one generic accessor family for every shared field, and the [`field::AtomicCell`] trait the protocols are written against (std and loom) |
//! | [`write_flag`] | writer begin / publish / abandon, the claim words, who holds the flag, recovery of a dead writer's flag |
//! | [`abandoned`] | the flags this process abandoned, and how its handles take them back (adopt once; a recovery or force consumes the record; a forked child has none) |
//! | [`fork_local`] | process-wide state a forked child never inherits (no lock a fork can catch) |
//! | [`seqlock`] | consistent read: begin, validate, and the one racy pixel copy |
//! | [`spin`] | bounded spinning: backoff, deadline, liveness |
//! | [`slot`] | reader-slot claim and release (compare-and-swap on `semReadPID[i]`) |
//! | [`lock`] | the segment lock for data many processes edit: an owner-PID word, timed futex waits, owner death by liveness (also in C: `ImageStreamIO_lock.h`) |
//! | [`lock_word`] | the segment lock's word and its transitions |
//! | [`lock_record`] | the process's record of its guards and the verdicts on a busy word: within a process the record decides, between processes the word |
//! | [`lock_wait`] | the acquisition loop: attempt, announce, sleep; a wake is never swallowed |
//! | [`local_lock`] | a lock among the threads of one process that a `fork` cannot leave taken in the child (the lock record, keyword writers) |
//! | [`range_lock`] | an exclusive lock on a byte range of a file, held by its open file description (keyword writers) |
//! | [`semaphore`] | glibc process-shared `sem_t` in the file, with a race-free `SEMAPHORE_MAXVAL` clamp |
//! | [`liveness`] | is this PID a live process? (zombies count as dead) |
//! | [`pid`] | this process's PID, cached safely across `fork` (no lock a fork can catch) |
//!
//! Everything here is internal plumbing for `shmim-core` and `shmim-capi`; end users see
//! operations (`guard.commit()`, `reader.wait()`), never orderings.
//!
//! # Only here
//! `clippy.toml` bans the raw atomic types and `std::sync::atomic::Ordering` (`disallowed-types`)
//! everywhere but this crate and `shmim-envcache`, which opt out with
//! `#![allow(clippy::disallowed_types)]`; `cargo xtask ci` runs clippy with warnings denied, so an
//! `AtomicU64` in `shmim-core` fails CI (checked). Our own tests and examples are separate crates
//! and name no atomic type (they go through [`Field`]), except the loom models.
//!
//! # How it is proven (`cargo xtask ci`)
//! * **loom** (`loom-sync`; `tests/loom_*.rs`): under `--cfg loom` the protocols run on loom's
//!   atomics through [`field::AtomicCell`] (loom has no `from_ptr`), pixels are loom words written
//!   and read Relaxed, spin loops yield to the model scheduler, and the OS-backed modules
//!   (semaphores, lock, liveness, PID) are left out. Models: publish vs consistent reader (no torn
//!   or stale frame accepted), two writers racing `begin`, abandon vs reader, reader-slot claim
//!   and release, recovery of a dead writer's flag by two recoverers against a writer in its
//!   begin window and a legacy writer (`loom_recover`, which also rejects a broken variant),
//!   the segment lock (`loom_lock`, on the shipped word transitions, record, verdicts and
//!   acquisition loop: acquire, release, waiters, take-over of a dead holder and of a stale
//!   record of one's own PID, force, a word cleared behind a holder of the locker's own process,
//!   a woken waiter that gives up — never two holders, no lost wake-up), the registry of
//!   abandoned flags and `ForkLocal` (`loom_abandoned`: adopters, a recoverer against an adopter,
//!   a forked child; rejects a recovery that leaves the record and process-wide state behind a
//!   plain lock).
//! * **Miri** (`miri`): the unit tests over heap buffers (accessors, seqlock, copy, slots, spin),
//!   with `--features strict` and strict provenance; tests that make system calls are
//!   `cfg_attr(miri, ignore)`.
//! * **ThreadSanitizer** (`tsan`; `tests/tsan_seqlock.rs`): one writer and three readers with
//!   checksummed frames, and two writers handing non-atomic state over through the flag, built
//!   with `strict` and `--cfg shmim_tsan` (fences as read-modify-writes, see [`write_flag`]); no
//!   suppressions. Also `tests/lock_threads.rs`: the segment lock between threads of one process
//!   (exclusion, wake-up, refused force, cleared word, stale entry, panic, thread ending).
//! * **Real processes** (`tests/cross_process.rs`, `tests/fork_pid.rs`,
//!   `tests/lock_processes.rs`): a post in one process wakes another blocked in `sem_wait` /
//!   `sem_clockwait`; a forked child gets its own PID, even when the fork catches another
//!   thread inside the first `pid::current()`, and its own `ForkLocal` state, even when the fork
//!   catches another thread holding its lock; the segment lock excludes across processes; a
//!   holder killed with SIGKILL (reaped or a zombie) hands the next locker an owner-died lock,
//!   which it can repair; a holder in another PID namespace is never judged, only forced (as
//!   root this test must run: it fails rather than skip when `unshare` cannot). A process whose
//!   main thread exited while another runs is alive (`shmim-core/tests/main_thread_exited.rs`).
//!
//! `cargo xtask bench sync` measures the protocols against a two-process cache-line ping-pong.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

pub mod abandoned;
pub mod field;
pub mod fork_local;
#[cfg(not(loom))]
mod futex;
#[cfg(not(loom))]
pub mod liveness;
#[cfg(not(loom))]
pub mod local_lock;
#[cfg(not(loom))]
pub mod lock;
pub mod lock_record;
pub mod lock_wait;
pub mod lock_word;
#[cfg(not(loom))]
pub mod pid;
mod primitive;
#[cfg(not(loom))]
pub mod range_lock;
#[cfg(not(loom))]
pub mod semaphore;
pub mod seqlock;
pub mod slot;
pub mod spin;
pub mod write_flag;

pub use field::{AtomicCell, Field, Word, view};
