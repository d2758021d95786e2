//! A lock-free snapshot table of environment variables.
//!
//! shmim reads a few environment variables on hot paths: `MILK_SHM_DIR` on every name → path
//! resolution, tuning knobs such as spin limits. [`std::env::var_os`] takes the process-wide
//! environment lock and allocates a copy on every call. This crate reads each variable once and
//! serves later reads from a fixed table with no lock, no allocation and no system call.
//!
//! ```
//! // Process-wide: the first read of a name freezes it, later reads borrow it for 'static.
//! let dir = shmim_envcache::var_os("MILK_SHM_DIR");
//! # let _ = dir;
//! ```
//!
//! # Snapshot semantics
//! The first read of a name through a table freezes its value — or its absence — in that table,
//! for the life of the table: for the process-wide table ([`var_os`], [`global`]), the life of the
//! process. Later changes to the environment (`std::env::set_var`, `setenv` from C) are not seen.
//! Set such variables before the first read, and do not change them while other threads may be
//! reading them: as with `std::env` itself, that is the caller's contract.
//!
//! # A full table
//! The capacity is fixed ([`EnvCache<N>`], 8 rows by default, and for the process-wide table).
//! Once every row holds a name, a read of another name is served uncached: read from the source
//! on every call and returned owned ([`Cow::Owned`](std::borrow::Cow)). It is correct but slower;
//! the table never panics and never evicts, since an evicted row could still be borrowed.
//! [`EnvCache::full_misses`] counts these reads, so a table too small for its names is visible.
//!
//! # The publication idiom
//! Each row is `{ ready: AtomicBool, entry: UnsafeCell<Option<{ name, value }>> }`.
//!
//! - **Fast path** (lock-free): scan the rows in order. Load `ready` with **Acquire**; only if it
//!   is true read the entry and compare its name. A hit returns a reference into the row.
//! - **Slow path** (first read of a name): take the fill lock; look at the rows again, loading
//!   `ready` **Relaxed**, since the lock already orders every publication before us, and another
//!   thread may have published this name meanwhile; otherwise read the variable once, write the
//!   first unpublished row, and publish it with `ready.store(true, `**Release**`)`.
//!
//! The Release store that publishes a row and the Acquire load that observes it are the one
//! ordering pair that carries data: a reader that sees `ready == true` sees the whole entry, never
//! a half-written one. A row is written only while unpublished and only by the lock holder, and is
//! never written again after publication nor freed before the table is, so a `&OsStr` into it
//! lives as long as the table (`'static` for the process-wide one). The full-table counter is a
//! statistic and uses Relaxed.
//!
//! # Verification
//! The same code runs on [loom](https://docs.rs/loom)'s primitives under `cfg(loom)`
//! (`tests/loom.rs`: threads racing first reads of the same and of different names; loom checks
//! every access to a row's entry against its write, so a torn row would fail the model), under Miri
//! with strict provenance (unit tests and a small stress run), and under ThreadSanitizer
//! (`tests/stress.rs`, 16 threads). `cargo xtask ci` runs all three.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
#![warn(missing_docs)]

mod cache;
#[cfg(not(loom))]
mod global;
mod primitive;
mod row;
#[cfg(all(test, not(loom)))]
mod tests;

pub use cache::EnvCache;
#[cfg(not(loom))]
pub use global::{global, var_os};
