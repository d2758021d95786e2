//! Small statistics and number formatting for reports.

/// The `q`-quantile (0..=1) of `sorted` (nearest rank); 0 for an empty slice.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50, p99 and p99.9 of `samples` (sorted in place), in the samples' unit.
pub fn percentiles(samples: &mut [u64]) -> [u64; 3] {
    samples.sort_unstable();
    [
        quantile(samples, 0.50),
        quantile(samples, 0.99),
        quantile(samples, 0.999),
    ]
}

/// A duration in nanoseconds, with a unit that keeps 3 significant digits: `142 ns`, `25.3 µs`.
pub fn ns_text(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.3} µs", ns / 1e3).trim_decimals()
    } else if ns < 1e9 {
        format!("{:.3} ms", ns / 1e6).trim_decimals()
    } else {
        format!("{:.2} s", ns / 1e9)
    }
}

/// Bytes with a binary unit: `1.0 MiB`.
pub fn bytes_text(b: u64) -> String {
    let b = b as f64;
    if b < 1024.0 {
        format!("{b} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.1} GiB", b / (1024.0 * 1024.0 * 1024.0))
    }
}

/// A rate in Hz with 3 significant digits.
pub fn hz_text(hz: f64) -> String {
    if hz >= 1e6 {
        format!("{:.2} MHz", hz / 1e6)
    } else if hz >= 1e3 {
        format!("{:.2} kHz", hz / 1e3)
    } else {
        format!("{hz:.1} Hz")
    }
}

trait TrimDecimals {
    fn trim_decimals(self) -> String;
}

impl TrimDecimals for String {
    /// Keeps three significant digits: `25.312 µs` → `25.3 µs`, `312.456 µs` → `312 µs`.
    fn trim_decimals(self) -> String {
        let (num, unit) = self.split_once(' ').unwrap_or((&self, ""));
        let v: f64 = num.parse().unwrap_or(0.0);
        let s = if v >= 100.0 {
            format!("{v:.0}")
        } else if v >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        };
        format!("{s} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[], 0.5), 0);
    }

    #[test]
    fn durations_keep_three_digits() {
        assert_eq!(ns_text(142.4), "142 ns");
        assert_eq!(ns_text(25_312.0), "25.3 µs");
        assert_eq!(ns_text(1_500_000.0), "1.50 ms");
    }
}
