//! Semaphores: posting, reader registration, waiting, flushing.
//!
//! Posting goes through `shmim-sync`'s bounded post (the `SEMAPHORE_MAXVAL` clamp inside the
//! compare-and-swap, no `getpid` per semaphore). Waiting calls glibc's `sem_wait` /
//! `sem_trywait` / `sem_timedwait` on the semaphore in the file, so the legacy return values and
//! `errno` (`EINTR`, `EAGAIN`, `ETIMEDOUT`) reach the caller unchanged; the two blocking waits
//! and `sempost_loop` block in the C shim of [`crate::cancel`], so that a thread blocked there can
//! be cancelled. A bad index makes the wait functions return -1 with `errno` = `EINVAL` (what
//! `sem_wait` itself reports for an invalid semaphore) and report `INVALIDARG`; a semaphore whose
//! bytes glibc would abort on (see `waitable`) does the same and reports `FAILURE`.
//!
//! A process-local image has no semaphores, and milk calls these functions on it anyway: each
//! answers what the legacy library answers for a stream without semaphores, without reporting
//! anything (posts and flushes succeed, `semvalue` and `getsemwaitindex` are -1, the waits 1).

use std::ffi::{CStr, c_int, c_long, c_void};

use shmim_core::legacy::View;
use shmim_sync::semaphore::Semaphore;

use crate::cancel::{shmim_capi_sem_timedwait, shmim_capi_sem_wait, shmim_capi_sempost_loop};
use crate::error_codes::*;
use crate::handle::with_stream;
use crate::image_struct::IMAGE;
use crate::report::{Failure, Outcome, boundary};

/// Index `index` of one of the view's semaphores, or `INVALIDARG`.
fn sem_index(v: &View, index: i64) -> Outcome<u16> {
    let n = v.geometry().nb_sem;
    match u16::try_from(index) {
        Ok(i) if i < n => Ok(i),
        _ => Err(Failure::invalid(format!(
            "semaphore index {index} out of range (0..{n})"
        ))),
    }
}

/// Legacy `sempost`, behind the caller's boundary.
///
/// # Safety
/// As for [`target`].
unsafe fn post(image: *const IMAGE, index: c_long) -> Outcome<c_long> {
    // SAFETY: forwarded to the caller.
    unsafe {
        with_stream(image, |v| {
            if let Some(v) = v {
                if index < 0 {
                    v.post_all();
                } else {
                    v.post(sem_index(v, index)?)?;
                }
            }
            Ok(c_long::from(IMAGESTREAMIO_SUCCESS))
        })
    }
}

/// Posts semaphore `index` (every semaphore if `index` < 0) if it is below `SEMAPHORE_MAXVAL`,
/// records this process as its writer, and posts the log semaphore. `INVALIDARG` for an index
/// past the last semaphore.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_sempost(image: *mut IMAGE, index: c_long) -> c_long {
    boundary(c"ImageStreamIO_sempost", c_long::from, || {
        // SAFETY: forwarded to the caller.
        unsafe { post(image, index) }
    })
}

/// Posts every semaphore but `index` (and the log semaphore).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_sempost_excl(image: *mut IMAGE, index: c_long) -> c_long {
    boundary(c"ImageStreamIO_sempost_excl", c_long::from, || {
        // SAFETY: forwarded to the caller.
        unsafe {
            with_stream(image, |v| {
                if let Some(v) = v {
                    v.post_all_except(u16::try_from(index).ok());
                }
                Ok(c_long::from(IMAGESTREAMIO_SUCCESS))
            })
        }
    })
}

