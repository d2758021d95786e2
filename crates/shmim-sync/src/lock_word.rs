//! The word of the segment lock ([`crate::lock`]): what it holds, and every transition of it.
//!
//! This is the protocol alone, written against [`AtomicCell<u64>`] so that loom checks the very
//! code the lock runs (`tests/loom_lock.rs`). Deciding whether a recorded holder is still alive,
//! sleeping, waking and the process's own record of its guards are the caller's
//! ([`crate::lock`]); here they arrive as a verdict.
//!
//! # The word
//! One `u64`, 8-aligned, in the shared file. Its low half is also the futex word waiters sleep
//! on (little-endian: the low half is at the word's address).
//!
//! | bits | meaning |
//! |---|---|
//! | 0–28 | PID of the holder, in the holder's PID namespace; 0 = free |
//! | 29 | `FOREIGN`: the holder is not in the segment's PID namespace (its PID means nothing there) |
//! | 30 | `OWNER_DIED`: a holder died holding the lock and nobody has marked the data consistent since |
//! | 31 | `WAITERS`: someone may be asleep on the word (release must wake) |
//! | 32–63 | thread id of the holder (tells a thread of the holder's process from another) |
//!
//! PIDs are below 2²² on Linux (`PID_MAX_LIMIT`), so 29 bits hold any of them. A file can hold any
//! value here: every value decodes to *some* holder, flags and thread, and the worst a hostile
//! value can do is make a locker wait (until its timeout) or take the lock over and be told the
//! data may be damaged. Nothing read from the word is ever used as an address or passed to `kill`
//! unless it is a PID > 0.
//!
//! # Transitions and their orderings
//! * **Acquire** (free, or holder judged dead): compare-and-swap from the value seen to ours,
//!   `Acquire` on success. It pairs with the `Release` of the previous holder's release, so
//!   everything written under the lock by that holder is visible to us. For a holder that *died*
//!   there is no release to pair with: its stores were made before it died, and the caller only
//!   judges it dead after a system call saw the process gone, when the kernel has finished
//!   tearing it down (those calls are full barriers). One CAS from one seen value: of two lockers
//!   judging the same holder dead, exactly one wins; the other sees the winner and judges again.
//! * **Release**: compare-and-swap from our value to free (keeping `OWNER_DIED` unless the
//!   holder marked the data consistent), `Release`. Only a word that still names us is released:
//!   after a forced take-over the old holder's release touches nothing.
//! * **Announce a waiter**: set `WAITERS` (Relaxed CAS) before sleeping on the value with the bit
//!   set, so a release that clears the word after our look either wakes us or changes the value
//!   the kernel compares (and the sleep returns at once). A locker that has slept acquires with
//!   `WAITERS` set, so its own release wakes the next sleeper (some may remain). Sleeps are timed
//!   anyway: a dead holder wakes nobody.
//! * **Force**: take the word whatever it holds (`Acquire`), marked `OWNER_DIED`. The caller's
//!   explicit decision; two holders if the old one was alive.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::field::AtomicCell;

/// Bits of the holder's PID.
pub const OWNER_MASK: u32 = 0x1fff_ffff;
/// The holder is outside the segment's PID namespace.
pub const FOREIGN: u32 = 0x2000_0000;
/// A holder died holding the lock; the data it protects may be half updated.
pub const OWNER_DIED: u32 = 0x4000_0000;
/// Someone may be asleep on the word.
pub const WAITERS: u32 = 0x8000_0000;

/// A decoded lock word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Word {
    /// The holder's PID (0: free).
    pub owner: u32,
    /// The holder's thread id.
    pub tid: u32,
    /// The holder is outside the segment's PID namespace.
    pub foreign: bool,
    /// The data may be half updated by a holder that died.
    pub owner_died: bool,
    /// Someone may be asleep on the word.
    pub waiters: bool,
}

impl Word {
    /// Splits a raw word into its fields.
    pub fn decode(raw: u64) -> Self {
        let low = raw as u32;
        Self {
            owner: low & OWNER_MASK,
            tid: (raw >> 32) as u32,
            foreign: low & FOREIGN != 0,
            owner_died: low & OWNER_DIED != 0,
            waiters: low & WAITERS != 0,
        }
    }

