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
use std::sync::mpsc::{self, Receiver, Sender};

use crate::cards::KeywordCards;
use crate::cube::{Completed, CubeReport, CubeSpec, CubeWriter};
use crate::error::Result;
use crate::frame::{FrameBuf, Stamp};

/// Frames that may wait for the disk thread (each one frame of memory).
pub(crate) const DEPTH: usize = 4;

/// What the taking side asks of the disk thread, in order.
pub(crate) enum Job {
    /// Start a cube at `path`, with these keyword cards.
    Open {
        path: PathBuf,
        keywords: KeywordCards,
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

/// The disk thread's body: runs `jobs` until the taking side hangs up, returning every buffer on
/// `free` and every finished cube on `done`. A cube still open then is finished too: its frames
/// are never thrown away.
///
/// A finished cube is flushed to disk (`fsync`) and renamed into place by a thread of its own,
/// in order, while this one fills the next cube: on a disk, the flush of a large cube takes
/// longer than the frames of the queue, which would be missed meanwhile.
pub(crate) fn run(
    spec: &CubeSpec<'_>,
    jobs: Receiver<Job>,
    free: Sender<FrameBuf>,
    done: Sender<CubeReport>,
) -> Result<()> {
    std::thread::scope(|scope| {
        let (to_commit, completed) = mpsc::channel::<Completed>();
        let committer = scope.spawn(move || -> Result<()> {
            for c in completed {
                // The taking side may have gone already; the report is then in the file only.
                let _ = done.send(c.commit()?);
            }
            Ok(())
        });
        let written = write(spec, jobs, free, &to_commit);
        drop(to_commit);
        let committed = committer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A commit that failed stopped the committer; the writing side then stops at its next
        // cube: the commit's error is the story.
        committed.and(written)
    })
}

/// Runs `jobs`, handing each finished cube to `commit`.
fn write(
    spec: &CubeSpec<'_>,
    jobs: Receiver<Job>,
    free: Sender<FrameBuf>,
    commit: &Sender<Completed>,
) -> Result<()> {
    let mut open: Option<CubeWriter> = None;
    let finish = |w: CubeWriter| -> Result<()> {
        // A send fails only when the committer stopped on an error: its error is the story.
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