/// Posts like [`ImageStreamIO_sempost`] every `dtus` microseconds, forever: it returns only on
/// an error (`INVALIDARG` for a negative period or a bad index), and a program stops it by
/// cancelling its thread (the sleep between posts is a cancellation point).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library, open for as long as this runs.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ImageStreamIO_sempost_loop(
    image: *mut IMAGE,
    index: c_long,
    dtus: c_long,
) -> c_long {
    if dtus < 0 {
        return refuse(c"ImageStreamIO_sempost_loop", c_long::from, || {
            format!("dtus {dtus} is negative")
        });
    }
    // SAFETY: the shim calls `post_round` with these arguments between sleeps; `image` is valid
    // for as long as this runs (caller contract). Nothing of this frame is dropped.
    unsafe { shmim_capi_sempost_loop(image.cast(), index, dtus, post_round) }
}

/// One round of [`ImageStreamIO_sempost_loop`]: 0 to sleep and go on, else its result.
extern "C" fn post_round(image: *mut c_void, index: c_long) -> c_long {
    boundary(c"ImageStreamIO_sempost_loop", c_long::from, || {
        // SAFETY: the loop's `image`, valid while it runs (its caller's contract).
        unsafe { post(image.cast(), index) }
    })
}

/// Reports `why` from `func` and returns its error value, as a failed body would.
fn refuse<T>(
    func: &'static CStr,
    on_error: impl FnOnce(errno_t) -> T,
    why: impl FnOnce() -> String,
) -> T {
    boundary(func, on_error, || Err(Failure::invalid(why())))
}

/// Registers this process as a reader: the semaphore already registered to it, else
/// `semindexdefault` if free, else the first free one; -1 if every semaphore belongs to a live
/// process (or there are none). Free: `semReadPID` ≤ 0 or a process that no longer exists.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_getsemwaitindex(
    image: *mut IMAGE,
    semindexdefault: c_int,
) -> c_int {
    boundary(
        c"ImageStreamIO_getsemwaitindex",
        |_| -1,
        || {
            // SAFETY: forwarded to the caller.
            unsafe {
                with_stream(image, |v| {
                    Ok(v.map_or(-1, |v| {
                        v.claim_wait_slot(u16::try_from(semindexdefault).ok())
                            .map_or(-1, c_int::from)
                    }))
                })
            }
        },
    )
}

/// The semaphore a wait is on, or `Err(result)`: the wait's return value when there is none
/// (legacy's 1 for a process-local image, -1 with `errno` = `EINVAL` after a reported error).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
unsafe fn wait_target(
    func: &'static CStr,
    image: *const IMAGE,
    index: c_int,
) -> Result<*mut libc::sem_t, c_int> {
    boundary(
        func,
        |_| {
            set_errno(libc::EINVAL);
            Err(-1)
        },
        || {
            // SAFETY: forwarded to the caller.
            unsafe {
                with_stream(image, |v| {
                    let Some(v) = v else { return Ok(Err(1)) };
                    let i = sem_index(v, i64::from(index))?;
                    let sem = v.semaphore(i)?;
                    waitable(&sem, i)?;
                    Ok(Ok(sem.as_ptr()))
                })
            }
        },
    )
}

/// [`wait_target`] in the form the C shim calls (`result` receives the return value when there
/// is no semaphore to wait on).
fn shim_target(
    func: &'static CStr,
    image: *mut c_void,
    index: c_int,
    result: *mut c_int,
) -> *mut libc::sem_t {
    // SAFETY: the shim passes its caller's `image` (that caller's contract).
    unsafe { wait_target(func, image.cast(), index) }.unwrap_or_else(|r| {
        // SAFETY: `result` points to the shim's local int.
        unsafe { result.write(r) };
        std::ptr::null_mut()
    })
}

extern "C" fn semwait_target(
    image: *mut c_void,
    index: c_int,
    result: *mut c_int,
) -> *mut libc::sem_t {
    shim_target(c"ImageStreamIO_semwait", image, index, result)
}

extern "C" fn semtimedwait_target(
    image: *mut c_void,
    index: c_int,
    result: *mut c_int,
) -> *mut libc::sem_t {
    shim_target(c"ImageStreamIO_semtimedwait", image, index, result)
}

