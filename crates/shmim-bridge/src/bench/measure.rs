//! The two measurements of the bridge benchmark and their report.

use std::path::Path;
use std::time::{Duration, Instant};

use shmim_core::{Reader, Stream};

use super::{Kind, WINDOW};
use crate::error::{BridgeError, Result};

/// What one pipeline achieved at one size.
#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    /// Latency commit → mirror reader awake, median (µs).
    pub p50_us: f64,
    /// 99th percentile (µs).
    pub p99_us: f64,
    /// Frames per second delivered into the mirror.
    pub fps: f64,
    /// Megabytes (10⁶ bytes) per second delivered.
    pub mbps: f64,
    /// Of the latency, the median time between the sender handing the frame to its transport
    /// (Zenoh's `put`, or the socket's `write`) and the receiver having it (the mirror's
    /// `BR_LAT_NS`, which both receivers write; µs).
    pub link_p50_us: Option<f64>,
}

fn write(src: &mut Stream, k: u64) -> Result<()> {
    let mut g = src.write()?;
    g.bytes_mut()[..8].copy_from_slice(&k.to_le_bytes());
    g.set_cnt1(k);
    g.commit()?;
    Ok(())
}

fn timeout(what: &str) -> BridgeError {
    BridgeError::Usage(format!(
        "benchmark: {what} did not happen within the watchdog"
    ))
}

/// Writes frames until the mirror exists and has received one; returns it.
pub fn wait_for_mirror(src: &mut Stream, dir: &Path, name: &str) -> Result<Stream> {
    let start = Instant::now();
    let mut k = 0;
    while start.elapsed() < Duration::from_secs(60) {
        k += 1;
        write(src, 1_000_000 + k)?;
        std::thread::sleep(Duration::from_millis(20));
        if let Ok(m) = Stream::open_in(dir, name) {
            if m.cnt0() > 0 {
                return Ok(m);
            }
        }
    }
    Err(timeout("the mirror's first frame"))
}

fn now_ns() -> i128 {
    crate::clock::now().as_nanos()
}

