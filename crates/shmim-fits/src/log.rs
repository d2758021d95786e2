//! `log`: a stream to disk as a series of FITS cubes, paced by its writer.
//!
//! Each cube is opened at its first frame, named after the logger's clock then, as milk's
//! logger names its files: `DIR/NAME_YYYYMMDDThh:mm:ss.nnnnnnnnn.fits` (UTC). It holds up to
//! `frames_per_cube` frames, written to disk as they come by a thread of its own ([`crate::disk`]:
//! memory holds a few frames, whatever the cube size), and a `FRAMES` table with each frame's
//! `cnt0`, `atime` and `writetime`; its `NMISSED` card counts the frames published that it does
//! not hold (the gap before its first frame included), so every frame published after the logger
//! registered, until it stops, is either in a cube or counted in one. A stop request (Ctrl-C), or
//! an error, finishes the open cube with the frames it has; an error once logging runs is reported
//! in [`LogReport::stopped`] with the cubes written, not instead of them. A cube that cannot be
//! flushed to disk or renamed is kept where it was written, and logging stops.
//!
//! The calling thread takes the frames and talks to the observer; the disk thread writes, and
//! hands each finished cube to a third that flushes it to disk and renames it ([`crate::disk`]).
//! All run inside this call (scoped threads): nothing is left running when it returns.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, SystemTime};

use std::sync::Arc;

use shmim_core::{Keyword, Stream, Timespec};

use crate::cards::{KeywordCards, keyword_cards};
use crate::cpu::{self, LoggerThread, OnCpu};
use crate::cube::{Committed, CubeReport, CubeSpec};
use crate::disk::{self, Job};
use crate::encode::to_stored;
use crate::error::{Error, Result};
use crate::frame::FrameBuf;
use crate::save::{POLL, Stop};
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
    /// Run the taking thread (the caller's, which gets its CPUs back when `log` returns) on
    /// this CPU only (`None`: wherever the scheduler puts it). See [`crate::LoggerThread`].
    pub taker_cpu: Option<usize>,
    /// Run the disk thread on this CPU only. With few CPUs, give it one of its own (not the
    /// taking thread's, nor the writer's): it needs about as much CPU per frame as the
    /// directory's sequential write, and shared for long it falls behind (PERFORMANCE.md).
    pub disk_cpu: Option<usize>,
}

impl LogOptions {
    /// What [`log`] would refuse in these options before it starts: CPUs the calling thread
    /// may not run on (so a command can say so before it announces anything).
    pub fn check(&self) -> Result<()> {
        cpu::check(self.taker_cpu, self.disk_cpu)
    }
}

impl Default for LogOptions {
    /// Cubes of 1000 frames until stopped, threads where the scheduler puts them.
    fn default() -> Self {
        Self {
            frames_per_cube: 1000,
            cubes: None,
            taker_cpu: None,
            disk_cpu: None,
        }
    }
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
    /// A frame was taken and handed to the disk thread.
    fn frame(&mut self, _progress: &LogProgress) {}
    /// A cube was finished and renamed into place.
    fn cube(&mut self, _report: &CubeReport) {}
}

/// What a logger did.
#[derive(Debug, Default)]
pub struct LogReport {
    /// Every cube written, in order.
    pub cubes: Vec<CubeReport>,
    /// Frames logged.
    pub frames: u64,
    /// Frames missed.
    pub missed: u64,
    /// Frames taken (or counted missed) that no cube holds or counts: those still queued for
    /// the disk thread when an error (a failed write) stopped it. 0 unless `stopped` is an
    /// error.
    pub unlogged: u64,
    /// What ended logging before the cubes asked for were written (a stop request, or an
    /// error: the open cube was finished first); `None` when they were.
    pub stopped: Option<Stop>,
}

