//! Thread cancellation: the C shim (`src/cancel.c`) the blocking calls wait in, and the guard
//! that keeps cancellation disabled while Rust code of the library runs.
//!
//! A cancelled thread is unwound by glibc from the cancellation point up (a forced unwind that
//! runs the program's `pthread_cleanup_push` handlers). If that unwind met a Rust frame with a
//! `catch_unwind` (every export's panic boundary) or with values to drop, the process would abort.
//! So:
//! * `semwait`, `semtimedwait` and `sempost_loop` block in C: their exported Rust entry point is
//!   an `extern "C-unwind"` function holding nothing to drop, which calls the shim; the shim calls
//!   back into Rust (behind the panic boundary, cancellation disabled) to validate the call and
//!   find the semaphore, gets a plain pointer back once every Rust frame of that work has
//!   returned, and then blocks in `sem_wait` / `sem_timedwait` / `nanosleep` itself;
//! * every other export runs its body under [`CancelOff`], so the system calls std makes inside
//!   Rust frames (`open`, `read`, ...) are never cancellation points; a cancel requested meanwhile
//!   stays pending until the caller's next cancellation point.

use std::ffi::{c_int, c_long, c_void};
use std::marker::PhantomData;

/// See `cancel.c` for each.
pub(crate) type WaitTarget =
    extern "C" fn(image: *mut c_void, index: c_int, result: *mut c_int) -> *mut libc::sem_t;
/// See `cancel.c`.
pub(crate) type PostRound = extern "C" fn(image: *mut c_void, index: c_long) -> c_long;

unsafe extern "C-unwind" {
    /// `sem_wait` on the semaphore `target` finds (or its result when there is none).
    pub(crate) fn shmim_capi_sem_wait(
        image: *mut c_void,
        index: c_int,
        target: WaitTarget,
    ) -> c_int;
    /// `sem_timedwait` until `deadline` on the semaphore `target` finds.
    pub(crate) fn shmim_capi_sem_timedwait(
        image: *mut c_void,
        index: c_int,
        deadline: *const libc::timespec,
        target: WaitTarget,
    ) -> c_int;
    /// `post` then a `dtus` µs sleep, until `post` returns non-zero.
    pub(crate) fn shmim_capi_sempost_loop(
        image: *mut c_void,
        index: c_long,
        dtus: c_long,
        post: PostRound,
    ) -> c_long;
}

unsafe extern "C" {
    fn shmim_capi_cancel_disable() -> c_int;
    fn shmim_capi_cancel_restore(old: c_int);
}

/// Cancellation disabled for this thread while the value lives; the caller's state is restored
/// on drop (which also runs when a panic unwinds to the boundary).
/// (Not `Send`: it restores the state of the thread that made it.)
pub(crate) struct CancelOff(c_int, PhantomData<*const ()>);

impl CancelOff {
    pub(crate) fn new() -> Self {
        // SAFETY: pthread_setcancelstate on the calling thread, no pointers kept.
        Self(unsafe { shmim_capi_cancel_disable() }, PhantomData)
    }
}

impl Drop for CancelOff {
    fn drop(&mut self) {
        // SAFETY: restores the state `new` read, on the same thread (the guard is not Send).
        unsafe { shmim_capi_cancel_restore(self.0) }
    }
}