/// Waits until the mirror holds source frame `k` (its `cnt1`); returns when the reader woke.
fn until_frame(reader: &mut Reader, mirror: &Stream, k: u64, watchdog: Duration) -> Result<i128> {
    loop {
        reader
            .wait_timeout(watchdog)
            .map_err(|_| timeout(&format!("frame {k} reaching the mirror")))?;
        let woke = now_ns();
        if mirror.metadata()?.cnt1 >= k {
            return Ok(woke);
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One side of the comparison: a source this process writes and the mirror it reads.
pub struct Rig {
    /// The source stream.
    pub src: Stream,
    /// The mirror.
    pub mirror: Stream,
    reader: Reader,
    /// The last frame number written (`cnt1` of the frames).
    k: u64,
    /// Latencies measured so far (µs).
    pub latencies: Vec<f64>,
    /// Zenoh's part of each latency (µs), when the mirror records it.
    pub links: Vec<f64>,
    /// Frames per second of each throughput round.
    pub rates: Vec<f64>,
}

impl Rig {
    /// A rig over a running pipeline.
    pub fn new(src: Stream, mirror: Stream) -> Result<Self> {
        let reader = mirror.reader()?;
        Ok(Self {
            src,
            mirror,
            reader,
            k: 0,
            latencies: Vec::new(),
            links: Vec::new(),
            rates: Vec::new(),
        })
    }

    /// `frames` frames one at a time: commit → mirror reader awake; the first `warm` not kept.
    pub fn latency_round(&mut self, frames: u64, warm: u64, watchdog: Duration) -> Result<()> {
        for i in 0..frames + warm {
            self.reader.flush()?;
            self.k += 1;
            write(&mut self.src, self.k)?;
            let woke = until_frame(&mut self.reader, &self.mirror, self.k, watchdog)?;
            let atime = self.mirror.metadata()?.atime.as_nanos();
            if i >= warm {
                self.latencies.push((woke - atime) as f64 / 1e3);
                if let Ok(Some(k)) = self.mirror.keyword("BR_LAT_NS") {
                    if let shmim_core::Value::Long(ns) = k.value {
                        self.links.push(ns as f64 / 1e3);
                    }
                }
            }
        }
        Ok(())
    }

    /// `frames` frames with up to [`WINDOW`] in flight; records the frames/s delivered.
    pub fn throughput_round(&mut self, frames: u64, watchdog: Duration) -> Result<()> {
        self.reader.flush()?;
        let last = self.k + frames;
        let base = self.mirror.cnt0();
        let start = Instant::now();
        let mut seen = self.k;
        while seen < last {
            while self.k < last && self.k < seen + WINDOW {
                self.k += 1;
                write(&mut self.src, self.k)?;
            }
            self.reader
                .wait_timeout(watchdog)
                .map_err(|_| timeout("throughput frames reaching the mirror"))?;
            seen = seen.max(self.mirror.metadata()?.cnt1);
        }
        let delivered = (self.mirror.cnt0() - base) as f64;
        self.rates.push(delivered / start.elapsed().as_secs_f64());
        Ok(())
    }

    /// The figures of all rounds: latency percentiles over every sample, the median round's
    /// rate.
    pub fn figures(&self) -> Figures {
        let mut lat = self.latencies.clone();
        lat.sort_by(f64::total_cmp);
        let mut rates = self.rates.clone();
        rates.sort_by(f64::total_cmp);
        let fps = percentile(&rates, 0.5);
        let mut links = self.links.clone();
        links.sort_by(f64::total_cmp);
        Figures {
            link_p50_us: (!links.is_empty()).then(|| percentile(&links, 0.5)),
            p50_us: percentile(&lat, 0.5),
            p99_us: percentile(&lat, 0.99),
            fps,
            mbps: fps * self.mirror.geometry().frame_bytes() as f64 / 1e6,
        }
    }
}

fn find(rows: &[(u32, Kind, Figures)], side: u32, kind: Kind) -> Option<Figures> {
    rows.iter()
        .find(|(s, k, _)| *s == side && *k == kind)
        .map(|r| r.2)
}

/// The report table: per size, baseline, bridge, ratio; then the targets.
pub fn table(rows: &[(u32, Kind, Figures)]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<10} {:<8} {:>10} {:>10} {:>10} {:>10} {:>12}\n",
        "frame", "pipeline", "frames/s", "MB/s", "p50 µs", "p99 µs", "link p50 µs"
    ));
    let mut sides: Vec<u32> = rows.iter().map(|r| r.0).collect();
    sides.dedup();
    for side in &sides {
        for kind in [Kind::Tcp, Kind::Bridge] {
            if let Some(f) = find(rows, *side, kind) {
                out.push_str(&format!(
                    "{:<10} {:<8} {:>10.0} {:>10.1} {:>10.1} {:>10.1} {:>12}\n",
                    format!("{side}² f32"),
                    if kind == Kind::Tcp { "tcp" } else { "bridge" },
                    f.fps,
                    f.mbps,
                    f.p50_us,
                    f.p99_us,
                    f.link_p50_us
                        .map_or_else(|| "-".into(), |l| format!("{l:.1}"))
                ));
            }
        }
        if let (Some(t), Some(b)) = (
            find(rows, *side, Kind::Tcp),
            find(rows, *side, Kind::Bridge),
        ) {
            out.push_str(&format!(
                "{:<10} {:<8} {:>9.2}× {:>9.2}× {:>9.2}× {:>9.2}×\n",
                "",
                "ratio",
                b.fps / t.fps,
                b.mbps / t.mbps,
                b.p50_us / t.p50_us,
                b.p99_us / t.p99_us
            ));
        }
    }
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    if let (Some(t), Some(b)) = (find(rows, 512, Kind::Tcp), find(rows, 512, Kind::Bridge)) {
        let r = b.mbps / t.mbps;
        out.push_str(&format!(
            "target: throughput at 512² ≥ 0.50× baseline: {r:.2}× {}\n",
            verdict(r >= 0.5)
        ));
    }
    if let (Some(t), Some(b)) = (find(rows, 64, Kind::Tcp), find(rows, 64, Kind::Bridge)) {
        let r = b.p50_us / t.p50_us;
        out.push_str(&format!(
            "target: latency p50 at 64² ≤ 2× baseline: {r:.2}× {}\n",
            verdict(r <= 2.0)
        ));
    }
    out
}

/// The figures as JSON.
pub fn json(rows: &[(u32, Kind, Figures)]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|(s, k, f)| {
            format!(
                "{{\"side\":{s},\"pipeline\":\"{}\",\"fps\":{:.1},\"mbps\":{:.2},\"p50_us\":{:.2},\"p99_us\":{:.2},\"link_p50_us\":{}}}",
                if *k == Kind::Tcp { "tcp" } else { "bridge" },
                f.fps,
                f.mbps,
                f.p50_us,
                f.p99_us,
                f.link_p50_us.map_or_else(|| "null".into(), |l| format!("{l:.2}"))
            )
        })
        .collect();
    format!("[{}]", items.join(",\n "))
}
