//! The acquisition loop of the segment lock: attempt, and while the lock is busy, announce and
//! sleep. Generic over how sleeping, waking and the clock work ([`Waiting`]: futex and monotonic
//! clock in [`crate::lock`], a model in loom), so loom runs this very loop
//! (`tests/loom_lock.rs`).
//!
//! * Each attempt runs under the process's record ([`Record::attempt`]): the record first, then
//!   the word.
//! * Before sleeping on a busy word the locker makes sure it says `WAITERS`
//!   ([`lock_word::announce_waiter`]), so the holder's release wakes a sleeper; if the word changed
//!   meanwhile it attempts again instead. A word seen *free* while a live thread of ours holds
//!   the lock (it was cleared behind that thread's back) is slept on unmarked: that thread's
//!   release will not touch the word, and the sleep ends when the word changes or the nap does.
//! * A locker that slept acquires with `WAITERS` set, so its own release wakes the next sleeper.
//! * **A wake is never swallowed.** A release wakes one sleeper. If that sleeper then finds the
//!   lock taken again by someone who never slept, and its own deadline has passed, it gives up —
//!   and passes the wake on, or the other sleepers would sleep to the end of their nap although
//!   the lock was released meanwhile.

use std::ops::DerefMut;
use std::time::Duration;

use crate::field::AtomicCell;
use crate::lock_record::{LockId, Me, Os, Record};
use crate::lock_word::{self, Attempt, Word};

/// What waiting needs from the world.
pub trait Waiting {
    /// Why a sleep failed.
    type Error;
    /// How long the next sleep may last; `None` once the caller's deadline has passed.
    fn nap(&mut self) -> Option<Duration>;
    /// Sleeps while the futex half of the word holds `value`, at most `nap`. `Ok(true)` when a
    /// wake ended the sleep.
    fn sleep(&mut self, value: u32, nap: Duration) -> Result<bool, Self::Error>;
    /// Wakes one sleeper of the word.
    fn wake_one(&mut self);
}

/// How an acquisition ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The lock is ours; `owner_died`: a previous holder died and the data may be damaged.
    Held {
        /// Tell the caller to repair.
        owner_died: bool,
    },
    /// The calling thread holds it already.
    Relock,
    /// The deadline passed; the word last seen.
    TimedOut(u64),
}

/// Attempts, sleeping between attempts, until lock `id` (its word at `word`) is `me`'s, or
/// `waiting` says the deadline passed. `record` locks the process's record for one attempt.
pub fn acquire<C, R, W>(
    mut record: impl FnMut() -> R,
    word: &C,
    id: LockId,
    me: Me,
    os: &impl Os,
    waiting: &mut W,
) -> Result<Outcome, W::Error>
where
    C: AtomicCell<u64>,
    R: DerefMut<Target = Record>,
    W: Waiting,
{
    let mut waited = false;
    // Whether a wake ended our last sleep, not yet passed on (module docs).
    let mut woken = false;
    loop {
        let attempt = record().attempt(word, id, me, waited, os);
        let seen = match attempt {
            Attempt::Acquired { owner_died } => return Ok(Outcome::Held { owner_died }),
            Attempt::Relock => return Ok(Outcome::Relock),
            Attempt::Busy(seen) => seen,
        };
        let Some(nap) = waiting.nap() else {
            if woken {
                waiting.wake_one();
            }
            return Ok(Outcome::TimedOut(seen));
        };
        let sleep_on = if Word::decode(seen).is_free() {
            Some(seen)
        } else {
            lock_word::announce_waiter(word, seen)
        };
        if let Some(value) = sleep_on {
            woken = waiting.sleep(Word::futex_value(value), nap)?;
            waited = true;
        }
    }
}