/// Refuses a semaphore glibc cannot wait on safely. glibc builds the futex operation of a wait
/// from the word at offset 8 of the `sem_t` (0: process-private, 0x80: process-shared); any other
/// value, which only a damaged or hostile file holds, turns the wait into another futex operation:
/// glibc then aborts the process ("The futex facility returned an unexpected error code") or, with
/// bit 0x100, waits against the wrong clock and never times out. A process writing that word
/// between this check and the wait can still cause that; nothing short of not calling glibc
/// prevents it.
fn waitable(sem: &Semaphore<'_>, index: u16) -> Outcome<()> {
    let word = sem.flag_word();
    sem.waitable("sem_wait").map_err(|_| {
        Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!("semaphore {index} is damaged (futex flag word {word:#x}, not 0 or 0x80): not waiting on it"),
        )
    })
}

fn set_errno(e: c_int) {
    // SAFETY: `__errno_location` returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// `sem_wait` on semaphore `index`: 0 when a post was taken, -1 with `errno` otherwise. A
/// cancellation point: a thread blocked here can be cancelled.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ImageStreamIO_semwait(image: *mut IMAGE, index: c_int) -> c_int {
    // SAFETY: the shim calls `semwait_target` with these arguments, then `sem_wait` on the
    // semaphore it returns, which lies in the caller's mapping (caller contract). Nothing of this
    // frame is dropped.
    unsafe { shmim_capi_sem_wait(image.cast(), index, semwait_target) }
}

/// `sem_trywait` on semaphore `index`: 0 when a post was taken, -1 with `errno` (`EAGAIN`:
/// none pending).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_semtrywait(image: *mut IMAGE, index: c_int) -> c_int {
    // SAFETY: forwarded to the caller.
    match unsafe { wait_target(c"ImageStreamIO_semtrywait", image, index) } {
        // SAFETY: a semaphore in the caller's mapping, which stays mapped during the call.
        Ok(sem) => unsafe { libc::sem_trywait(sem) },
        Err(result) => result,
    }
}

/// `sem_timedwait` on semaphore `index` until the absolute `CLOCK_REALTIME` time `semwts`: 0
/// when a post was taken, -1 with `errno` (`ETIMEDOUT` at the deadline). A cancellation point.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library; `semwts` NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn ImageStreamIO_semtimedwait(
    image: *mut IMAGE,
    index: c_int,
    semwts: *const libc::timespec,
) -> c_int {
    if semwts.is_null() {
        return refuse(
            c"ImageStreamIO_semtimedwait",
            |_| {
                set_errno(libc::EINVAL);
                -1
            },
            || "NULL deadline".into(),
        );
    }
    // SAFETY: as in `ImageStreamIO_semwait`; `semwts` is readable (caller contract).
    unsafe { shmim_capi_sem_timedwait(image.cast(), index, semwts, semtimedwait_target) }
}

/// Drains semaphore `index` (every semaphore if `index` < 0) to 0.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_semflush(image: *mut IMAGE, index: c_long) -> c_long {
    boundary(c"ImageStreamIO_semflush", c_long::from, || {
        // SAFETY: forwarded to the caller.
        unsafe {
            with_stream(image, |v| {
                if let Some(v) = v {
                    if index < 0 {
                        for i in 0..v.geometry().nb_sem {
                            v.semaphore(i)?.flush();
                        }
                    } else {
                        v.semaphore(sem_index(v, index)?)?.flush();
                    }
                }
                Ok(c_long::from(IMAGESTREAMIO_SUCCESS))
            })
        }
    })
}

/// The value of semaphore `index`, -1 for a bad index (or an image without semaphores).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_semvalue(image: *mut IMAGE, index: c_long) -> c_long {
    boundary(
        c"ImageStreamIO_semvalue",
        |_| -1,
        || {
            // SAFETY: forwarded to the caller.
            unsafe {
                with_stream(image, |v| match v {
                    None => Ok(-1),
                    Some(v) => Ok(c_long::from(v.semaphore(sem_index(v, index)?)?.value())),
                })
            }
        },
    )
}
