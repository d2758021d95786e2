//! The writer side of a frame: begin, publish, abandon, recover — and who holds the flag.
//!
//! `md->write` is the writer's flag and `md->cnt0` the frame counter; together they form the
//! sequence word of a seqlock whose readers are in [`crate::seqlock`]. `docs/protocol.md`
//! ("Writing a frame", "Who holds the flag") describes the design this module implements. Two shmim-private words of
//! C padding say *which* shmim writer holds the flag, so that a dead one can be told apart from a
//! live one, and replaced by exactly one successor:
//!
//! * the **claim PID** `C` (`i32` at offset 228): the holder's PID, 0 when no shmim writer holds
//!   the flag;
//! * the **claim ticket** `K` (`u32` at offset 244): the low 32 bits of `cnt0` when the holder took
//!   the flag. While a writer holds the flag nobody else publishes, so `K == low32(cnt0)` says
//!   "this is still the flag `C` took"; a legacy writer that cleared the flag, published and set it
//!   again moves `cnt0` and breaks the equality.
//!
//! The ticket is written by the *publish* before, not by `begin`: every shmim publish leaves
//! `K = low32(new cnt0)`, so the next writer finds it already right when it takes the flag. Reading
//! `cnt0` in `begin` would cost a transfer of the hottest cache line of the stream (the one a
//! busy-polling reader spins on) on every frame: about 60 ns more one-way latency, measured. The
//! price: after a *legacy* writer's publish the ticket lags `cnt0` until the next shmim publish, so a
//! shmim writer that dies during that one frame reads as stuck, not dead (the safe direction).

//! `ownerPID` is not ours: milk uses it for the stream's owner, and its purge deletes streams
//! whose owner is 0 or dead, so nothing here touches it. Legacy writers never touch `C` or `K`
//! (they are padding to them, zero in every legacy file).
//!
//! # The rule ([`WriteFlag`])
//! * **begin**: compare-and-swap `write` 0 → 1 with *Acquire* on success, which orders this writer
//!   after the previous one (it pairs with that writer's release store of `write = 0`), then a
//!   *release fence*. The fence is what keeps our pixel stores from becoming visible before the
//!   flag: a reader whose copy saw any of them and then runs an acquire fence synchronises with
//!   this fence, so its later load of `write` cannot miss the 1. A release *store* of the flag
//!   would not do this: release orders what comes before a store, not after it. Then
//!   compare-and-swap `C` 0 → me (*Release*: whoever reads our PID in `C` reads `K` with it).
//!   If `C` is not 0, a legacy writer cleared the flag plainly over another claim: the claim is
//!   stale only if its process is dead, and then we refresh `K` and move the claim to us by
//!   compare-and-swap from that PID (the same single decision a recoverer makes). Otherwise we
//!   are refused ([`Busy`]) and leave `write = 1` as we set it: a live holder still writes under
//!   that claim (its commit clears the flag), and clearing it here could drop a flag that a
//!   recoverer just adopted.
//! * **publish**: `cnt0 += 1` with *Release* (pixels, times and circular-buffer copy become visible
//!   with the new count; pairs with the reader's acquire load of `cnt0`), then, if `C` is ours or
//!   0, `K = low32(new cnt0)` (the next writer's ticket) and `C = 0` (*Release*), then `write = 0`
//!   with *Release* (pairs with the reader's acquire load of `write` in validation, which
//!   therefore sees the new `cnt0` and rejects a copy that overlapped this frame). `C` and `K` are
//!   written *before* the flag, so the next writer, whose Acquire CAS of the flag reads our 0,
//!   finds `C == 0` and the right ticket. Another writer's live claim is left alone: the legacy
//!   idiom `write = 1; UpdateIm` claims nothing, and its publish must not erase a holder's claim.
//!   Between frames `C == 0` and `K == low32(cnt0)`.
//! * **abandon**: nothing. The half-written frame must stay unacceptable, and only the flag says
//!   so; `C` and `K` keep naming us, and our next publish clears all three.
//! * **dead or stuck** ([`WriteFlag::holder`]): the flag is set and `C == P`, `P` is dead (zombies
//!   count as dead) and `K == low32(cnt0)` → [`Holder::Died`]; anything else is
//!   [`Holder::Stuck`] (a legacy writer never sets `C`, so its flag is never taken over
//!   automatically).
//! * **recover** ([`WriteFlag::recover`]): with that evidence, **one** compare-and-swap of `C` from
//!   `P` to me decides; then check that `write` is still 1 and `K` unchanged (the flag was not
//!   released and re-taken meanwhile). The CAS loser, or a winner whose check fails (it gives the
//!   claim back to `P`), gets [`Busy`]. Every path to holding the flag goes through a successful
//!   CAS of `C` (from 0, or from a dead PID), so two shmim writers never hold it at once.
//! * **force** ([`WriteFlag::force`]) skips the evidence. It can create two writers if the holder
//!   was in fact alive; it is for an operator who checked by hand.
//!
//! Narrow windows remain where a writer that dies leaves a flag without a claim (between its flag
//! CAS and its claim CAS, or between clearing `C` and clearing `write`): that flag reads as
//! [`Holder::Stuck`] with claim 0 and needs [`WriteFlag::force`].
//!
//! Under `cfg(shmim_tsan)` the two standalone fences of the protocol (this release fence, and the
//! reader's acquire fence) become read-modify-writes of the flag with the same orderings, because
//! ThreadSanitizer does not model standalone fences; see `release_fence_after`.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::field::{AtomicCell, Field, Word};

