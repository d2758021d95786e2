//! Synchronisation on the frozen ImageStreamIO layout: the only crate of shmim that names a memory
//! ordering.
//!
//! The stream file keeps its legacy, non-atomic field types (`write: u8`, `cnt0: u64`, …), because
//! C programs dereference them directly. This crate reaches those fields through atomic *views*
//! built from a pointer to the field ([`field::view`], i.e. `AtomicU64::from_ptr`), the Rust
//! counterpart of the C `__atomic_*` builtins on plain objects, and builds the protocols of
//! `shared/spec/protocol.md` on top:
//!
//! | module | protocol |
//! |---|---|
//! | [`field`] | one generic accessor family for every shared field, and the [`field::AtomicCell`] trait the protocols are written against (std and loom) |
//! | [`write_flag`] | writer begin / publish / abandon / take-over of a stale flag |
//! | [`seqlock`] | consistent read: begin, validate, and the one racy pixel copy |
//! | [`spin`] | bounded spinning: backoff, deadline, liveness |
//! | [`slot`] | reader-slot claim and release (compare-and-swap on `semReadPID[i]`) |
//! | [`semaphore`] | glibc process-shared `sem_t` in the file, with a race-free `SEMAPHORE_MAXVAL` clamp |
//! | [`liveness`] | is this PID a live process? |
//! | [`pid`] | this process's PID, cached safely across `fork` |
//!
//! Everything here is internal plumbing for `shmim-core` and `shmim-capi`; end users see
//! operations (`guard.commit()`, `reader.wait()`), never orderings.
//!
//! # Loom
//! Under `--cfg loom` the protocols run on loom's atomics through [`field::AtomicCell`] (loom has
//! no `from_ptr`), spin loops yield to the model scheduler, and the OS-backed modules (semaphores,
//! liveness) are left out.
#![allow(clippy::disallowed_types)]

pub mod field;
#[cfg(not(loom))]
pub mod liveness;
#[cfg(not(loom))]
pub mod pid;
mod primitive;
#[cfg(not(loom))]
pub mod semaphore;
pub mod seqlock;
pub mod slot;
pub mod spin;
pub mod write_flag;

pub use field::{AtomicCell, Field, Word, view};