    /// The raw word.
    pub fn encode(self) -> u64 {
        let flag = |on: bool, bit: u32| if on { bit } else { 0 };
        let low = (self.owner & OWNER_MASK)
            | flag(self.foreign, FOREIGN)
            | flag(self.owner_died, OWNER_DIED)
            | flag(self.waiters, WAITERS);
        (u64::from(self.tid) << 32) | u64::from(low)
    }

    /// The futex half of a raw word (what sleepers compare).
    pub fn futex_value(raw: u64) -> u32 {
        raw as u32
    }

    /// Whether the word is free (whatever its other bits say).
    pub fn is_free(self) -> bool {
        self.owner == 0
    }
}

/// Who is locking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locker {
    /// PID in the locker's namespace (> 0).
    pub pid: u32,
    /// Thread id (> 0).
    pub tid: u32,
    /// Whether the locker is in the segment's PID namespace.
    pub home: bool,
}

impl Locker {
    fn holds(self, w: Word) -> bool {
        w.owner == self.pid & OWNER_MASK && w.tid == self.tid && w.foreign != self.home
    }
}

/// What the caller concluded about the holder a word names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Alive, or impossible to tell: wait.
    Alive,
    /// Known dead (or a stale record of this very process): take the lock over.
    Dead,
    /// The calling thread holds it already.
    ThisThread,
}

/// What one attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The lock is ours. `owner_died`: a previous holder died and the data may be damaged.
    Acquired {
        /// Tell the caller to repair.
        owner_died: bool,
    },
    /// A live (or unjudgeable) holder has it; the raw word that was seen.
    Busy(u64),
    /// The calling thread already holds it.
    Relock,
}

/// One acquisition attempt: take a free word, or one whose holder `judge` declares dead. Never
/// waits. `waited`: the locker slept before, so it acquires with `WAITERS` set.
pub fn attempt<C: AtomicCell<u64>>(
    word: &C,
    me: Locker,
    waited: bool,
    mut judge: impl FnMut(Word) -> Verdict,
) -> Attempt {
    let mut seen = word.load(Relaxed);
    loop {
        let w = Word::decode(seen);
        let took_over = if w.is_free() {
            false
        } else {
            match judge(w) {
                Verdict::Alive => return Attempt::Busy(seen),
                Verdict::ThisThread => return Attempt::Relock,
                Verdict::Dead => true,
            }
        };
        let owner_died = w.owner_died || took_over;
        let ours = Word {
            owner: me.pid,
            tid: me.tid,
            foreign: !me.home,
            owner_died,
            waiters: w.waiters || waited,
        };
        // Acquire: pairs with the previous holder's Release (module docs).
        match word.compare_exchange(seen, ours.encode(), Acquire, Relaxed) {
            Ok(_) => return Attempt::Acquired { owner_died },
            Err(actual) => seen = actual,
        }
    }
}

/// Releases a lock `me` holds: the word becomes free, still marked `OWNER_DIED` unless
/// `consistent`. Returns whether a sleeper should be woken. A word that no longer names `me`
/// (taken over by force) is left alone.
pub fn release<C: AtomicCell<u64>>(word: &C, me: Locker, consistent: bool) -> bool {
    let mut seen = word.load(Relaxed);
    loop {
        let w = Word::decode(seen);
        if !me.holds(w) {
            return false;
        }
        let free = Word {
            owner_died: !consistent,
            ..Word::default()
        };
        // Release: publishes everything written under the lock to the next acquirer.
        match word.compare_exchange(seen, free.encode(), Release, Relaxed) {
            Ok(_) => return w.waiters,
            Err(actual) => seen = actual,
        }
    }
}

/// Before sleeping on a word seen as `seen`: makes sure it says `WAITERS`. Returns the raw value
/// to sleep on, or `None` if the word changed meanwhile (attempt again instead of sleeping).
pub fn announce_waiter<C: AtomicCell<u64>>(word: &C, seen: u64) -> Option<u64> {
    let w = Word::decode(seen);
    if w.waiters {
        return Some(seen);
    }
    let marked = Word { waiters: true, ..w }.encode();
    // Relaxed: only the value matters; the sleep itself compares it in the kernel.
    word.compare_exchange(seen, marked, Relaxed, Relaxed)
        .ok()
        .map(|_| marked)
}

