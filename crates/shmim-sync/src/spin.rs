//! Bounded spinning: a policy type, not ad-hoc loops.
//!
//! A [`Spin`] waits in up to two phases and refuses to go on past its deadline:
//!
//! 1. an optional **pure-spin** phase ([`Spin::pure_for`]): one CPU hint (`pause`) per step, no
//!    backoff, no yielding, for a time budget. A busy-polling reader on its own CPU then sees a
//!    change within one `pause` (about 10 ns here) instead of within the current backoff step
//!    (up to 64 `pause`s), and never pays a `sched_yield` system call while a frame is due;
//! 2. **backoff**: crossbeam's [`Backoff`] (CPU hints in growing batches, then yielding the
//!    thread), so a spinner that shares a CPU with the party it waits for lets it run.
//!
//! Waiting for a shared counter to move ([`wait_for_change`]) also asks a liveness callback now and
//! then, so a reader never spins forever on a dead writer. Loads inside the loop are Relaxed
//! (cheap, they only watch the cache line); one Acquire load is made when the value has moved, to
//! see what was published with it.
//!
//! Under loom the deadline is replaced by a small step budget and every pause yields to the model
//! scheduler, so models terminate; the pure-spin phase does not exist there.

use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

use crate::field::AtomicCell;

/// How often (in pauses) the backoff phase reads the clock: an `Instant::now()` costs tens of
/// nanoseconds, a backoff pause up to 64 `pause` instructions.
#[cfg(not(loom))]
const CLOCK_EVERY: u32 = 16;
/// How often (in pauses) the pure-spin phase reads the clock: its pauses are one `pause`
/// instruction each, so this bounds the overshoot of a deadline or budget to about a microsecond
/// and keeps the clock below 5% of the loop.
#[cfg(not(loom))]
const PURE_CLOCK_EVERY: u32 = 64;
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
    /// End of the pure-spin phase; `None` when there is none (left, or never asked for).
    pure_until: Option<Instant>,
    /// The clock reading taken by the latest [`Self::pause`], if it read the clock.
    read: Option<Instant>,
}

impl Spin {
    /// Spins until `deadline`, backing off from the first pause.
    pub fn until(deadline: Instant) -> Self {
        Self {
            deadline,
            backoff: Backoff::new(),
            pauses: 0,
            expired: false,
            pure_until: None,
            read: None,
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

    /// Starts with a pure-spin phase of `budget` from now (capped by the deadline): one CPU hint
    /// per pause, never yielding, then the usual backoff. For a waiter that owns its CPU and wants
    /// the lowest latency; a waiter sharing a CPU with the party it waits for delays that party by
    /// up to `budget`. Reads the clock once (now); a zero budget changes nothing.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use shmim_sync::spin::Spin;
    /// let mut spin = Spin::until(Instant::now() + Duration::from_millis(1))
    ///     .pure_for(Duration::from_micros(50));
    /// while spin.pause() {}
    /// ```
    #[must_use]
    #[cfg_attr(loom, allow(unused_mut))]
    pub fn pure_for(mut self, budget: Duration) -> Self {
        #[cfg(not(loom))]
        if !budget.is_zero() {
            let now = Instant::now();
            let end = now.checked_add(budget).unwrap_or(self.deadline);
            self.pure_until = Some(end.min(self.deadline));
            self.read = Some(now);
        }
        #[cfg(loom)]
        let _ = budget;
        self
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the pure-spin phase is still on.
    pub fn is_pure(&self) -> bool {
        self.pure_until.is_some()
    }

    /// The clock reading taken by the latest [`Self::pause`] (or by [`Self::pure_for`] before
    /// the first pause), if it took one: callers that need the time now and then reuse it instead
    /// of reading the clock again.
    pub fn clock_read(&self) -> Option<Instant> {
        self.read
    }

    /// Waits a little; false once the deadline has passed (and from then on).
    #[inline]
    pub fn pause(&mut self) -> bool {
        if self.expired {
            return false;
        }
        self.pauses = self.pauses.wrapping_add(1);
        self.read = None;
        #[cfg(loom)]
        {
            loom::thread::yield_now();
            self.expired = self.pauses >= 3;
            !self.expired
        }
        #[cfg(not(loom))]
        {
            let every = if self.pure_until.is_some() {
                std::hint::spin_loop();
                PURE_CLOCK_EVERY
            } else {
                if self.backoff.is_completed() {
                    std::thread::yield_now();
                } else {
                    self.backoff.snooze();
                }
                CLOCK_EVERY
            };
            if self.pauses % every == 0 {
                let now = Instant::now();
                self.read = Some(now);
                if now >= self.deadline {
                    self.expired = true;
                }
                if self.pure_until.is_some_and(|end| now >= end) {
                    self.pure_until = None;
                }
            }
            !self.expired
        }
    }

    /// Restarts the backoff (not the deadline, nor a pure-spin phase), e.g. after progress.
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
    // The time of the last liveness check, from the spin policy's own clock readings (no clock
    // read of our own: it would delay the first look at the cell).
    #[cfg(not(loom))]
    let mut checked = spin.clock_read();
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
        #[cfg(not(loom))]
        if let Some(now) = spin.clock_read() {
            let since = *checked.get_or_insert(now);
            if now.duration_since(since) >= LIVENESS_EVERY {
                checked = Some(now);
                if !alive() {
                    return Err(Gave::PeerGone);
                }
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
        // `start` before the deadline is set: elapsed time is measured from no later than it.
        let start = Instant::now();
        let mut spin = Spin::for_duration(Duration::from_millis(5));
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
    fn pure_spin_phase_ends_at_its_budget_and_spin_still_stops_at_its_deadline() {
        let start = Instant::now();
        let mut spin =
            Spin::until(start + Duration::from_millis(20)).pure_for(Duration::from_millis(5));
        assert!(spin.is_pure());
        while spin.is_pure() {
            assert!(spin.pause());
        }
        assert!(start.elapsed() >= Duration::from_millis(5));
        while spin.pause() {}
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn pure_spin_budget_is_capped_by_the_deadline() {
        let start = Instant::now();
        let mut spin =
            Spin::until(start + Duration::from_millis(2)).pure_for(Duration::from_secs(3600));
        while spin.pause() {}
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(2));
        assert!(!spin.is_pure(), "the phase ends with the deadline");
    }

    #[test]
    fn a_dead_peer_is_reported_during_a_pure_spin_phase() {
        let cell = AtomicU64::new(7);
        let mut spin =
            Spin::for_duration(Duration::from_secs(3600)).pure_for(Duration::from_secs(3600));
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
