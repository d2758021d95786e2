//! Bounded spinning: a policy type, not ad-hoc loops.
//!
//! A [`Spin`] backs off with crossbeam's [`Backoff`] (CPU hints, then yielding the thread), and
//! refuses to go on past its deadline. Waiting for a shared counter to move ([`wait_for_change`])
//! also asks a liveness callback now and then, so a reader never spins forever on a dead writer.
//! Loads inside the loop are Relaxed (cheap, they only watch the cache line); one Acquire load is
//! made when the value has moved, to see what was published with it.
//!
//! Under loom the deadline is replaced by a small step budget and every pause yields to the model
//! scheduler, so models terminate.

use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

use crate::field::AtomicCell;

/// How often (in pauses) the clock is read: an `Instant::now()` costs tens of nanoseconds.
#[cfg(not(loom))]
const CLOCK_EVERY: u32 = 16;
/// How often the liveness callback runs: it may be a syscall.
#[cfg(not(loom))]
const LIVENESS_EVERY: Duration = Duration::from_millis(1);

/// A spin-wait policy bounded by a deadline.
#[derive(Debug)]
pub struct Spin {
    deadline: Instant,
    backoff: Backoff,
    pauses: u32,
    expired: bool,
}

impl Spin {
    /// Spins until `deadline`.
    pub fn until(deadline: Instant) -> Self {
        Self {
            deadline,
            backoff: Backoff::new(),
            pauses: 0,
            expired: false,
        }
    }

    /// Spins for at most `timeout` from now (saturating at a far deadline).
    pub fn for_duration(timeout: Duration) -> Self {
        let now = Instant::now();
        Self::until(
            now.checked_add(timeout)
                .unwrap_or(now + Duration::from_secs(86_400 * 365)),
        )
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Waits a little; false once the deadline has passed (and from then on).
    #[inline]
    pub fn pause(&mut self) -> bool {
        if self.expired {
            return false;
        }
        self.pauses = self.pauses.wrapping_add(1);
        #[cfg(loom)]
        {
            loom::thread::yield_now();
            self.expired = self.pauses >= 3;
            !self.expired
        }
        #[cfg(not(loom))]
        {
            if self.backoff.is_completed() {
                std::thread::yield_now();
            } else {
                self.backoff.snooze();
            }
            if self.pauses % CLOCK_EVERY == 0 && Instant::now() >= self.deadline {
                self.expired = true;
            }
            !self.expired
        }
    }

    /// Restarts the backoff (not the deadline), e.g. after progress.
    pub fn reset_backoff(&mut self) {
        self.backoff.reset();
    }
}

/// Why [`wait_for_change`] returned without a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gave {
    /// The deadline passed.
    Timeout,
    /// The liveness callback said the party we wait for is gone.
    PeerGone,
}

/// Waits until `cell` differs from `last`, returning the new value (loaded with Acquire, pairing
/// with the Release store that made it).
pub fn wait_for_change<T: Copy + Eq, C: AtomicCell<T>>(
    cell: &C,
    last: T,
    spin: &mut Spin,
    alive: impl FnMut() -> bool,
) -> Result<T, Gave> {
    wait_until(cell, |v| v != last, spin, alive)
}

/// Waits until `cell` holds `want` (e.g. the write flag back at 0); Acquire on success.
pub fn wait_for_value<T: Copy + Eq, C: AtomicCell<T>>(
    cell: &C,
    want: T,
    spin: &mut Spin,
    alive: impl FnMut() -> bool,
) -> Result<(), Gave> {
    wait_until(cell, |v| v == want, spin, alive).map(drop)
}

/// Spins until `accept(value)`; the value is returned from an Acquire load.
fn wait_until<T: Copy, C: AtomicCell<T>>(
    cell: &C,
    accept: impl Fn(T) -> bool,
    spin: &mut Spin,
    mut alive: impl FnMut() -> bool,
) -> Result<T, Gave> {
    #[cfg(not(loom))]
    let mut checked = Instant::now();
    loop {
        // Relaxed while watching (cheap, no fence on the hot loop); the Acquire load is what the
        // caller relies on, and it re-checks the value it returns.
        if accept(cell.load(Relaxed)) {
            let v = cell.load(Acquire);
            if accept(v) {
                return Ok(v);
            }
        }
        if !spin.pause() {
            return Err(Gave::Timeout);
        }
        // The clock is read only when the spin policy read it (every CLOCK_EVERY pauses).
        #[cfg(not(loom))]
        if spin.pauses % CLOCK_EVERY == 0 && checked.elapsed() >= LIVENESS_EVERY {
            checked = Instant::now();
            if !alive() {
                return Err(Gave::PeerGone);
            }
        }
        #[cfg(loom)]
        let _ = &mut alive;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn spin_stops_at_its_deadline() {
        let mut spin = Spin::for_duration(Duration::from_millis(5));
        let start = Instant::now();
        while spin.pause() {}
        assert!(start.elapsed() >= Duration::from_millis(5));
        assert!(!spin.pause(), "stays expired");
    }

    #[test]
    fn wait_for_change_reports_a_dead_peer_before_the_deadline() {
        let cell = AtomicU64::new(7);
        let mut spin = Spin::for_duration(Duration::from_secs(3600));
        assert_eq!(
            wait_for_change(&cell, 7, &mut spin, || false),
            Err(Gave::PeerGone)
        );
    }

    #[test]
    fn wait_for_change_returns_the_new_value() {
        let cell = AtomicU64::new(8);
        let mut spin = Spin::for_duration(Duration::from_millis(10));
        assert_eq!(wait_for_change(&cell, 7, &mut spin, || true), Ok(8));
        assert_eq!(
            wait_for_change(&cell, 8, &mut spin, || true),
            Err(Gave::Timeout)
        );
    }
}
