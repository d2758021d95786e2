//! The clocks the tool compares across processes.
//!
//! Latencies between processes are differences of `CLOCK_MONOTONIC` readings taken by the two
//! processes on the same machine (one clock, shared by every process). Ages of stream times
//! (`writetime`) are differences against `CLOCK_TAI`, the clock the stream format records.

use rustix::time::{ClockId, clock_gettime};

/// `CLOCK_MONOTONIC` now, in nanoseconds.
pub fn mono_ns() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}

/// Seconds since `(sec, nsec)` on the stream clock (`CLOCK_TAI`); `None` for a zero time.
pub fn age_of(sec: i64, nsec: i64) -> Option<f64> {
    if sec == 0 && nsec == 0 {
        return None;
    }
    let now = clock_gettime(ClockId::Tai);
    Some((now.tv_sec - sec) as f64 + (now.tv_nsec - nsec) as f64 * 1e-9)
}
