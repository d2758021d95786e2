//! The disk side of a logger: a thread that writes the frames the taking side hands it.
//!
//! Taking a frame (wait for the writer, copy the frame out) and writing it (convert, write to the
//! file) are two stages. In one thread their costs add up for every frame; in two, the slower
//! one alone sets the pace, and the frames queued between them absorb a write that stalls (a
//! disk flush, the logger being descheduled) instead of missing frames. Frame buffers go round:
//! the taking side fills a free one, converts it to FITS's stored form while the frame is still
//! in its core's cache, and sends it here; this thread writes it and sends it back, so memory
//! stays at [`DEPTH`] + 2 frames whatever the cube size. (Converting here instead would pull
//! the frame from the other core's cache once for the conversion and again for the write.)

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};

use crate::cards::KeywordCards;
use crate::cpu::{LoggerThread, OnCpu};
use crate::cube::{Committed, Completed, CubeSpec, CubeWriter};
use crate::error::{Error, Result};
use crate::frame::{FrameBuf, Stamp};

/// Frames that may wait for the disk thread (each one frame of memory).
pub(crate) const DEPTH: usize = 4;

/// What the taking side asks of the disk thread, in order.
pub(crate) enum Job {
    /// Start a cube at `path`, with these keyword cards.
    Open {
        path: PathBuf,
        keywords: Arc<KeywordCards>,
    },
    /// Write a frame, already in FITS's stored form, to the open cube; `missed` frames were
    /// published before it and not taken.
    Frame {
        buf: FrameBuf,
        stamp: Stamp,
        missed: u64,
    },
    /// Finish the open cube.
    Close,
}

/// The disk thread's body (on `cpu` only, when given): runs `jobs` until the taking side hangs
/// up, returning every buffer on `free` and every finished cube on `done`. A cube still open
/// then is finished too: its frames are never thrown away.
///
/// A finished cube is flushed to disk (`fsync`) and renamed into place by a thread of its own,
/// in order, while this one fills the next cube: on a disk, the flush of a large cube takes
/// longer than the frames of the queue, which would be missed meanwhile.
///
/// **The hand-over holds no cube** (a rendezvous channel): a finished cube waits, in this
/// thread, until the committer has committed the one before, and the next cube opens only once
/// it is handed over. So at most two cubes are not yet in place at any time: the one being
/// flushed, and the one this thread holds (open, or finished and waiting for that flush). At
/// most two private directories exist, and a kill leaves no more behind. A disk slower than
/// the frames holds this thread back, the frame queue fills, and the taking side stops taking:
/// the frames published meanwhile are taken from a circular buffer later, or counted missed
/// (`NMISSED`), never queued without bound. (An unbounded queue let thousands of finished cubes pile up, all lost to a kill.)
///
/// **A commit that fails keeps its cube** (in its private directory; the report's path says
/// where) and the committer goes on with the next ones: every cube handed over is committed or
/// kept. The failure travels with the cube's report on `done`; the taking side stops there, and
/// the cube it has open then is finished and committed (or kept) like the others.
pub(crate) fn run(
    spec: &CubeSpec<'_>,
    cpu: Option<usize>,
    jobs: Receiver<Job>,
    free: Sender<FrameBuf>,
    done: Sender<Committed>,
) -> Result<()> {
    std::thread::scope(|scope| {
        let (to_commit, completed) = mpsc::sync_channel::<Completed>(0);
        let committer = named(COMMIT_THREAD).spawn_scoped(scope, move || {
            for c in completed {
                // The taking side may have gone already; the report is then in the file only.
                let _ = done.send(c.commit());
            }
        });
        let committer = match committer {
            Ok(c) => c,
            Err(e) => return Err(thread_error(COMMIT_THREAD, e)),
        };
        let written = cpu
            .map(|c| OnCpu::pin(c, LoggerThread::Disk))
            .transpose()
            .and_then(|_on_cpu| write(spec, jobs, free, &to_commit));
        drop(to_commit);
        committer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        written
    })
}

/// The name of the disk thread (`top -H`, `/proc/PID/task/*/comm`).
pub(crate) const DISK_THREAD: &str = "fits-disk";
/// The name of the thread that flushes and renames finished cubes.
pub(crate) const COMMIT_THREAD: &str = "fits-commit";

/// A builder for a logger thread named `name`.
pub(crate) fn named(name: &str) -> std::thread::Builder {
    std::thread::Builder::new().name(name.to_owned())
}

/// A logger thread that could not be started (the process is out of threads or memory).
pub(crate) fn thread_error(name: &str, e: std::io::Error) -> Error {
    Error::io("start the logger thread", std::path::Path::new(name), e)
}

/// Runs `jobs`, handing each finished cube to `commit`.
fn write(
    spec: &CubeSpec<'_>,
    jobs: Receiver<Job>,
    free: Sender<FrameBuf>,
    commit: &SyncSender<Completed>,
) -> Result<()> {
    let mut open: Option<CubeWriter> = None;
    let finish = |w: CubeWriter| -> Result<()> {
        // The committer takes every cube until `commit` is dropped: a send fails only if it
        // panicked, and that panic is raised again when it is joined.
        let _ = commit.send(w.complete()?);
        Ok(())
    };
    for job in jobs {
        match job {
            Job::Open { path, keywords } => {
                if let Some(w) = open.take() {
                    finish(w)?;
                }
                open = Some(CubeWriter::create(&path, false, spec, &keywords)?);
            }
            Job::Frame { buf, stamp, missed } => {
                let pushed = match open.as_mut() {
                    Some(w) => {
                        w.add_missed(missed);
                        w.push_stored(buf.bytes(), stamp)
                    }
                    None => Ok(()),
                };
                let _ = free.send(buf);
                if let Err(e) = pushed {
                    // The cube keeps the frames written before (finishing cuts off the part of
                    // a frame a full disk left); the write's error is the story.
                    if let Some(w) = open.take() {
                        let _ = finish(w);
                    }
                    return Err(e);
                }
            }
            Job::Close => {
                if let Some(w) = open.take() {
                    finish(w)?;
                }
            }
        }
    }
    match open.take() {
        Some(w) => finish(w),
        None => Ok(()),
    }
}
