//! The writer side of a frame: begin, publish, abandon, take over.
//!
//! `md->write` is the writer's flag and `md->cnt0` the frame counter; together they form the
//! sequence word of a seqlock whose readers are in [`crate::seqlock`]. Orderings (protocol.md,
//! "Writing a frame"):
//!
//! * **begin**: compare-and-swap `write` 0 → 1 with *Acquire* on success, which orders this writer
//!   after the previous one (it pairs with that writer's release store of `write = 0`), then a
//!   *release fence*. The fence is what keeps our pixel stores from becoming visible before the
//!   flag: a reader whose copy saw any of them and then runs an acquire fence synchronises with
//!   this fence, so its later load of `write` cannot miss the 1. A release *store* of the flag
//!   would not do this: release orders what comes before a store, not after it.
//! * **publish**: `cnt0 += 1` with *Release* (pixels, times and circular-buffer copy become visible
//!   with the new count; pairs with the reader's acquire load of `cnt0`), then `write = 0` with
//!   *Release* (pairs with the reader's acquire load of `write` in validation, which therefore sees
//!   the new `cnt0` and rejects a copy that overlapped this frame).
//! * **abandon**: nothing. The half-written frame must stay unacceptable, and only the flag says
//!   so; the owning writer's next publish clears it.
//! * **take over**: a new writer adopts a flag left set by a dead (or, when forced, a stuck)
//!   writer. The flag is never cleared without a publish: clearing it without bumping `cnt0` would
//!   let a reader that began before the dead writer accept the torn pixels.
//!
//! Under `cfg(shmim_tsan)` the two standalone fences of the protocol (this release fence, and the
//! reader's acquire fence) become read-modify-writes of the flag with the same orderings, because
//! ThreadSanitizer does not model standalone fences; see `release_fence_after`.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::field::AtomicCell;

/// Another writer holds the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("another writer is writing (write flag set, ownerPID {owner})")]
pub struct Busy {
    /// `ownerPID` as read when the flag was found set (0 or 1: no owner recorded).
    pub owner: i32,
}

/// Takes the write flag (0 → 1) and records `me` as the owner.
#[inline]
pub fn begin<W: AtomicCell<u8>, P: AtomicCell<i32>>(
    write: &W,
    owner: &P,
    me: i32,
) -> Result<(), Busy> {
    // Acquire on success: ordered after the previous writer's release of the flag.
    match write.compare_exchange(0, 1, Acquire, Relaxed) {
        Ok(_) => {
            release_fence_after(write);
            // A diagnostic for readers (who is writing?); it carries no payload, so Relaxed.
            owner.store(me, Relaxed);
            Ok(())
        }
        Err(_) => Err(Busy {
            owner: owner.load(Relaxed),
        }),
    }
}

/// Re-enters a write after this writer abandoned one: the flag is still set and still ours
/// (`ownerPID == me`), so we keep it; otherwise this is a plain [`begin`].
#[inline]
pub fn resume<W: AtomicCell<u8>, P: AtomicCell<i32>>(
    write: &W,
    owner: &P,
    me: i32,
) -> Result<(), Busy> {
    // Relaxed: we are re-reading our own stores (or a take-over by another process, which the
    // owner check below reveals).
    if write.load(Relaxed) == 1 && owner.load(Relaxed) == me {
        release_fence_after(write);
        Ok(())
    } else {
        begin(write, owner, me)
    }
}

/// Adopts a flag whose owner is dead (the caller checked) or stuck (the caller was told to force):
/// afterwards the flag is set and owned by `me`, and the next [`publish`] makes the new frame
/// valid. Works whether or not the flag is still set.
#[inline]
pub fn take_over<W: AtomicCell<u8>, P: AtomicCell<i32>>(write: &W, owner: &P, me: i32) {
    // Set to 1 with Acquire whatever the flag holds: 0 (the owner finished meanwhile) or 1 (the
    // stale flag). Acquire orders us after a publish that may have happened meanwhile.
    let mut current = write.load(Relaxed);
    while let Err(actual) = write.compare_exchange(current, 1, Acquire, Relaxed) {
        current = actual;
    }
    release_fence_after(write);
    owner.store(me, Relaxed);
}

/// Publishes the frame written since [`begin`]: `cnt0 += 1` (Release), then `write = 0`
/// (Release). Returns the new frame number (previous + 1). Semaphores are posted by the caller
/// *after* this, so a woken reader sees the new count and a clear flag.
#[inline]
pub fn publish<C: AtomicCell<u64>, W: AtomicCell<u8>>(cnt0: &C, write: &W) -> u64 {
    // Release: everything written under the flag is visible to whoever acquires this count.
    let frame = cnt0.fetch_add(1, Release).wrapping_add(1);
    // Release: a reader that acquires `write == 0` sees the new cnt0 (it was stored before).
    write.store(0, Release);
    frame
}

/// The release fence of [`begin`]: orders every later store (the pixels) after the flag.
#[inline]
pub(crate) fn release_fence_after<W: AtomicCell<u8>>(write: &W) {
    #[cfg(not(shmim_tsan))]
    {
        let _ = write;
        crate::primitive::fence(Release);
    }
    // ThreadSanitizer ignores fences. An AcqRel RMW on the flag gives TSan the same
    // happens-before edges it would derive from the fence pair (the reader's side is the RMW in
    // `seqlock::acquire_fence_then_load`).
    #[cfg(shmim_tsan)]
    write.fetch_add(0, std::sync::atomic::Ordering::AcqRel);
}