/// Another writer holds the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("another writer holds the write flag (claim PID {claim}; 0: no shmim claim)")]
pub struct Busy {
    /// The claim PID as read when we were refused: the shmim writer holding the flag, or 0 when
    /// none claims it (a legacy writer, or a writer that died before claiming).
    pub claim: i32,
}

/// Who holds the write flag, as far as the file can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The flag is clear.
    Nobody,
    /// The flag is set by a live process, a legacy writer (claim 0), or a claim whose evidence
    /// does not hold.
    Stuck {
        /// The claim PID (0: none).
        claim: i32,
    },
    /// The flag is set, its claim names a dead process, and the ticket matches `cnt0`.
    Died {
        /// The dead claimant.
        claim: i32,
    },
}

/// The four shared words of the write protocol, as atomic cells (views of the file's fields, or
/// loom atomics in the models).
pub struct WriteFlag<'a, W, N, C, K> {
    /// `md->write`.
    pub write: &'a W,
    /// `md->cnt0`.
    pub cnt0: &'a N,
    /// The claim PID (offset 228).
    pub claim: &'a C,
    /// The claim ticket (offset 244).
    pub ticket: &'a K,
}

/// The write protocol on a stream's fields, as `shmim-core` and the C API use it.
pub type StreamFlag<'a> = WriteFlag<
    'a,
    <u8 as Word>::Atomic,
    <u64 as Word>::Atomic,
    <i32 as Word>::Atomic,
    <u32 as Word>::Atomic,
>;

impl<'a> StreamFlag<'a> {
    /// The protocol over four field views: `write`, `cnt0`, the claim PID and the claim ticket.
    #[inline]
    pub fn from_fields(
        write: Field<'a, u8>,
        cnt0: Field<'a, u64>,
        claim: Field<'a, i32>,
        ticket: Field<'a, u32>,
    ) -> Self {
        Self {
            write: write.cell(),
            cnt0: cnt0.cell(),
            claim: claim.cell(),
            ticket: ticket.cell(),
        }
    }
}

