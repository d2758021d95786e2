//! `log`: a stream to disk as a series of FITS cubes, paced by its writer.
//!
//! Each cube is opened at its first frame, named after the logger's clock then, as milk's
//! logger names its files: `DIR/NAME_YYYYMMDDThh:mm:ss.nnnnnnnnn.fits` (UTC). It holds up to
//! `frames_per_cube` frames, written to disk as they come (memory holds one frame), and a
//! `FRAMES` table with each frame's `cnt0`, `atime` and `writetime`; its `NMISSED` card counts
//! the frames published that it does not hold (the gap before its first frame included), so
//! every frame published after the logger registered is either in a cube or counted in one.
//! A stop request (Ctrl-C) finishes the open cube with the frames it has.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use shmim_core::{Stream, Timespec};

use crate::cards::keyword_cards;
use crate::cube::{CubeReport, CubeSpec, CubeWriter};
use crate::error::Result;
use crate::save::POLL;
use crate::take::Taker;
use crate::time::file_stamp;
use crate::types::fits_type;

/// How to log.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Frames per cube (≥ 1).
    pub frames_per_cube: u64,
    /// Stop after this many cubes (`None`: until stopped).
    pub cubes: Option<u64>,
}

/// Where a logger is, after each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogProgress {
    /// The open cube (0-based).
    pub cube: u64,
    /// Frames in the open cube.
    pub frames: u64,
    /// Frames per cube.
    pub frames_per_cube: u64,
    /// Frames logged in every cube so far.
    pub total_frames: u64,
    /// Frames missed so far.
    pub total_missed: u64,
}

/// What a logger tells its user, and asks.
pub trait LogObserver {
    /// Whether to stop now (asked between frames, and at least every 100 ms while none come).
    fn stop_requested(&mut self) -> bool;
    /// A frame was written.
    fn frame(&mut self, _progress: &LogProgress) {}
    /// A cube was finished and renamed into place.
    fn cube(&mut self, _report: &CubeReport) {}
}

/// What a logger did.
#[derive(Debug, Clone, Default)]
pub struct LogReport {
    /// Every cube written, in order.
    pub cubes: Vec<CubeReport>,
    /// Frames logged.
    pub frames: u64,
    /// Frames missed.
    pub missed: u64,
    /// Whether a stop request ended logging.
    pub interrupted: bool,
}

/// Logs `stream` into `dir` until `opts.cubes` cubes are written or `observer` asks to stop.
pub fn log(
    stream: &Stream,
    dir: &Path,
    opts: &LogOptions,
    observer: &mut dyn LogObserver,
) -> Result<LogReport> {
    fits_type(stream.datatype(), stream.name())?;
    let per_cube = opts.frames_per_cube.max(1);
    let spec = CubeSpec {
        stream: stream.name(),
        datatype: stream.datatype(),
        frame_shape: stream.shape(),
        frames: Some(per_cube),
    };
    let mut taker = Taker::new(stream)?;
    let mut run = Run {
        report: LogReport::default(),
        open: None,
        progress: LogProgress {
            cube: 0,
            frames: 0,
            frames_per_cube: per_cube,
            total_frames: 0,
            total_missed: 0,
        },
    };
    let outcome = run.frames(stream, dir, &spec, opts.cubes, &mut taker, observer);
    // Whatever ended logging, the open cube is finished: its frames are never thrown away.
    let finished = match run.open.take() {
        Some(w) => finish(w, &mut run.report, observer),
        None => Ok(()),
    };
    outcome.and(finished)?;
    Ok(run.report)
}

/// A logger's state between frames.
struct Run {
    report: LogReport,
    open: Option<CubeWriter>,
    progress: LogProgress,
}

impl Run {
    fn frames(
        &mut self,
        stream: &Stream,
        dir: &Path,
        spec: &CubeSpec<'_>,
        cubes: Option<u64>,
        taker: &mut Taker<'_>,
        observer: &mut dyn LogObserver,
    ) -> Result<()> {
        let per_cube = self.progress.frames_per_cube;
        while cubes.is_none_or(|m| self.progress.cube < m) {
            if observer.stop_requested() {
                self.report.interrupted = true;
                break;
            }
            let Some(taken) = taker.next(POLL)? else {
                continue;
            };
            let writer = match &mut self.open {
                Some(w) => w,
                None => {
                    let keywords = keyword_cards(&stream.keywords()?);
                    let path = cube_path(dir, stream.name(), SystemTime::now());
                    self.open
                        .insert(CubeWriter::create(&path, false, spec, &keywords)?)
                }
            };
            writer.add_missed(taken.missed);
            writer.push(taker.bytes(), taken.stamp)?;
            let p = &mut self.progress;
            p.frames = writer.frames();
            p.total_frames += 1;
            p.total_missed += taken.missed;
            observer.frame(p);
            if p.frames == per_cube {
                p.cube += 1;
                p.frames = 0;
                if let Some(w) = self.open.take() {
                    finish(w, &mut self.report, observer)?;
                }
            }
        }
        Ok(())
    }
}

fn finish(
    writer: CubeWriter,
    report: &mut LogReport,
    observer: &mut dyn LogObserver,
) -> Result<()> {
    let cube = writer.finish()?;
    report.frames += cube.frames;
    report.missed += cube.missed;
    observer.cube(&cube);
    report.cubes.push(cube);
    Ok(())
}

/// `DIR/NAME_YYYYMMDDThh:mm:ss.nnnnnnnnn.fits` for a cube opened at `now`.
fn cube_path(dir: &Path, name: &str, now: SystemTime) -> PathBuf {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let (date, time) = file_stamp(Timespec {
        tv_sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(since.subsec_nanos()),
    });
    dir.join(format!("{name}_{date}T{time}.fits"))
}
