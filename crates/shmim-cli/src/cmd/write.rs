//! `shmim write NAME --rate HZ --pattern ramp|noise|checksum [--count N]`: a synthetic writer.
//! [`publish`] is also the demo's writer process.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use shmim_core::{Stream, WriteGuard};

use crate::checksum;
use crate::cli::{Pattern, WriteArgs};
use crate::clock::mono_ns;
use crate::failure::{Failure, Result};
use crate::pattern::FrameBuf;
use crate::stats::hz_text;

/// What a writer did.
#[derive(Debug, Serialize, Deserialize)]
pub struct WriteReport {
    /// Frames published.
    pub frames: u64,
    /// Seconds from the start to the last publish.
    pub seconds: f64,
    /// Frame number of the last one.
    pub last_frame: u64,
}

/// How a writer paces itself and when it stops.
pub struct Pace {
    /// Frames per second; 0 for as fast as possible.
    pub rate: f64,
    /// Stop after this many frames.
    pub count: Option<u64>,
    /// Stop (with an error) at this instant.
    pub deadline: Option<Instant>,
}

pub fn run(dir: &Path, a: &WriteArgs) -> Result<ExitCode> {
    let mut stream = Stream::open_in(dir, &a.name)?;
    if a.pattern == Pattern::Checksum && stream.geometry().frame_bytes() < checksum::HEADER {
        return Err(Failure::new(format!(
            "{} frames hold {} bytes; checksum frames need at least {}",
            a.name,
            stream.geometry().frame_bytes(),
            checksum::HEADER
        )));
    }
    if !a.json {
        let until = a
            .count
            .map_or("until interrupted".to_owned(), |n| format!("{n} frames"));
        let rate = if a.rate > 0.0 {
            hz_text(a.rate)
        } else {
            "full speed".into()
        };
        eprintln!(
            "writing {} frames to {} at {rate}, {until}",
            a.pattern.name(),
            a.name
        );
    }
    let pace = Pace {
        rate: a.rate,
        count: a.count,
        deadline: None,
    };
    let report = publish(&mut stream, a.pattern, &pace)?;
    if a.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!(
            "wrote {} frames to {} in {:.3} s ({}), last frame {}",
            report.frames,
            a.name,
            report.seconds,
            hz_text(report.frames as f64 / report.seconds.max(1e-9)),
            report.last_frame
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Publishes frames of `pattern` at `pace`. Frames are built in a private buffer; the write flag
/// is held only to copy one in, stamp it (checksum frames) and commit.
pub fn publish(stream: &mut Stream, pattern: Pattern, pace: &Pace) -> Result<WriteReport> {
    let mut buf = FrameBuf::new(stream.datatype(), stream.geometry().frame_bytes());
    let period = (pace.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / pace.rate));
    let mut next = Instant::now();
    let start = Instant::now();
    let (mut frames, mut last_frame) = (0u64, 0u64);
    while pace.count.is_none_or(|n| frames < n) {
        if pace.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Failure::new(format!(
                "writer gave up at its deadline after {frames} frames"
            )));
        }
        // Sleep first, then build and publish: the CPU work of a frame comes before its publish,
        // so the readers it wakes do not compete with the writer for a core.
        if let Some(p) = period {
            next += p;
            let now = Instant::now();
            match next.checked_duration_since(now) {
                Some(wait) => std::thread::sleep(wait),
                // More than one period late: restart the schedule instead of bursting.
                None if now.duration_since(next) > p => next = now,
                None => {}
            }
        }
        // One writer: the frame will be published as the next cnt0.
        let frame = stream.cnt0().wrapping_add(1);
        buf.fill(pattern, frame);
        let mut guard = take_flag(stream, frames == 0)?;
        guard.copy_from_bytes(buf.bytes())?;
        if pattern == Pattern::Checksum {
            checksum::stamp(guard.bytes_mut(), mono_ns());
        }
        last_frame = guard.commit()?;
        frames += 1;
    }
    Ok(WriteReport {
        frames,
        seconds: start.elapsed().as_secs_f64(),
        last_frame,
    })
}

/// The write guard. Only the first frame (`first`) takes over a flag left set by a writer that
/// died mid-frame, on the evidence of its claim (`recover_writer(false)`, which takes a clear flag
/// as `write` does): that is the restart of a crashed writer. Later frames only `write`: a flag
/// someone else set while this writer runs belongs to another writer, and this one stops rather
/// than judge, frame after frame, whether that writer still lives.
fn take_flag(stream: &mut Stream, first: bool) -> Result<WriteGuard<'_>> {
    let name = stream.name().to_owned();
    let taken = if first {
        stream.recover_writer(false)
    } else {
        stream.write()
    };
    taken.map_err(|e| match e {
        shmim_core::Error::WriterBusy { writer } if !first => Failure::new(format!(
            "another writer (claim PID {writer}; 0: none) took the write flag of {name} while \
             this one was writing; a stream has one writer"
        )),
        shmim_core::Error::WriterBusy { writer } if writer > 0 => Failure::new(format!(
            "another writer (PID {writer}) is writing {name}; stop it first"
        )),
        shmim_core::Error::WriterBusy { .. } => Failure::new(format!(
            "the write flag of {name} is set by a writer that claims nothing (a legacy writer?); \
             stop it first"
        )),
        e => e.into(),
    })
}