impl<W, N, C, K> WriteFlag<'_, W, N, C, K>
where
    W: AtomicCell<u8>,
    N: AtomicCell<u64>,
    C: AtomicCell<i32>,
    K: AtomicCell<u32>,
{
    /// Takes the flag (0 → 1) and claims it for `me`. `is_dead` is asked only about a claim left
    /// behind when a legacy writer cleared the flag plainly.
    #[inline]
    pub fn begin(&self, me: i32, is_dead: impl Fn(i32) -> bool) -> Result<(), Busy> {
        // Acquire on success: ordered after the previous writer's release of the flag (and so
        // after the ticket its publish left: the low 32 bits of the cnt0 we start from).
        if self.write.compare_exchange(0, 1, Acquire, Relaxed).is_err() {
            return Err(Busy {
                claim: self.claim.load(Relaxed),
            });
        }
        release_fence_after(self.write);
        // Release on success: a reader of our PID in the claim reads the ticket with it (Acquire
        // on failure: the stale claim we may move next is read with its ticket).
        match self.claim.compare_exchange(0, me, Release, Acquire) {
            Ok(_) => Ok(()),
            Err(stale) if stale > 0 && stale != me && is_dead(stale) => {
                // A legacy writer cleared the flag over a dead claim, and may have published
                // since: the ticket is refreshed before the claim moves (cold path).
                self.ticket.store(self.cnt0.load(Relaxed) as u32, Relaxed);
                self.claim
                    .compare_exchange(stale, me, AcqRel, Relaxed)
                    .map(drop)
                    .map_err(|claim| Busy { claim })
            }
            // A live claim (or our own PID: another handle of this process abandoned a frame):
            // refused; the flag stays set, as its live holder expects.
            Err(claim) => Err(Busy { claim }),
        }
    }

    /// Re-enters a write after `me` abandoned one: the flag is still set and still claimed by
    /// `me`, so we keep it; otherwise this is a plain [`Self::begin`].
    #[inline]
    pub fn resume(&self, me: i32, is_dead: impl Fn(i32) -> bool) -> Result<(), Busy> {
        // Acquire on the claim: pairs with a recoverer's Release, should one have taken it (then
        // it is not ours and we fall through to begin, which is refused).
        if self.write.load(Relaxed) == 1 && self.claim.load(Acquire) == me {
            release_fence_after(self.write);
            Ok(())
        } else {
            self.begin(me, is_dead)
        }
    }

    /// Publishes the frame written since [`Self::begin`]: `cnt0 += 1`, the ticket for the next
    /// writer, our claim cleared, then `write = 0` (see the module docs). Returns the new frame
    /// number (previous + 1). Semaphores are posted by the caller *after* this, so a woken reader
    /// sees the new count and a clear flag.
    #[inline]
    pub fn publish(&self, me: i32) -> u64 {
        // Release: everything written under the flag is visible to whoever acquires this count.
        let frame = self.cnt0.fetch_add(1, Release).wrapping_add(1);
        // Our claim, or none (the legacy idiom through shmim's UpdateIm): leave the ticket for the
        // next writer and clear the claim. Another process's live claim (two writers at once) is
        // left as it is. While the claim is ours nobody else changes it (a recoverer or a
        // stale-claim begin moves only a dead PID's claim), so a load then stores suffice.
        let claim = self.claim.load(Relaxed);
        if claim == me || claim == 0 {
            // Relaxed: published by the Release stores below, read by the next writer after its
            // Acquire CAS of the flag.
            self.ticket.store(frame as u32, Relaxed);
            if claim == me {
                // Release, and before the flag: the next writer to acquire `write == 0` sees
                // the claim clear.
                self.claim.store(0, Release);
            }
        }
        // Release: a reader that acquires `write == 0` sees the new cnt0 (it was stored before).
        self.write.store(0, Release);
        frame
    }

    /// Who holds the flag now: the evidence a reader facing a set flag reports.
    pub fn holder(&self, is_dead: impl Fn(i32) -> bool) -> Holder {
        if self.write.load(Relaxed) == 0 {
            return Holder::Nobody;
        }
        // Acquire: pairs with the claim's Release CAS, so the ticket read next is the claimant's.
        let claim = self.claim.load(Acquire);
        let ticket = self.ticket.load(Relaxed);
        if claim > 0 && ticket == self.cnt0.load(Relaxed) as u32 && is_dead(claim) {
            Holder::Died { claim }
        } else {
            Holder::Stuck { claim }
        }
    }

    /// Takes over a flag whose claimant is dead (the evidence of [`Self::holder`]), or takes a
    /// clear flag with [`Self::begin`]. At most one of any number of concurrent recoverers and
    /// writers wins; the others get [`Busy`].
    pub fn recover(&self, me: i32, is_dead: impl Fn(i32) -> bool) -> Result<(), Busy> {
        if self.write.load(Acquire) == 0 {
            return self.begin(me, is_dead);
        }
        let dead = self.claim.load(Acquire);
        let ticket = self.ticket.load(Relaxed);
        let evidence =
            dead > 0 && dead != me && ticket == self.cnt0.load(Relaxed) as u32 && is_dead(dead);
        if !evidence {
            return Err(Busy { claim: dead });
        }
        // The one decision: whoever moves the claim from the dead PID wins it (AcqRel: ordered
        // after the claimant's stores, and our later stores after the claim).
        self.claim
            .compare_exchange(dead, me, AcqRel, Relaxed)
            .map_err(|claim| Busy { claim })?;
        // Still the flag we judged? If it was released and re-taken meanwhile (a legacy writer
        // cleared it, a writer in its begin window set it again) the ticket or cnt0 moved, or
        // the flag is clear: not ours. Acquire on the flag: ordered after whoever stored it.
        let same = self.write.load(Acquire) == 1
            && self.ticket.load(Relaxed) == ticket
            && self.cnt0.load(Relaxed) as u32 == ticket;
        if same {
            release_fence_after(self.write);
            Ok(())
        } else {
            // Give the claim back as we found it: the flag is not ours, and whoever set it again
            // may itself have been refused by our claim (its flag then reads as the dead one's).
            let _ = self.claim.compare_exchange(me, dead, Release, Relaxed);
            Err(Busy { claim: dead })
        }
    }

    /// Takes the flag whatever holds it, and claims it. **Can create two writers** if the holder
    /// was alive after all; for an operator who checked by hand (a flag without a claim, or a
    /// writer in another PID namespace).
    pub fn force(&self, me: i32) {
        // Set to 1 with Acquire whatever the flag holds: ordered after a publish that may have
        // happened meanwhile.
        let mut current = self.write.load(Relaxed);
        while let Err(actual) = self.write.compare_exchange(current, 1, Acquire, Relaxed) {
            current = actual;
        }
        release_fence_after(self.write);
        self.ticket.store(self.cnt0.load(Relaxed) as u32, Relaxed);
        self.claim.store(me, Release);
    }
}

