//! The figures a mirror publishes in the keyword entries after its mark.

/// Names and comments of the statistics entries, in entry order after the mark.
pub const NAMES: [(&str, &str); 6] = [
    ("BR_SRC_CNT0", "source cnt0 of the last frame"),
    ("BR_GAPS", "source frames never received"),
    ("BR_DROPS", "frames received, not mirrored"),
    ("BR_LAT_NS", "transport latency, ns"),
    ("BR_SRC_WT_NS", "source writetime, ns (TAI)"),
    ("BR_MALFORMED", "malformed messages dropped"),
];

/// The figures a mirror publishes in its bridge keywords.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Source `cnt0` of the last frame mirrored.
    pub src_cnt0: u64,
    /// Source frames never received.
    pub gaps: u64,
    /// Source frames received but not mirrored (replaced by a newer one, or no mirror to write).
    pub drops: u64,
    /// Transport latency of the last frame (ns).
    pub latency_ns: i64,
    /// Source writetime of the last frame (ns since the epoch).
    pub src_writetime_ns: i64,
    /// Malformed messages dropped.
    pub malformed: u64,
}

/// A count as a keyword's `i64`: saturated, never negative (a count past `i64::MAX` reads as
/// `i64::MAX`, not as a negative number).
pub fn long(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A keyword's `i64` as a count (negative values, which no bridge writes, read as 0).
pub fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Stats {
    /// The values of the statistics entries, in [`NAMES`] order.
    pub fn values(&self) -> [i64; 6] {
        [
            long(self.src_cnt0),
            long(self.gaps),
            long(self.drops),
            self.latency_ns,
            self.src_writetime_ns,
            long(self.malformed),
        ]
    }

    /// The figures from the values of the statistics entries.
    pub fn from_values(v: [i64; 6]) -> Self {
        Self {
            src_cnt0: count(v[0]),
            gaps: count(v[1]),
            drops: count(v[2]),
            latency_ns: v[3],
            src_writetime_ns: v[4],
            malformed: count(v[5]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_beyond_i64_saturate_instead_of_turning_negative() {
        let s = Stats {
            gaps: u64::MAX - 5,
            ..Stats::default()
        };
        assert_eq!(s.values()[1], i64::MAX);
        assert_eq!(Stats::from_values([-1, 0, 0, 0, 0, 0]).src_cnt0, 0);
    }
}
