//! A mirror's accounting: every source frame is mirrored, a gap or a drop.
//!
//! The worker takes frames in arrival order and, for each, knows whether it mirrored it. So it
//! keeps the counts: a frame taken and not mirrored (no mirror to write, a write that failed) is
//! a *drop*, as is each frame a newer one replaced in the `latest` slot; a jump in source `cnt0`
//! between two frames taken, less the replaced ones, is a *gap* (frames the publisher skipped,
//! or messages lost or refused on the way). Within one source generation only: a re-created
//! source starts again at `cnt0` 1.
//!
//! A subscriber that (re)starts continues the counts it finds in its mirror
//! ([`Account::resume`]): what it counted before its first mirror was open is discarded (a
//! standby subscriber counted as drops frames another bridge mirrored), and the first frame it
//! takes after that counts the frames between the mirror's recorded `BR_SRC_CNT0` and itself
//! as gaps. The recorded figures do not say which source generation they were for; if the source
//! was re-created while no subscriber ran, a first frame numbered above the recorded one counts
//! the difference as gaps, one numbered below counts none.
//!
//! A source's `cnt0` only grows within a generation, so a frame numbered at or below the one
//! taken before it is *out of order*: one of the two did not come from the source (a peer can
//! put a well-formed frame of the live generation with any number). It is counted as malformed
//! and logged ([`Order::Backwards`]), and the gaps counted for the forward jumps that landed
//! above it are taken back (the newest [`JUMPS`] jumps are remembered; older ones are merged),
//! counting the gaps from the frame before them to it instead. If the frame after it goes on
//! above the frame before it, the out-of-order frame was the odd one: the take-back is undone
//! and counting goes on from that earlier frame. So one injected frame moves `BR_GAPS` by at
//! most the frames it displaced, for a moment, never by its made-up number for good. (The
//! injected frame itself was well-formed and is mirrored: the accounting is then off by the
//! frames injected, which `BR_MALFORMED` counts.)

use std::collections::VecDeque;

use crate::mirror::Stats;

/// Forward jumps remembered to take back after a frame out of order.
pub const JUMPS: usize = 16;

/// Whether a frame went on from the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Numbered after the frame before it (or the first of its generation).
    InOrder,
    /// Numbered at or below `after`, the frame taken before it in the same generation.
    Backwards {
        /// The source `cnt0` of the frame taken before.
        after: u64,
    },
}

/// A forward jump in `cnt0` that counted `gaps`.
#[derive(Debug, Clone, Copy)]
struct Jump {
    from: u64,
    to: u64,
    gaps: u64,
}

/// What a frame out of order changed, to undo if the next frame goes on above `high`.
#[derive(Debug, Clone)]
struct Undo {
    high: u64,
    gaps: u64,
    jumps: VecDeque<Jump>,
}

/// The counts of one mirror.
#[derive(Debug, Default)]
pub struct Account {
    stats: Stats,
    /// Malformed messages recorded by earlier processes.
    malformed_before: u64,
    /// (generation, cnt0) of the last frame taken.
    last: Option<(u64, u64)>,
    /// The recorded source cnt0 the first frame after a resume counts gaps from.
    resume_from: Option<u64>,
    /// The newest forward jumps of the current generation, oldest first.
    jumps: VecDeque<Jump>,
    /// Set by a frame out of order.
    undo: Option<Undo>,
}

impl Account {
    /// A frame of `generation` numbered `cnt0`, which replaced `replaced` others, is taken.
    pub fn take(&mut self, generation: u64, cnt0: u64, replaced: u64) -> Order {
        self.stats.drops = self.stats.drops.saturating_add(replaced);
        let from = match self.last {
            Some((g, c)) if g == generation && cnt0 <= c => {
                self.backwards(generation, c, cnt0, replaced);
                return Order::Backwards { after: c };
            }
            Some((g, c)) if g == generation => match self.undo.take() {
                Some(u) if cnt0 > u.high => {
                    // The frame out of order was the odd one: as if it never came.
                    self.stats.gaps = u.gaps;
                    self.jumps = u.jumps;
                    Some(u.high)
                }
                _ => Some(c),
            },
            Some(_) => {
                self.jumps.clear();
                self.undo = None;
                None
            }
            None => self.resume_from.take(),
        };
        if let Some(from) = from.filter(|&f| cnt0 > f) {
            self.count_gaps(from, cnt0, replaced);
        }
        self.last = Some((generation, cnt0));
        Order::InOrder
    }

    /// Counts the frames between `from` and `to` (less those replaced) as gaps.
    fn count_gaps(&mut self, from: u64, to: u64, replaced: u64) {
        let gaps = (to - from - 1).saturating_sub(replaced);
        if gaps == 0 {
            return;
        }
        self.stats.gaps = self.stats.gaps.saturating_add(gaps);
        if self.jumps.len() == JUMPS {
            if let Some(oldest) = self.jumps.pop_front() {
                if let Some(next) = self.jumps.front_mut() {
                    next.from = oldest.from;
                    next.gaps = next.gaps.saturating_add(oldest.gaps);
                }
            }
        }
        self.jumps.push_back(Jump { from, to, gaps });
    }

    /// Frame `cnt0` came after frame `after` of the same generation: takes back the jumps that
    /// landed above it and counts from the frame before them.
    fn backwards(&mut self, generation: u64, after: u64, cnt0: u64, replaced: u64) {
        if self.undo.is_none() {
            self.undo = Some(Undo {
                high: after,
                gaps: self.stats.gaps,
                jumps: self.jumps.clone(),
            });
        }
        let mut from = None;
        while let Some(j) = self.jumps.back().copied().filter(|j| j.to > cnt0) {
            self.jumps.pop_back();
            self.stats.gaps = self.stats.gaps.saturating_sub(j.gaps);
            from = Some(j.from);
        }
        if let Some(f) = from.filter(|&f| cnt0 > f) {
            self.count_gaps(f, cnt0, replaced);
        }
        self.last = Some((generation, cnt0));
    }

