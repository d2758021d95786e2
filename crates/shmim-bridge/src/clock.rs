//! The streams' clock (CLOCK_TAI, as the library stamps `atime`/`writetime`).

use shmim_core::Timespec;

/// Now, on CLOCK_TAI.
pub fn now() -> Timespec {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Tai);
    Timespec {
        tv_sec: t.tv_sec,
        tv_nsec: t.tv_nsec,
    }
}

/// `later - earlier` in nanoseconds (negative when the clocks of two hosts disagree).
pub fn nanos_between(earlier: Timespec, later: Timespec) -> i64 {
    let d = later.as_nanos() - earlier.as_nanos();
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}
