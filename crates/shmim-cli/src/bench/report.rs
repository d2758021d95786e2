//! The bench's results: table rows with their targets, and the series behind the charts.

use serde::Serialize;

use super::Effort;
use super::wake::pinning;
use crate::stats::{ns_text, percentiles, quantile};
use crate::table::Table;

/// A measured figure in nanoseconds: a per-operation time, or a latency p50 with its tail.
/// `NaN` when there is nothing to show (printed `—`, `null` in JSON).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figure {
    pub ns: f64,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
}

impl Figure {
    /// A per-operation time.
    pub fn ns(ns: f64) -> Self {
        Self {
            ns,
            p99: None,
            p999: None,
        }
    }

    /// p50, p99 and p99.9 of `samples` (sorted in place).
    pub fn latency(samples: &mut [u64]) -> Self {
        let [p50, p99, p999] = percentiles(samples);
        Self {
            ns: p50 as f64,
            p99: Some(p99 as f64),
            p999: Some(p999 as f64),
        }
    }

    /// Nothing measured.
    pub fn none() -> Self {
        Self::ns(f64::NAN)
    }

    fn text(&self) -> String {
        if self.ns.is_nan() {
            return "—".into();
        }
        match (self.p99, self.p999) {
            (Some(p99), Some(p999)) => format!(
                "p50 {} p99 {} p99.9 {}",
                ns_text(self.ns),
                ns_text(p99),
                ns_text(p999)
            ),
            _ => ns_text(self.ns),
        }
    }
}

/// One line of the table.
#[derive(Debug, Serialize)]
pub struct Row {
    /// Which part of the suite (`publish`, `frames`, `wake`, …).
    pub section: &'static str,
    /// What shmim does.
    pub what: String,
    /// shmim's figure.
    pub shmim: Figure,
    /// What it is compared with.
    pub baseline: String,
    /// The baseline's figure.
    pub base: Figure,
    /// `shmim / base` (lower is better).
    pub ratio: f64,
    /// Issue 11's target for this row; empty when the row is reported without one.
    pub target: String,
    /// Whether this run met the target (`None`: no target, or nothing measured).
    pub met: Option<bool>,
}

impl Row {
    pub fn new(
        section: &'static str,
        what: String,
        shmim: Figure,
        baseline: &str,
        base: Figure,
    ) -> Self {
        Self {
            section,
            what,
            shmim,
            baseline: baseline.to_owned(),
            base,
            ratio: shmim.ns / base.ns.max(1e-3),
            target: String::new(),
            met: None,
        }
    }

    /// Sets the target and whether it was met.
    pub fn target(mut self, text: impl Into<String>, met: bool) -> Self {
        self.target = text.into();
        self.met = (!self.ratio.is_nan()).then_some(met);
        self
    }

    /// Target: `ratio ≤ max`.
    pub fn ratio_at_most(self, max: f64) -> Self {
        let met = self.ratio <= max;
        self.target(format!("≤ {max:.2}×"), met)
    }
}

/// One-way latencies of one wait strategy (for the histograms).
#[derive(Debug, Serialize)]
pub struct LatencySeries {
    pub name: String,
    #[serde(skip)]
    pub one_way_ns: Vec<u64>,
}

/// Frame costs at one size (for the cost-vs-size chart).
#[derive(Debug, Serialize)]
pub struct SizePoint {
    pub side: u32,
    pub bytes: u64,
    pub memcpy_in_ns: f64,
    pub writer_cycle_ns: f64,
    pub memcpy_out_ns: f64,
    pub consistent_read_ns: f64,
    pub read_retries: u64,
    pub reads: u64,
    /// Bytes of the stream mapped with 2 MiB pages (huge-page rows only).
    pub pmd_mapped_bytes: Option<u64>,
}

/// Publish cost and wake latency with `readers` blocked readers.
#[derive(Debug, Serialize)]
pub struct ScalePoint {
    pub readers: u16,
    pub publish: Figure,
    pub wake: Figure,
    /// p50 of the last reader to wake for each frame.
    pub last_wake_p50_ns: f64,
}