/// The release fence of [`WriteFlag::begin`]: orders every later store (the pixels) after the
/// flag.
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

/// The four words of the protocol on the heap, for unit tests (here and in `abandoned`).
#[cfg(all(test, not(loom)))]
pub(crate) mod test_words {
    use super::WriteFlag;
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::atomic::{AtomicI32, AtomicU8, AtomicU32, AtomicU64};

    #[derive(Default)]
    pub(crate) struct Words {
        pub(crate) write: AtomicU8,
        pub(crate) cnt0: AtomicU64,
        pub(crate) claim: AtomicI32,
        pub(crate) ticket: AtomicU32,
    }

    impl Words {
        pub(crate) fn flag(&self) -> WriteFlag<'_, AtomicU8, AtomicU64, AtomicI32, AtomicU32> {
            WriteFlag {
                write: &self.write,
                cnt0: &self.cnt0,
                claim: &self.claim,
                ticket: &self.ticket,
            }
        }

        pub(crate) fn state(&self) -> (u8, u64, i32, u32) {
            (
                self.write.load(Relaxed),
                self.cnt0.load(Relaxed),
                self.claim.load(Relaxed),
                self.ticket.load(Relaxed),
            )
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::test_words::Words;
    use super::*;

    const DEAD: i32 = 7;
    fn dead(pid: i32) -> bool {
        pid == DEAD
    }

    #[test]
    fn begin_claims_and_publish_leaves_the_next_ticket_and_clears_the_claim() {
        let w = Words::default();
        // Between frames, as a publish leaves them: no claim, ticket = low 32 bits of cnt0.
        w.cnt0.store(0x1_0000_0005, Relaxed);
        w.ticket.store(5, Relaxed);
        w.flag().begin(42, dead).unwrap();
        assert_eq!(
            w.state(),
            (1, 0x1_0000_0005, 42, 5),
            "claimed, ticket as found"
        );
        assert_eq!(w.flag().begin(43, dead), Err(Busy { claim: 42 }));
        assert_eq!(w.flag().publish(42), 0x1_0000_0006);
        assert_eq!(
            w.state(),
            (0, 0x1_0000_0006, 0, 6),
            "next ticket, claim clear"
        );
    }

    #[test]
    fn after_a_legacy_publish_the_ticket_lags_and_a_dead_writer_reads_stuck() {
        let w = Words::default();
        w.cnt0.store(3, Relaxed); // frames published by a legacy writer: the ticket still 0
        w.flag().begin(DEAD, dead).unwrap();
        assert_eq!(w.flag().holder(dead), Holder::Stuck { claim: DEAD });
        assert_eq!(w.flag().recover(42, dead), Err(Busy { claim: DEAD }));
        w.flag().force(42);
        w.flag().publish(42);
        assert_eq!(
            w.state(),
            (0, 4, 0, 4),
            "the next shmim publish puts it right"
        );
    }

    #[test]
    fn a_publish_without_a_claim_leaves_another_claim_alone() {
        let w = Words::default();
        w.flag().begin(42, dead).unwrap();
        // The legacy idiom of another process: `write = 1` plainly, then its UpdateIm.
        w.flag().publish(99);
        assert_eq!(w.state(), (0, 1, 42, 0), "42's claim survives");
        w.ticket.store(5, Relaxed);
        w.flag().publish(99);
        assert_eq!(w.state().3, 5, "and so does its ticket");
    }

    #[test]
    fn begin_after_a_legacy_clear_moves_a_dead_claim_and_is_refused_by_a_live_one() {
        let w = Words::default();
        w.flag().begin(DEAD, dead).unwrap();
        w.write.store(0, Relaxed); // a legacy writer cleared the flag plainly
        w.flag().begin(42, dead).unwrap();
        assert_eq!(w.state(), (1, 0, 42, 0), "the dead claim was stale");

        w.write.store(0, Relaxed); // again, over the live claim of 42
        assert_eq!(w.flag().begin(43, dead), Err(Busy { claim: 42 }));
        assert_eq!(w.state().0, 1, "the live holder's flag stays set");
        assert_eq!(w.state().2, 42);
    }

    #[test]
    fn holder_tells_dead_from_stuck_by_claim_liveness_and_ticket() {
        let w = Words::default();
        assert_eq!(w.flag().holder(dead), Holder::Nobody);
        w.flag().begin(DEAD, dead).unwrap();
        assert_eq!(w.flag().holder(dead), Holder::Died { claim: DEAD });
        w.cnt0.store(1, Relaxed); // a legacy writer published meanwhile: not the flag DEAD took
        assert_eq!(w.flag().holder(dead), Holder::Stuck { claim: DEAD });
        w.cnt0.store(0, Relaxed);
        w.claim.store(0, Relaxed); // a flag nobody claims (legacy writer)
        assert_eq!(w.flag().holder(|_| true), Holder::Stuck { claim: 0 });
        w.claim.store(42, Relaxed);
        assert_eq!(w.flag().holder(dead), Holder::Stuck { claim: 42 });
    }

    #[test]
    fn recovery_takes_a_dead_claim_once_and_refuses_without_evidence() {
        let w = Words::default();
        w.flag().begin(DEAD, dead).unwrap();
        w.flag().recover(42, dead).unwrap();
        assert_eq!(w.state(), (1, 0, 42, 0));
        assert_eq!(
            w.flag().recover(43, dead),
            Err(Busy { claim: 42 }),
            "42 lives"
        );
        assert_eq!(w.flag().publish(42), 1);
        // A clear flag is simply begun.
        w.flag().recover(43, dead).unwrap();
        assert_eq!(w.state(), (1, 1, 43, 1));
    }

    #[test]
    fn recovery_refuses_a_flag_whose_ticket_no_longer_matches_cnt0() {
        let w = Words::default();
        w.flag().begin(DEAD, dead).unwrap();
        // A legacy writer published since DEAD took the flag, then set it again plainly.
        w.cnt0.store(1, Relaxed);
        assert_eq!(w.flag().recover(42, dead), Err(Busy { claim: DEAD }));
        assert_eq!(w.state(), (1, 1, DEAD, 0), "nothing changed");
    }

    #[test]
    fn force_takes_any_flag() {
        let w = Words::default();
        w.flag().begin(42, dead).unwrap();
        w.cnt0.store(3, Relaxed);
        w.flag().force(43);
        assert_eq!(w.state(), (1, 3, 43, 3));
        assert_eq!(w.flag().publish(43), 4);
        assert_eq!(w.state(), (0, 4, 0, 4));
    }

    #[test]
    fn resume_keeps_our_abandoned_flag_and_begins_otherwise() {
        let w = Words::default();
        w.flag().begin(42, dead).unwrap();
        w.flag().resume(42, dead).unwrap();
        assert_eq!(w.flag().resume(43, dead), Err(Busy { claim: 42 }));
        w.flag().publish(42);
        w.flag().resume(43, dead).unwrap();
        assert_eq!(w.state(), (1, 1, 43, 1));
    }
}
