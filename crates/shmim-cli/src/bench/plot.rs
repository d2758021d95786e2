//! `shmim bench --plot DIR`: SVG charts of a run, so a person can see the distributions.
//!
//! * `wake-<strategy>.svg`: a histogram of the one-way wake latencies of each wait strategy and
//!   baseline (minimum to p99.9; the rarer tail is counted in the last bar), p50 and p99 marked;
//! * `frame-cost.svg`: writer cycle, consistent read and their memcpy baselines against frame
//!   size (log-log);
//! * `scaling.svg`: publish cost and wake latency against the number of blocked readers.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::Report;
use super::report::histogram;
use crate::failure::{Failure, Result};
use crate::stats::{bytes_text, ns_text, quantile};

const SIZE: (u32, u32) = (900, 500);

/// A line of a chart: its legend, how to get its value from a point, its colour.
type Series<P> = (&'static str, fn(&P) -> f64, RGBColor);
const BINS: usize = 60;

/// Writes every chart the report has data for; returns the files written.
pub fn write_all(dir: &Path, report: &Report) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(format!("bench --plot: {}: {e}", dir.display())))?;
    let mut written = Vec::new();
    let fail = |what: &Path, e: String| {
        Failure::new(format!("bench --plot: cannot draw {}: {e}", what.display()))
    };
    for s in &report.latency {
        let path = dir.join(format!("wake-{}.svg", slug(&s.name)));
        let mut sorted = s.one_way_ns.clone();
        sorted.sort_unstable();
        latency_histogram(&path, &s.name, &sorted).map_err(|e| fail(&path, e))?;
        written.push(path);
    }
    if !report.sizes.is_empty() {
        let path = dir.join("frame-cost.svg");
        frame_cost(&path, report).map_err(|e| fail(&path, e))?;
        written.push(path);
    }
    if !report.scaling.is_empty() {
        let path = dir.join("scaling.svg");
        scaling(&path, report).map_err(|e| fail(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

/// `busy-poll (Reader::poll_spin)` → `busy-poll-reader-poll-spin`.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_owned()
}

fn latency_histogram(path: &Path, name: &str, sorted: &[u64]) -> std::result::Result<(), String> {
    let (edges, counts) = histogram(sorted, BINS);
    let (Some(&lo), Some(&hi)) = (edges.first(), edges.last()) else {
        return Ok(());
    };
    let top = counts.iter().copied().max().unwrap_or(1) as f64 * 1.1;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("wake latency: {name} ({} round trips)", sorted.len()),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(lo as f64..hi as f64, 0f64..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("one-way latency; the last bar holds everything above p99.9")
        .y_desc("round trips")
        .x_label_formatter(&|v| ns_text(*v))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(counts.iter().enumerate().map(|(i, &c)| {
            Rectangle::new(
                [(edges[i] as f64, 0.0), (edges[i + 1] as f64, c as f64)],
                BLUE.mix(0.55).filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    for (q, label, color) in [(0.5, "p50", RED), (0.99, "p99", BLACK)] {
        let x = quantile(sorted, q) as f64;
        chart
            .draw_series(LineSeries::new([(x, 0.0), (x, top)], color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(format!("{label} {x:.0} ns"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

fn frame_cost(path: &Path, report: &Report) -> std::result::Result<(), String> {
    let pts = &report.sizes;
    let bytes = |f: fn(&u64) -> f64| pts.iter().map(|p| f(&p.bytes)).fold(f64::NAN, f64::min);
    let (b_lo, b_hi) = (
        bytes(|b| *b as f64) / 1.5,
        pts.iter().map(|p| p.bytes as f64).fold(0.0, f64::max) * 1.5,
    );
    let times = pts.iter().flat_map(|p| {
        [
            p.memcpy_in_ns,
            p.writer_cycle_ns,
            p.memcpy_out_ns,
            p.consistent_read_ns,
        ]
    });
    let t_lo = times.clone().fold(f64::INFINITY, f64::min) / 1.5;
    let t_hi = times.fold(0.0, f64::max) * 1.5;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "frame cost vs frame size (f32 frames, 64² to 4096²)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((b_lo..b_hi).log_scale(), (t_lo..t_hi).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("frame size")
        .y_desc("time per frame")
        .x_label_formatter(&|v| bytes_text(*v as u64))
        .y_label_formatter(&|v| ns_text(*v))
        .draw()
        .map_err(|e| e.to_string())?;
    let series: [Series<super::report::SizePoint>; 4] = [
        ("memcpy in", |p| p.memcpy_in_ns, BLACK),
        ("writer cycle", |p| p.writer_cycle_ns, RED),
        ("memcpy out", |p| p.memcpy_out_ns, GREEN),
        ("consistent read", |p| p.consistent_read_ns, BLUE),
    ];
    draw_lines(&mut chart, pts, |p| p.bytes as f64, series)?;
    root.present().map_err(|e| e.to_string())
}

fn scaling(path: &Path, report: &Report) -> std::result::Result<(), String> {
    let pts = &report.scaling;
    let values = pts
        .iter()
        .flat_map(|p| [p.publish.ns, p.wake.ns, p.last_wake_p50_ns]);
    let lo = values.clone().fold(f64::INFINITY, f64::min).max(1.0) / 1.5;
    let hi = values.fold(0.0, f64::max) * 1.5;
    let n_hi = pts.iter().map(|p| p.readers).max().unwrap_or(1) as f64 + 0.5;
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "publish cost and wake latency (p50) vs blocked readers (2 CPUs shared)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.5f64..n_hi, (lo..hi).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("blocked reader processes")
        .y_desc("p50")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| ns_text(*v))
        .draw()
        .map_err(|e| e.to_string())?;
    let series: [Series<super::report::ScalePoint>; 3] = [
        ("publish (commit, futex wake-ups)", |p| p.publish.ns, RED),
        ("wake, every reader", |p| p.wake.ns, BLUE),
        (
            "wake, last reader of each frame",
            |p| p.last_wake_p50_ns,
            BLACK,
        ),
    ];
    draw_lines(&mut chart, pts, |p| f64::from(p.readers), series)?;
    root.present().map_err(|e| e.to_string())
}

/// One line per series over `pts` (x from `x`, y on the chart's log scale), with the legend in the
/// upper left: the drawing the frame-cost and scaling charts share.
fn draw_lines<'a, X, P, const N: usize>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, LogCoord<f64>>>,
    pts: &[P],
    x: impl Fn(&P) -> f64,
    series: [Series<P>; N],
) -> std::result::Result<(), String>
where
    X: Ranged<ValueType = f64>,
{
    for (name, f, color) in series {
        chart
            .draw_series(
                LineSeries::new(pts.iter().map(|p| (x(p), f(p))), color.stroke_width(2))
                    .point_size(3),
            )
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| e.to_string())
}