    /// The frame taken last was not mirrored.
    pub fn dropped(&mut self) {
        self.stats.drops = self.stats.drops.saturating_add(1);
    }

    /// The frame taken last was mirrored (source `cnt0`, latency, source writetime).
    pub fn mirrored(&mut self, src_cnt0: u64, latency_ns: i64, src_writetime_ns: i64) {
        self.stats.src_cnt0 = src_cnt0;
        self.stats.latency_ns = latency_ns;
        self.stats.src_writetime_ns = src_writetime_ns;
    }

    /// The first mirror of this process is open: continue from what it records (nothing if it
    /// is new), discarding this process's own counts so far.
    pub fn resume(&mut self, recorded: Option<Stats>) {
        let r = recorded.unwrap_or_default();
        self.stats = Stats { malformed: 0, ..r };
        self.malformed_before = r.malformed;
        self.last = None;
        self.jumps.clear();
        self.undo = None;
        self.resume_from = (r.src_cnt0 > 0).then_some(r.src_cnt0);
    }

    /// The figures to publish, given the malformed messages counted by this process.
    pub fn stats(&self, malformed_here: u64) -> Stats {
        Stats {
            malformed: self.malformed_before.saturating_add(malformed_here),
            ..self.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_jumps_in_cnt0_within_a_generation() {
        let mut a = Account::default();
        for (g, c) in [(1, 10), (1, 11), (1, 15), (2, 1), (2, 3)] {
            a.take(g, c, 0);
        }
        assert_eq!(
            a.stats(0).gaps,
            3 + 1,
            "11→15 and 1→3; a new generation restarts"
        );
    }

    #[test]
    fn replaced_frames_are_drops_not_gaps() {
        let mut a = Account::default();
        a.take(1, 1, 0);
        a.take(1, 9, 3);
        let s = a.stats(0);
        assert_eq!((s.gaps, s.drops), (4, 3));
        a.dropped();
        assert_eq!(a.stats(0).drops, 4);
    }

    #[test]
    fn a_resumed_account_continues_the_recorded_counts_from_the_recorded_frame() {
        let mut a = Account::default();
        // Counted before the mirror was open (as a standby): discarded.
        a.take(1, 5, 0);
        a.dropped();
        let recorded = Stats {
            src_cnt0: 100,
            gaps: 7,
            drops: 2,
            malformed: 1,
            ..Stats::default()
        };
        a.resume(Some(recorded));
        a.take(1, 150, 0);
        a.mirrored(150, 0, 0);
        let s = a.stats(3);
        assert_eq!(
            (s.src_cnt0, s.gaps, s.drops, s.malformed),
            (150, 7 + 49, 2, 4)
        );
        a.take(1, 151, 0);
        assert_eq!(a.stats(0).gaps, 56, "counting goes on from the frame taken");
    }

    fn gaps_after(frames: &[u64]) -> (u64, Vec<Order>) {
        let mut a = Account::default();
        let orders = frames.iter().map(|&c| a.take(1, c, 0)).collect();
        (a.stats(0).gaps, orders)
    }

    #[test]
    fn a_frame_far_ahead_is_taken_back_when_the_next_goes_backwards() {
        let (gaps, orders) = gaps_after(&[1, 2, 1 << 62, 3, 4]);
        assert_eq!(gaps, 0);
        assert_eq!(orders[3], Order::Backwards { after: 1 << 62 });
        assert_eq!(orders[4], Order::InOrder);
        assert_eq!(
            gaps_after(&[1, 2, 1 << 62, (1 << 62) + 1, 3, 4]).0,
            0,
            "a run"
        );
        assert_eq!(gaps_after(&[1, 5, 1 << 62, 7]).0, 3 + 1, "real gaps stay");
    }

    #[test]
    fn a_frame_behind_is_the_odd_one_when_the_next_goes_on_above() {
        let (gaps, orders) = gaps_after(&[1, 10, 20, 3, 21, 22]);
        assert_eq!(gaps, 8 + 9, "1→10 and 10→20 only");
        assert_eq!(orders[3], Order::Backwards { after: 20 });
        let (gaps, _) = gaps_after(&[1, 10, 20, 3, 4, 25]);
        assert_eq!(
            gaps,
            1 + 20,
            "3 and 4 go on: 20 was the odd one (1→3, 4→25)"
        );
    }

    #[test]
    fn many_small_jumps_are_merged_not_forgotten() {
        let mut frames: Vec<u64> = (0..100).map(|i| i * 2 + 1).collect();
        frames.push(1 << 40);
        frames.push(200);
        assert_eq!(
            gaps_after(&frames).0,
            99,
            "every second frame missed, up to 199"
        );
        frames.push(2);
        assert_eq!(gaps_after(&frames).0, 0, "everything above 2 taken back");
    }

    #[test]
    fn huge_jumps_saturate() {
        let mut a = Account::default();
        a.take(1, 1, 0);
        a.take(1, u64::MAX, 0);
        a.take(3, 1, 0);
        a.take(3, u64::MAX, 0);
        a.take(2, 1, u64::MAX);
        a.take(2, 2, u64::MAX);
        let s = a.stats(0);
        assert_eq!((s.gaps, s.drops), (u64::MAX, u64::MAX));
    }
}
