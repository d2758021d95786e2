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

use crate::mirror::Stats;

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
}

impl Account {
    /// A frame of `generation` numbered `cnt0`, which replaced `replaced` others, is taken.
    pub fn take(&mut self, generation: u64, cnt0: u64, replaced: u64) {
        self.stats.drops = self.stats.drops.saturating_add(replaced);
        let from = match self.last {
            Some((g, c)) if g == generation => Some(c),
            Some(_) => None,
            None => self.resume_from.take(),
        };
        if let Some(from) = from.filter(|&f| cnt0 > f) {
            let between = (cnt0 - from - 1).saturating_sub(replaced);
            self.stats.gaps = self.stats.gaps.saturating_add(between);
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
        for (g, c) in [(1, 10), (1, 11), (1, 15), (2, 1), (2, 3), (2, 2)] {
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

    #[test]
    fn huge_jumps_saturate() {
        let mut a = Account::default();
        for c in [1, u64::MAX, 2, u64::MAX] {
            a.take(1, c, 0);
        }
        a.take(2, 1, u64::MAX);
        a.take(2, 2, u64::MAX);
        let s = a.stats(0);
        assert_eq!((s.gaps, s.drops), (u64::MAX, u64::MAX));
    }
}
