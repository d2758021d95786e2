//! The demo's child processes (`shmim __demo-writer`, `shmim __demo-reader`): the same loops as
//! `shmim write --pattern checksum` and `shmim read`, bounded by a deadline, reporting as one
//! JSON line on stdout.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use shmim_core::Stream;

use crate::cli::{ChildReaderArgs, ChildWriterArgs, Pattern};
use crate::cmd::read::{Until, consume};
use crate::cmd::write::{Pace, publish};
use crate::failure::Result;

/// How long a reader waits for one frame before checking whether the writer is done.
const FRAME_WAIT: Duration = Duration::from_secs(2);

pub fn writer(dir: &Path, a: &ChildWriterArgs) -> Result<ExitCode> {
    let mut stream = Stream::open_in(dir, &a.name)?;
    let pace = Pace {
        rate: a.rate,
        count: Some(a.frames),
        deadline: Some(Instant::now() + Duration::from_millis(a.deadline_ms)),
    };
    let report = publish(&mut stream, Pattern::Checksum, &pace)?;
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

pub fn reader(dir: &Path, a: &ChildReaderArgs) -> Result<ExitCode> {
    let stream = Stream::open_in(dir, &a.name)?;
    let mut reader = stream.reader()?;
    let deadline = Instant::now() + Duration::from_millis(a.deadline_ms);
    let report = consume(
        &stream,
        &mut reader,
        &Until::FrameNumber(a.until_frame),
        FRAME_WAIT,
        Some(deadline),
    )?;
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}
