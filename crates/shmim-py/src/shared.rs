//! What a Python object shares between the threads that use it: a Rust value behind a mutex,
//! and a "closing" flag that ends the waits of other threads.
//!
//! The classes are `frozen`: PyO3 never borrow-checks them (a shared borrow held by a thread
//! whose call released the GIL made every other thread's call fail with "Already borrowed", and a
//! `with stream.write()` block could lose its frame that way). Their state lives here instead.
//!
//! **The lock is only ever taken with the GIL released** ([`Shared::with`] runs its closure
//! inside `Python::detach`). A thread holding the lock therefore never waits for the GIL while
//! another thread holding the GIL waits for the lock: no deadlock, whatever the threads do. The
//! closures are plain Rust (no Python object can be touched without the GIL) and short: a wait or
//! a consistent read holds the lock for one slice (at most `wait::SLICE`) at a time, so another
//! thread's call on the same object (a `close()`, the end of a `with` block) gets it within one
//! slice.
//!
//! **Closing from another thread.** `close()` first raises the closing flag, then takes the lock
//! (within one slice) and drops the value. A wait or read of another thread looks at the flag
//! between its slices and ends with a `ValueError` saying the object was closed meanwhile.

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A value used by several Python threads, and whether it is being closed.
pub struct Shared<T> {
    value: Mutex<T>,
    /// Signalled when a thread ends something other threads' calls wait for (a write block).
    changed: Condvar,
    /// Its own lock (held for one load or store), so looking at it never waits for a slice.
    closing: Mutex<bool>,
    /// Names the object in errors ("stream", "reader").
    what: &'static str,
}

impl<T: Send> Shared<T> {
    /// `value`, open.
    pub fn new(value: T, what: &'static str) -> Self {
        Self {
            value: Mutex::new(value),
            changed: Condvar::new(),
            closing: Mutex::new(false),
            what,
        }
    }

    /// Runs `f` on the value with the GIL released (module docs: the lock is never taken with the
    /// GIL held).
    pub fn with<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut T) -> R + Send) -> R {
        py.detach(|| self.locked(f))
    }

    /// Runs `f` on the value, for code that already runs with the GIL released (a slice of
    /// `wait::sliced`); everything else goes through [`Self::with`].
    pub fn locked<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // A panic in a closure leaves nothing half-done that a later call could trip on (each
        // one re-reads what it needs); keep serving rather than poisoning the object.
        let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut value)
    }

    /// Like [`Self::locked`], once `busy(value)` no longer holds or `slice` ran out: until then
    /// the lock is released (a condition variable), and the thread whose call ends the wait
    /// calls [`Self::notify`]. `f` gets the rest of the slice. For a call that must wait for
    /// another thread of the same object (its write block) without polling: it gets the lock as
    /// soon as that thread is done, before that thread can take it back.
    pub fn locked_after<R>(
        &self,
        slice: Duration,
        mut busy: impl FnMut(&mut T) -> bool,
        f: impl FnOnce(&mut T, Duration) -> R,
    ) -> R {
        let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
        if !busy(&mut value) {
            // The usual case (every frame read): no clock read for a wait that does not happen.
            return f(&mut value, slice);
        }
        let start = std::time::Instant::now();
        let (mut value, _) = self
            .changed
            .wait_timeout_while(value, slice, busy)
            .unwrap_or_else(PoisonError::into_inner);
        f(&mut value, slice.saturating_sub(start.elapsed()))
    }

    /// Wakes the calls waiting in [`Self::locked_after`] (they look at the value again).
    pub fn notify(&self) {
        self.changed.notify_all();
    }

    /// Raises the closing flag: waits of other threads end after their current slice.
    pub fn start_closing(&self) {
        *self.closing.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }

    /// The closing flag, for the checks between the slices of a blocking call.
    pub fn open_flag(&self) -> OpenFlag<'_> {
        OpenFlag {
            closing: &self.closing,
            what: self.what,
        }
    }
}

/// A view of an object's closing flag.
#[derive(Clone, Copy)]
pub struct OpenFlag<'a> {
    closing: &'a Mutex<bool>,
    what: &'static str,
}

impl OpenFlag<'_> {
    /// `ValueError` if the object is being closed (called between the slices of a wait).
    pub fn check(&self) -> PyResult<()> {
        if *self.closing.lock().unwrap_or_else(PoisonError::into_inner) {
            return Err(PyValueError::new_err(format!(
                "the {} was closed (by another thread) during this call",
                self.what
            )));
        }
        Ok(())
    }
}

/// A plain value beside a [`Shared`] one (a read bound, a frame shape), read and written whole.
/// Its mutex is held only to copy the value in or out — nothing waits, calls Python or takes
/// another lock while holding it — so it may be taken with the GIL held (the rule of the module
/// docs is about locks held across waits): the hot paths (a frame read) skip a GIL release for
/// it.
pub struct Setting<T>(Mutex<T>);

impl<T: Clone> Setting<T> {
    /// A setting holding `value`.
    pub fn new(value: T) -> Self {
        Self(Mutex::new(value))
    }

    /// The value now.
    pub fn get(&self) -> T {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the value.
    pub fn set(&self, value: T) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = value;
    }

    /// Changes the value in place (one lock: no other thread's change is lost).
    pub fn update(&self, f: impl FnOnce(&mut T)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// The `ValueError` of an operation on a closed object, as for a closed Python file.
pub fn closed(what: &str) -> PyErr {
    PyValueError::new_err(format!("I/O operation on a closed {what}"))
}