/// Logs `stream` into `dir` until `opts.cubes` cubes are written or `observer` asks to stop.
///
/// An error before logging starts (a type FITS cannot hold, no reader slot) is returned as
/// such; one that ends logging (the stream removed, a full disk, a cube that could not be
/// flushed to disk) is in the report's `stopped`, with the cubes written until then. A cube whose
/// flush or rename failed is kept where it was written, and its report's path says where.
pub fn log(
    stream: &Stream,
    dir: &Path,
    opts: &LogOptions,
    observer: &mut dyn LogObserver,
) -> Result<LogReport> {
    fits_type(stream.datatype(), stream.name())?;
    opts.check()?;
    let per_cube = opts.frames_per_cube.max(1);
    let spec = CubeSpec {
        stream: stream.name(),
        datatype: stream.datatype(),
        frame_shape: stream.shape(),
        frames: Some(per_cube),
    };
    let frame_bytes = stream.geometry().frame_bytes();
    let where_ = stream.path().unwrap_or(dir);
    let (free_tx, free_rx) = mpsc::channel();
    for _ in 0..disk::DEPTH + 2 {
        let _ = free_tx.send(FrameBuf::new(frame_bytes, where_)?);
    }
    // Registered once the frame buffers are made (and their pages touched): the frames counted
    // from here on do not wait for the logger's own setup.
    let mut taker = Taker::new(stream)?;
    let (job_tx, job_rx) = mpsc::sync_channel(disk::DEPTH);
    let (done_tx, done_rx) = mpsc::channel();
    let mut run = Run {
        report: LogReport::default(),
        progress: LogProgress {
            cube: 0,
            frames: 0,
            frames_per_cube: per_cube,
            total_frames: 0,
            total_missed: 0,
        },
        free: free_rx,
        done: done_rx,
        failed: None,
        cards: CardCache::default(),
    };
    std::thread::scope(|scope| {
        let spec = &spec;
        let disk_cpu = opts.disk_cpu;
        let writer = disk::named(disk::DISK_THREAD)
            .spawn_scoped(scope, move || {
                disk::run(spec, disk_cpu, job_rx, free_tx, done_tx)
            })
            .map_err(|e| disk::thread_error(disk::DISK_THREAD, e))?;
        // Placed once the disk thread is spawned, which would inherit the place otherwise (and
        // the thread that commits cubes, after it); back where it was when logging ends.
        let outcome = opts
            .taker_cpu
            .map(|cpu| OnCpu::pin(cpu, LoggerThread::Taking))
            .transpose()
            .and_then(|_on_cpu| run.frames(&job_tx, stream, dir, opts.cubes, &mut taker, observer));
        // Whatever ended logging, the open cube is finished: its frames are never thrown away.
        if run.progress.frames > 0 {
            let _ = job_tx.send(Job::Close);
        }
        drop(job_tx);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        run.tally_done(observer);
        let Run {
            mut report,
            progress,
            failed,
            ..
        } = run;
        let handed = progress.total_frames + progress.total_missed;
        report.unlogged = handed.saturating_sub(report.frames + report.missed);
        // The first failed commit, then the disk thread's error: the taking side stops when
        // either does, its own error then being a consequence.
        let failed = failed.map_or(written, Err);
        if let Err(e) = failed.and(outcome) {
            report.stopped = Some(Stop::Failed(e));
        }
        Ok(report)
    })
}

/// The taking side's state between frames.
struct Run {
    report: LogReport,
    progress: LogProgress,
    free: Receiver<FrameBuf>,
    done: Receiver<Committed>,
    /// The first commit that failed (its cube kept where it was written).
    failed: Option<Error>,
    cards: CardCache,
}

/// The header cards of a stream's keywords, built again only when the keywords change: a
/// stream has up to 65535 of them, and each cube opens in the taking thread, between frames.
#[derive(Default)]
struct CardCache {
    keywords: Vec<Keyword>,
    cards: Arc<KeywordCards>,
}

impl CardCache {
    /// The cards of the keywords `stream` has now.
    fn of(&mut self, stream: &Stream) -> Result<Arc<KeywordCards>> {
        let keywords = stream.keywords()?;
        // Every write of an entry bumps its `cnt`: equal lists are the same keywords.
        if keywords != self.keywords {
            self.cards = Arc::new(keyword_cards(&keywords));
            self.keywords = keywords;
        }
        Ok(Arc::clone(&self.cards))
    }
}

impl Run {
    /// Counts the cubes committed since last asked and tells the observer; keeps the first
    /// failure.
    fn tally_done(&mut self, observer: &mut dyn LogObserver) {
        for Committed { report, failed } in self.done.try_iter() {
            let r = &mut self.report;
            r.frames += report.frames;
            r.missed += report.missed;
            observer.cube(&report);
            r.cubes.push(report);
            if self.failed.is_none() {
                self.failed = failed;
            }
        }
    }

    fn frames(
        &mut self,
        jobs: &SyncSender<Job>,
        stream: &Stream,
        dir: &Path,
        cubes: Option<u64>,
        taker: &mut Taker<'_>,
        observer: &mut dyn LogObserver,
    ) -> Result<()> {
        let per_cube = self.progress.frames_per_cube;
        let mut spare: Option<FrameBuf> = None;
        // A send or receive fails only when the disk thread has stopped: its error is the story.
        let disk_gone = || Ok(());
        while cubes.is_none_or(|m| self.progress.cube < m) {
            self.tally_done(observer);
            if self.failed.is_some() {
                // A cube could not be committed: stop here (the open cube is finished).
                return Ok(());
            }
            if observer.stop_requested() {
                self.report.stopped = Some(Stop::Interrupted);
                break;
            }
            let mut buf = match spare.take() {
                Some(b) => b,
                None => match self.free.recv() {
                    Ok(b) => b,
                    Err(_) => return disk_gone(),
                },
            };
            let Some(taken) = taker.next(POLL, &mut buf)? else {
                spare = Some(buf);
                continue;
            };
            if self.progress.frames == 0 {
                let keywords = self.cards.of(stream)?;
                let path = cube_path(dir, stream.name(), SystemTime::now());
                if jobs.send(Job::Open { path, keywords }).is_err() {
                    return disk_gone();
                }
            }
            to_stored(stream.datatype(), buf.bytes_mut());
            let job = Job::Frame {
                buf,
                stamp: taken.stamp,
                missed: taken.missed,
            };
            if jobs.send(job).is_err() {
                return disk_gone();
            }
            let p = &mut self.progress;
            p.frames += 1;
            p.total_frames += 1;
            p.total_missed += taken.missed;
            observer.frame(p);
            if p.frames == per_cube {
                p.cube += 1;
                p.frames = 0;
                if jobs.send(Job::Close).is_err() {
                    return disk_gone();
                }
            }
        }
        Ok(())
    }
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
