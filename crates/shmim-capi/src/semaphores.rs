//! Semaphores: posting, reader registration, waiting, flushing.
//!
//! Posting goes through `shmim-sync`'s bounded post (the `SEMAPHORE_MAXVAL` clamp inside the
//! compare-and-swap, no `getpid` per semaphore). Waiting calls glibc's `sem_wait` /
//! `sem_trywait` / `sem_timedwait` on the semaphore in the file, so the legacy return values and
//! `errno` (`EINTR`, `EAGAIN`, `ETIMEDOUT`) reach the caller unchanged. A bad index makes the wait
//! functions return -1 with `errno` = `EINVAL` (what `sem_wait` itself reports for an invalid
//! semaphore) and report `INVALIDARG`; a semaphore whose bytes glibc would abort on (see
//! `waitable`) does the same and reports `FAILURE`.

use std::ffi::{c_int, c_long};
use std::time::Duration;

use shmim_core::legacy::View;
use shmim_sync::semaphore::Semaphore;

use crate::error_codes::*;
use crate::handle::open_view;
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
        let v = unsafe { open_view(image) }?;
        if index < 0 {
            v.post_all();
        } else {
            v.post(sem_index(&v, index)?)?;
        }
        Ok(c_long::from(IMAGESTREAMIO_SUCCESS))
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
        let v = unsafe { open_view(image) }?;
        v.post_all_except(u16::try_from(index).ok());
        Ok(c_long::from(IMAGESTREAMIO_SUCCESS))
    })
}

/// Posts like [`ImageStreamIO_sempost`] every `dtus` microseconds, forever (returns only on an
/// error).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library, open for as long as this runs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_sempost_loop(
    image: *mut IMAGE,
    index: c_long,
    dtus: c_long,
) -> c_long {
    boundary(c"ImageStreamIO_sempost_loop", c_long::from, || {
        let period = u64::try_from(dtus)
            .map(Duration::from_micros)
            .map_err(|_| Failure::invalid(format!("dtus {dtus} is negative")))?;
        loop {
            // SAFETY: forwarded to the caller.
            let v = unsafe { open_view(image) }?;
            if index < 0 {
                v.post_all();
            } else {
                v.post(sem_index(&v, index)?)?;
            }
            drop(v);
            std::thread::sleep(period);
        }
    })
}

/// Registers this process as a reader: the semaphore already registered to it, else
/// `semindexdefault` if free, else the first free one; -1 if every semaphore belongs to a live
/// process. Free: `semReadPID` ≤ 0 or a process that no longer exists.
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
            let v = unsafe { open_view(image) }?;
            Ok(v.claim_wait_slot(u16::try_from(semindexdefault).ok())
                .map_or(-1, c_int::from))
        },
    )
}

/// Runs `op` on semaphore `index`; a bad index or `IMAGE` gives -1 with `errno` = `EINVAL`.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
unsafe fn on_sem(
    func: &'static std::ffi::CStr,
    image: *mut IMAGE,
    index: c_int,
    op: impl FnOnce(&Semaphore<'_>) -> c_int,
) -> c_int {
    boundary(
        func,
        |_| {
            set_errno(libc::EINVAL);
            -1
        },
        || {
            // SAFETY: forwarded to the caller.
            let v = unsafe { open_view(image) }?;
            let i = sem_index(&v, i64::from(index))?;
            let sem = v.semaphore(i)?;
            waitable(&sem, i)?;
            Ok(op(&sem))
        },
    )
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

/// `sem_wait` on semaphore `index`: 0 when a post was taken, -1 with `errno` otherwise.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_semwait(image: *mut IMAGE, index: c_int) -> c_int {
    let op = |s: &Semaphore<'_>| {
        // SAFETY: a semaphore in the validated mapping, which stays mapped during the call.
        unsafe { libc::sem_wait(s.as_ptr()) }
    };
    // SAFETY: forwarded to the caller.
    unsafe { on_sem(c"ImageStreamIO_semwait", image, index, op) }
}

/// `sem_trywait` on semaphore `index`: 0 when a post was taken, -1 with `errno` (`EAGAIN`:
/// none pending).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_semtrywait(image: *mut IMAGE, index: c_int) -> c_int {
    let op = |s: &Semaphore<'_>| {
        // SAFETY: as in `ImageStreamIO_semwait`.
        unsafe { libc::sem_trywait(s.as_ptr()) }
    };
    // SAFETY: forwarded to the caller.
    unsafe { on_sem(c"ImageStreamIO_semtrywait", image, index, op) }
}

/// `sem_timedwait` on semaphore `index` until the absolute `CLOCK_REALTIME` time `semwts`: 0
/// when a post was taken, -1 with `errno` (`ETIMEDOUT` at the deadline).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library; `semwts` NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_semtimedwait(
    image: *mut IMAGE,
    index: c_int,
    semwts: *const libc::timespec,
) -> c_int {
    if semwts.is_null() {
        return boundary(
            c"ImageStreamIO_semtimedwait",
            |_| {
                set_errno(libc::EINVAL);
                -1
            },
            || Err(Failure::invalid("NULL deadline")),
        );
    }
    let op = |s: &Semaphore<'_>| {
        // SAFETY: as in `ImageStreamIO_semwait`; `semwts` is readable (caller contract).
        unsafe { libc::sem_timedwait(s.as_ptr(), semwts) }
    };
    // SAFETY: forwarded to the caller.
    unsafe { on_sem(c"ImageStreamIO_semtimedwait", image, index, op) }
}

/// Drains semaphore `index` (every semaphore if `index` < 0) to 0.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_semflush(image: *mut IMAGE, index: c_long) -> c_long {
    boundary(c"ImageStreamIO_semflush", c_long::from, || {
        // SAFETY: forwarded to the caller.
        let v = unsafe { open_view(image) }?;
        if index < 0 {
            for i in 0..v.geometry().nb_sem {
                v.semaphore(i)?.flush();
            }
        } else {
            v.semaphore(sem_index(&v, index)?)?.flush();
        }
        Ok(c_long::from(IMAGESTREAMIO_SUCCESS))
    })
}

/// The value of semaphore `index`, -1 for a bad index.
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
            let v = unsafe { open_view(image) }?;
            Ok(c_long::from(v.semaphore(sem_index(&v, index)?)?.value()))
        },
    )
}
