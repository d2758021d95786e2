//! Sleeping on a lock word until it changes, and waking one sleeper (Linux `futex`).
//!
//! The futex word is the low 32 bits of a 64-bit lock word: on a little-endian target (the only
//! kind shmim builds for, see the `compile_error!` in `semaphore.rs`) they sit at the word's own
//! address. The calls are process-shared (no `FUTEX_PRIVATE_FLAG`): the kernel keys a shared
//! mapping's futex by its file page, so sleepers and wakers in different processes, or in two
//! mappings of one file, meet; for process-private memory it keys by address space.

use std::io;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Sleeps while the futex half of `word` holds `value`, for at most `nap` (relative, measured on
/// `CLOCK_MONOTONIC`). `Ok(true)` when a `FUTEX_WAKE` ended the sleep; `Ok(false)` when the value
/// had changed, a signal arrived or the nap ended (the caller looks again in every case).
pub(crate) fn wait(word: &AtomicU64, value: u32, nap: Duration) -> io::Result<bool> {
    let ts = libc::timespec {
        tv_sec: nap.as_secs() as libc::time_t,
        tv_nsec: nap.subsec_nanos() as libc::c_long,
    };
    // SAFETY: the address is the word's low half (little-endian), valid while `word` is; the
    // kernel only reads it, and `ts` outlives the call.
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
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN | libc::ETIMEDOUT | libc::EINTR) => Ok(false),
        _ => Err(e),
    }
}

/// Wakes one sleeper of `word`. A failure only delays that sleeper to the end of its nap.
pub(crate) fn wake_one(word: &AtomicU64) {
    // SAFETY: as in `wait`; FUTEX_WAKE only uses the address as a key.
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