/// Takes the lock whatever the word says, marked `OWNER_DIED` (the caller's explicit decision).
pub fn force<C: AtomicCell<u64>>(word: &C, me: Locker) {
    let mut seen = word.load(Relaxed);
    loop {
        let ours = Word {
            owner: me.pid,
            tid: me.tid,
            foreign: !me.home,
            owner_died: true,
            waiters: Word::decode(seen).waiters,
        };
        match word.compare_exchange(seen, ours.encode(), Acquire, Relaxed) {
            Ok(_) => return,
            Err(actual) => seen = actual,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    const ME: Locker = Locker {
        pid: 4242,
        tid: 4243,
        home: true,
    };

    /// A word held by PID 5, thread 6 (`home` or not).
    fn held_by_five(home: bool) -> (AtomicU64, Locker) {
        let holder = Locker {
            pid: 5,
            tid: 6,
            home,
        };
        let word = AtomicU64::new(0);
        attempt(&word, holder, false, |_| unreachable!());
        (word, holder)
    }

    #[test]
    fn every_raw_value_decodes_and_the_fields_round_trip() {
        for raw in [
            0,
            u64::MAX,
            0x8000_0000,
            0x1fff_ffff,
            1 << 63,
            0xdead_beef_cafe_f00d,
        ] {
            let w = Word::decode(raw);
            assert!(w.owner <= OWNER_MASK);
            assert_eq!(Word::decode(w.encode()), w);
            assert_eq!(w.encode(), raw, "no bit is lost");
        }
    }

    #[test]
    fn a_free_word_is_taken_and_released_and_a_live_holder_is_waited_for() {
        let word = AtomicU64::new(0);
        let never = |_| panic!("a free word needs no verdict");
        assert_eq!(
            attempt(&word, ME, false, never),
            Attempt::Acquired { owner_died: false }
        );
        let other = Locker {
            pid: 7,
            tid: 7,
            home: true,
        };
        let seen = word.load(Relaxed);
        assert_eq!(
            attempt(&word, other, false, |_| Verdict::Alive),
            Attempt::Busy(seen)
        );
        assert!(
            !release(&word, other, true),
            "not the holder: nothing happens"
        );
        assert_eq!(word.load(Relaxed), seen);
        assert!(!release(&word, ME, true));
        assert_eq!(word.load(Relaxed), 0);
    }

    #[test]
    fn a_dead_holder_is_taken_over_and_the_news_stays_until_marked_consistent() {
        let dead = Word {
            owner: 99,
            tid: 99,
            ..Word::default()
        };
        let word = AtomicU64::new(dead.encode());
        assert_eq!(
            attempt(&word, ME, false, |w| {
                assert_eq!(w, dead);
                Verdict::Dead
            }),
            Attempt::Acquired { owner_died: true }
        );
        release(&word, ME, false);
        assert!(Word::decode(word.load(Relaxed)).owner_died);
        assert_eq!(
            attempt(&word, ME, false, |_| unreachable!()),
            Attempt::Acquired { owner_died: true },
            "the next locker is told again"
        );
        release(&word, ME, true);
        assert_eq!(word.load(Relaxed), 0, "repaired: clean");
    }

    #[test]
    fn waiters_are_announced_kept_and_reported_on_release() {
        let (word, holder) = held_by_five(false);
        let seen = word.load(Relaxed);
        assert!(
            Word::decode(seen).foreign,
            "a locker outside the namespace says so"
        );
        let marked = announce_waiter(&word, seen).unwrap();
        assert!(Word::decode(marked).waiters);
        assert_eq!(
            announce_waiter(&word, seen),
            None,
            "stale view: attempt again"
        );
        assert!(release(&word, holder, true), "a sleeper to wake");
        assert_eq!(
            attempt(&word, ME, true, |_| unreachable!()),
            Attempt::Acquired { owner_died: false }
        );
        assert!(
            Word::decode(word.load(Relaxed)).waiters,
            "a locker that slept keeps the bit"
        );
    }

    #[test]
    fn force_takes_any_word_and_the_old_holder_release_touches_nothing() {
        let (word, holder) = held_by_five(true);
        assert_eq!(
            attempt(&word, holder, false, |_| Verdict::ThisThread),
            Attempt::Relock
        );
        force(&word, ME);
        let w = Word::decode(word.load(Relaxed));
        assert_eq!((w.owner, w.tid, w.owner_died), (ME.pid, ME.tid, true));
        assert!(!release(&word, holder, true));
        assert_eq!(Word::decode(word.load(Relaxed)).owner, ME.pid);
    }
}
