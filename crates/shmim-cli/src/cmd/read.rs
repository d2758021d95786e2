//! `shmim read NAME --count N`: a registered reader that validates checksum frames and reports
//! torn and missed frames. [`consume`] is also the demo's reader process.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use shmim_core::{Error, Reader, Stream};

use crate::checksum::{self, Verdict};
use crate::cli::ReadArgs;
use crate::clock::mono_ns;
use crate::failure::{Failure, Result};
use crate::stats::{ns_text, percentiles};

/// What a reader saw.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ReadReport {
    /// Distinct frames copied out consistently.
    pub frames: u64,
    /// Wake-ups that found a frame already read (semaphore posts left from frames missed).
    pub repeats: u64,
    /// Of those, checksum frames whose checksum and frame number matched.
    pub verified: u64,
    /// Frames accepted by the consistent read that failed validation: must stay 0.
    pub torn_accepted: u64,
    /// Copies the consistent read threw away because a writer touched the frame meanwhile.
    pub torn_discarded: u64,
    /// Reads that returned an error (writer stuck, dead, or the frame kept changing).
    pub failed_reads: u64,
    /// Frames published after the reader registered, up to the last one it read, that it did
    /// not copy (it was busy when they came, and the next copy got a newer frame).
    pub missed: u64,
    /// The last frame number read.
    pub last_frame: u64,
    /// Seconds spent.
    pub seconds: f64,
    /// Whether the reader stopped because nothing came in time.
    pub timed_out: bool,
    /// Publish → reader awake, ns: one sample per frame read right after the wake it caused.
    pub wake_ns: Vec<u64>,
}

/// When a reader stops.
pub enum Until {
    /// After this many frames.
    Frames(u64),
    /// Once it has read this frame number (or a later one).
    FrameNumber(u64),
}

pub fn run(dir: &Path, a: &ReadArgs) -> Result<ExitCode> {
    let stream = Stream::open_in(dir, &a.name)?;
    let mut reader = stream.reader()?;
    let wait = Duration::try_from_secs_f64(a.timeout)
        .map_err(|_| Failure::new(format!("bad --timeout {}: seconds ≥ 0", a.timeout)))?;
    let mut report = consume(&stream, &mut reader, &Until::Frames(a.count), wait, None)?;
    if a.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!("{}", summary(&a.name, &mut report));
    }
    if report.torn_accepted > 0 {
        return Err(Failure::new(format!(
            "{} torn frames accepted from {}",
            report.torn_accepted, a.name
        )));
    }
    if report.timed_out {
        return Err(Failure::new(format!(
            "no frame from {} within {} s after {} of {} frames (is a writer running? `shmim write {}`)",
            a.name, a.timeout, report.frames, a.count, a.name
        )));
    }
    Ok(ExitCode::SUCCESS)
}

/// One human line about a reader's report.
pub fn summary(name: &str, r: &mut ReadReport) -> String {
    let [p50, p99, _] = percentiles(&mut r.wake_ns);
    let wake = if r.wake_ns.is_empty() {
        String::new()
    } else {
        format!(
            ", wake latency p50 {} p99 {}",
            ns_text(p50 as f64),
            ns_text(p99 as f64)
        )
    };
    format!(
        "read {} frames of {name} ({} checksum frames verified), {} torn accepted, {} torn copies discarded, {} missed, {} failed reads{wake}",
        r.frames, r.verified, r.torn_accepted, r.torn_discarded, r.missed, r.failed_reads
    )
}

/// Waits for frames on `reader`'s semaphore and copies each one out, validating checksum frames,
/// until `until`; gives up when no frame comes within `wait`, or at `deadline`.
pub fn consume(
    stream: &Stream,
    reader: &mut Reader,
    until: &Until,
    wait: Duration,
    deadline: Option<Instant>,
) -> Result<ReadReport> {
    let mut buf = vec![0u64; stream.geometry().frame_bytes().div_ceil(8)];
    let len = stream.geometry().frame_bytes();
    let mut r = ReadReport::default();
    let start = Instant::now();
    // The frame current when the reader registered: later ones are the ones it should see.
    let registered_at = reader.last_frame();
    loop {
        let done = match until {
            Until::Frames(n) => r.frames >= *n,
            Until::FrameNumber(f) => r.frames > 0 && r.last_frame >= *f,
        };
        if done {
            break;
        }
        let left = deadline.map_or(wait, |d| {
            d.saturating_duration_since(Instant::now()).min(wait)
        });
        let woke = match reader.wait_timeout(left) {
            Ok(f) => Some(f),
            Err(Error::Timeout(_)) => {
                // The last frame may have come while we were busy: nothing more is posted then.
                let last_is_there = matches!(until, Until::FrameNumber(f) if stream.cnt0() >= *f);
                if !last_is_there {
                    r.timed_out = true;
                    break;
                }
                None
            }
            Err(e) => return Err(e.into()),
        };
        let t_wake = mono_ns();
        let bytes = &mut bytemuck::cast_slice_mut(&mut buf)[..len];
        match reader.read_bytes_into(bytes) {
            Ok(frame) if r.frames > 0 && frame == r.last_frame => r.repeats += 1,
            Ok(frame) => {
                r.frames += 1;
                r.last_frame = frame;
                match checksum::verify(bytes) {
                    Verdict::Plain => {}
                    Verdict::Whole { frame: f, stamp } if f == frame => {
                        r.verified += 1;
                        if woke == Some(frame) && stamp > 0 && t_wake >= stamp {
                            r.wake_ns.push(t_wake - stamp);
                        }
                    }
                    // A whole frame under the wrong number, or a bad checksum: torn.
                    Verdict::Whole { .. } | Verdict::Torn { .. } => r.torn_accepted += 1,
                }
            }
            Err(Error::Torn { .. } | Error::WriterStuck { .. } | Error::WriterDied { .. }) => {
                r.failed_reads += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    r.torn_discarded = reader.retries();
    if r.frames > 0 {
        r.missed = (r.last_frame.saturating_sub(registered_at)).saturating_sub(r.frames);
    }
    r.seconds = start.elapsed().as_secs_f64();
    Ok(r)
}
