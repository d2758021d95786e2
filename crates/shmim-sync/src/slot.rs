//! Reader slots: `semReadPID[i]` holds the PID of the reader that owns semaphore `i`.
//!
//! A slot is free when it holds a value ≤ 0 (new files mark free slots with -1; 0 is what a zeroed
//! file holds) or the PID of a process that no longer exists. Claiming is a compare-and-swap from
//! the value we judged free, so two shmim readers racing for one slot cannot both win; legacy C
//! readers claim with plain stores and are outside this guarantee.

use std::sync::atomic::Ordering::{AcqRel, Relaxed, Release};

use crate::field::AtomicCell;

/// The value of a free slot in a new file.
pub const FREE: i32 = -1;

/// Tries to claim `slot` for `me`. `is_dead(pid)` is asked only for positive PIDs that are not
/// `me` (a slot holding our own PID belongs to another reader of this process).
#[inline]
pub fn claim<P: AtomicCell<i32>>(slot: &P, me: i32, is_dead: impl FnOnce(i32) -> bool) -> bool {
    let current = slot.load(Relaxed);
    let free = current <= 0 || (current != me && is_dead(current));
    // AcqRel: ordered after the previous holder's release, and our later use of the slot's
    // semaphore after the claim.
    free && slot.compare_exchange(current, me, AcqRel, Relaxed).is_ok()
}

/// Releases `slot` if it still holds `me` (a take-over by someone who judged us dead is left
/// alone). Returns whether it did.
#[inline]
pub fn release<P: AtomicCell<i32>>(slot: &P, me: i32) -> bool {
    slot.compare_exchange(me, FREE, Release, Relaxed).is_ok()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI32;

    #[test]
    fn free_and_dead_slots_are_claimed_live_ones_are_not() {
        let slot = AtomicI32::new(FREE);
        assert!(claim(&slot, 100, |_| unreachable!()));
        assert!(
            !claim(&slot, 100, |_| true),
            "our own PID: another reader of this process"
        );
        assert!(!claim(&slot, 200, |_| false), "live holder");
        assert!(
            claim(&slot, 200, |pid| pid == 100),
            "dead holder is reclaimed"
        );
        assert!(!release(&slot, 100), "not ours any more");
        assert!(release(&slot, 200));
        assert_eq!(slot.load(Relaxed), FREE);
        let zeroed = AtomicI32::new(0);
        assert!(claim(&zeroed, 5, |_| unreachable!()));
    }
}