/// Everything a run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: String,
    pub round_trips: u64,
    pub pinned_cpus: Option<[usize; 2]>,
    pub hybrid_spin_ns: u64,
    pub pure_spin_ns: u64,
    pub rows: Vec<Row>,
    pub latency: Vec<LatencySeries>,
    pub sizes: Vec<SizePoint>,
    pub scaling: Vec<ScalePoint>,
    /// Lines printed under the table: where a section ran, or why it could not run here.
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(machine: String, effort: &Effort) -> Self {
        Self {
            machine,
            round_trips: effort.round_trips,
            pinned_cpus: pinning().map(|(a, b)| [a, b]),
            hybrid_spin_ns: effort.hybrid_spin.as_nanos() as u64,
            pure_spin_ns: effort.pure_spin.as_nanos() as u64,
            rows: Vec::new(),
            latency: Vec::new(),
            sizes: Vec::new(),
            scaling: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The JSON document of `--json`: every row, and per-strategy latency percentiles and
    /// histogram counts (the raw samples are summarised, not dumped).
    pub fn json(&self) -> String {
        let latency: Vec<_> = self
            .latency
            .iter()
            .map(|s| {
                let mut v = s.one_way_ns.clone();
                v.sort_unstable();
                let q = |x: f64| quantile(&v, x);
                let (edges, counts) = histogram(&v, 60);
                serde_json::json!({
                    "name": s.name, "samples": v.len(),
                    "min_ns": v.first(), "p1_ns": q(0.01), "p10_ns": q(0.10), "p50_ns": q(0.50),
                    "p90_ns": q(0.90), "p99_ns": q(0.99), "p999_ns": q(0.999), "max_ns": v.last(),
                    "histogram": { "edges_ns": edges, "counts": counts },
                })
            })
            .collect();
        let mut doc = serde_json::to_value(self).unwrap_or_default();
        doc["latency"] = serde_json::Value::Array(latency);
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// The table, with a footer saying how to read it.
    pub fn table(&self) -> String {
        let mut t = Table::new(&[
            ">RATIO", "SHMIM", ">TIME", "BASELINE", ">TIME ", "TARGET", "MET",
        ]);
        for r in &self.rows {
            let ratio = if r.ratio.is_nan() {
                "—".into()
            } else {
                format!("{:.2}×", r.ratio)
            };
            let met = match r.met {
                Some(true) => "met",
                Some(false) => "NOT MET",
                None => "",
            };
            t.row(vec![
                ratio,
                r.what.clone(),
                r.shmim.text(),
                r.baseline.clone(),
                r.base.text(),
                r.target.clone(),
                met.into(),
            ]);
        }
        let mut out = t.render();
        let with_target = self.rows.iter().filter(|r| r.met.is_some()).count();
        let met = self.rows.iter().filter(|r| r.met == Some(true)).count();
        let placement = self
            .pinned_cpus
            .map_or("not pinned (one CPU)".to_owned(), |[a, b]| {
                format!("two-process rows: bench on CPU {a}, peer on CPU {b}")
            });
        out.push_str(&format!(
            "ratio = shmim / baseline, both measured in this run (lower is better); latencies are one-way (half a round trip, {} round trips per row); {placement}\n",
            self.round_trips
        ));
        for note in &self.notes {
            out.push_str(note);
            out.push('\n');
        }
        out.push_str(&format!("targets met: {met} of {with_target}\n"));
        out
    }
}

/// `bins` equal bins from the minimum to the p99.9 of `sorted` (the tail beyond goes to the last
/// bin): edges (bins + 1) and counts.
pub fn histogram(sorted: &[u64], bins: usize) -> (Vec<u64>, Vec<u64>) {
    let (Some(&lo), true) = (sorted.first(), bins > 0) else {
        return (Vec::new(), Vec::new());
    };
    let hi = quantile(sorted, 0.999).max(lo + bins as u64);
    let width = (hi - lo).div_ceil(bins as u64);
    let edges = (0..=bins as u64).map(|i| lo + i * width).collect();
    let mut counts = vec![0u64; bins];
    for &v in sorted {
        let i = ((v - lo) / width).min(bins as u64 - 1) as usize;
        counts[i] += 1;
    }
    (edges, counts)
}
