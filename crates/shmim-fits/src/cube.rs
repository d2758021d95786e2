//! Writing frames to a FITS file one at a time: a single frame, or a cube of frames with a
//! per-frame table.
//!
//! cfitsio writes the header, with every card in place (those known only at the end hold
//! placeholders of the same length), and closes the file; the pixels go to disk frame by frame
//! with one `pwrite` each, at their place after the header; finishing cuts the file after the
//! last whole frame, opens it in cfitsio again, fills in the cards and appends the table
//! (`cube/header.rs`). Memory holds one frame and 40 bytes per frame for the table (the frames that
//! came, not the frames planned).
//!
//! A cube's last axis says 0 frames until it is finished, so the frames planned are never in the
//! file: cfitsio never computes with that size (sizes near 2^63 overflowed inside it) and never
//! pads a data unit of that size with zeros, which it does when it closes a file whose data unit
//! is not all written (an abandoned cube of a million planned frames would have it write them
//! all). Whatever ends a cube early (Ctrl-C, no frame, a failed write), it is finished with the
//! frames written, valid and holding nothing else. A write that failed (a full disk) leaves part
//! of a frame, which finishing cuts off; if the table then finds no room either, the cube is
//! finished once more without its last frames (counted missed), enough to make room for it.
//!
//! A cube's last axis counts frames: a 2-axis stream (`NAXIS1 × NAXIS2`) gives a 3-axis cube,
//! frame `k` (0-based) at `NAXIS3` index `k + 1`. The `FRAMES` binary table has one row per frame:
//! `cnt0` (unsigned 64-bit), `atime` and `writetime` (nanoseconds since the epoch, TAI).

mod header;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use shmim_core::Datatype;

pub use header::TABLE_NAME;

use crate::cards::KeywordCards;
use crate::cfitsio::FitsFile;
use crate::encode::to_stored;
use crate::error::{Error, Result};
use crate::frame::Stamp;
use crate::output::Output;
use crate::types::fits_type;

/// The largest file a cube may grow to: cfitsio computes offsets in signed 64-bit integers,
/// with room to spare for the table and padding (no file system holds this much anyway).
pub const MAX_FILE_BYTES: u64 = 1 << 62;

/// FITS files are made of 2880-byte blocks.
const BLOCK: u64 = 2880;

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct CubeReport {
    /// The file, or `None` when no frame came and nothing was written.
    pub path: Option<PathBuf>,
    /// Frames written.
    pub frames: u64,
    /// Frames published while this cube was open (or before its first frame) that it does not
    /// hold.
    pub missed: u64,
    /// The first frame's stamp.
    pub first: Option<Stamp>,
    /// The last frame's stamp.
    pub last: Option<Stamp>,
}

/// What to write: the stream's name, pixel type and frame shape, and how many frames.
#[derive(Debug, Clone)]
pub struct CubeSpec<'a> {
    /// The stream's name (the `SHMNAME` card).
    pub stream: &'a str,
    /// Pixel type.
    pub datatype: Datatype,
    /// Axis lengths of one frame (`size[]`, = `NAXIS1…`).
    pub frame_shape: &'a [u32],
    /// `None`: one frame, with the frame's own axes. `Some(n)`: a cube of up to `n` frames, with
    /// one more axis and the frame table.
    pub frames: Option<u64>,
}

/// A FITS file being filled frame by frame (removed if dropped unfinished).
pub struct CubeWriter {
    /// The temporary file, for the pixels.
    data: File,
    output: Output,
    datatype: Datatype,
    /// A cube's frame-count axis (`NAXISn`), `None` for a single frame.
    last_axis: Option<usize>,
    frame_bytes: u64,
    /// Where the pixels start (the end of the header).
    data_start: u64,
    capacity: u64,
    stamps: Vec<Stamp>,
    missed: u64,
}

impl CubeWriter {
    /// Starts writing `spec` to `dest` (under a temporary name), with the cards of `keywords`.
    pub fn create(
        dest: &Path,
        overwrite: bool,
        spec: &CubeSpec<'_>,
        keywords: &KeywordCards,
    ) -> Result<Self> {
        let fits = fits_type(spec.datatype, spec.stream)?;
        let output = Output::new(dest, overwrite)?;
        let mut file = FitsFile::create(output.tmp())?;
        let mut axes: Vec<u64> = spec.frame_shape.iter().map(|&n| u64::from(n)).collect();
        let frame_bytes = axes.iter().product::<u64>() * spec.datatype.size() as u64;
        // A cube's frames are counted in when it is finished (module docs).
        axes.extend(spec.frames.map(|_| 0));
        file.create_image(fits.image, &axes)?;
        header::write_cards(&mut file, spec.stream, spec.frames.is_some(), keywords)?;
        let data_start = file.data_start()?;
        file.close()?;
        let data = std::fs::OpenOptions::new()
            .write(true)
            .open(output.tmp())
            .map_err(|e| Error::io("open", output.tmp(), e))?;
        Ok(Self {
            data,
            output,
            datatype: spec.datatype,
            last_axis: spec.frames.map(|_| axes.len()),
            frame_bytes,
            data_start,
            capacity: spec.frames.unwrap_or(1),
            stamps: Vec::new(),
            missed: 0,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.stamps.len() as u64
    }

    /// Frames planned (1 for a single frame).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Frames missed so far.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        self.output.dest()
    }

    /// Counts `n` frames published that this file will not hold.
    pub fn add_missed(&mut self, n: u64) {
        self.missed = self.missed.saturating_add(n);
    }

    /// Writes the next frame and records its stamp. `bytes` (one frame, native order, aligned
    /// for the pixel type) is converted to FITS's stored form in place: the caller's copy is
    /// spent.
    pub fn push(&mut self, bytes: &mut [u8], stamp: Stamp) -> Result<()> {
        to_stored(self.datatype, bytes);
        self.push_stored(bytes, stamp)
    }

    /// Writes the next frame, already in FITS's stored form ([`to_stored`]), and records its
    /// stamp.
    pub(crate) fn push_stored(&mut self, bytes: &[u8], stamp: Stamp) -> Result<()> {
        if bytes.len() as u64 != self.frame_bytes || self.frames() >= self.capacity {
            return Err(Error::Fits {
                op: "write pixels",
                path: self.output.dest().to_path_buf(),
                status: 0,
                message: format!(
                    "frame {} of {} bytes does not fit a file of {} frames of {} bytes",
                    self.frames() + 1,
                    bytes.len(),
                    self.capacity,
                    self.frame_bytes
                ),
            });
        }
        let at = self.frames() * self.frame_bytes + self.data_start;
        if at.saturating_add(self.frame_bytes) > MAX_FILE_BYTES {
            return Err(Error::FileTooLarge {
                path: self.output.dest().to_path_buf(),
                frames: self.frames(),
                limit: MAX_FILE_BYTES,
            });
        }
        self.data
            .write_all_at(bytes, at)
            .map_err(|e| Error::io("write a frame to", self.output.dest(), e))?;
        self.stamps.push(stamp);
        Ok(())
    }

    /// Completes the file (the cards filled in, a cube's frame table appended) and renames it
    /// into place. Writes nothing when no frame came. A complete file that cannot be flushed
    /// to disk or renamed is kept where it was written: [`Error::NotCommitted`] says where.
    pub fn finish(self) -> Result<CubeReport> {
        let Committed { report, failed } = self.complete()?.commit();
        failed.map_or(Ok(report), Err)
    }

    /// Completes the file, to be renamed into place by [`Completed::commit`]: the part that
    /// flushes it to disk, which a logger runs on a thread of its own while the next cube fills.
    pub(crate) fn complete(mut self) -> Result<Completed> {
        if self.stamps.is_empty() {
            return Ok(Completed {
                output: None,
                report: self.report(None),
            });
        }
        if let Err(e) = self.complete_file() {
            // No room for the table (a full disk)? Once more, without enough frames to make
            // room for it; any other failure fails the same way again.
            let frames = self.frames();
            let drop = header::table_bytes(frames).div_ceil(self.frame_bytes.max(1));
            if self.last_axis.is_none() || drop >= frames {
                return Err(e);
            }
            self.stamps.truncate((frames - drop) as usize);
            self.add_missed(drop);
            self.complete_file().map_err(|_| e)?;
        }
        Ok(Completed {
            report: self.report(None),
            output: Some(self.output),
        })
    }

    /// Cuts the file after the last frame recorded and has cfitsio complete it.
    fn complete_file(&mut self) -> Result<()> {
        // To the end of the pixels' last 2880-byte block (zeros: the image's padding): cfitsio
        // reads a file in whole blocks.
        let end = (self.data_start + self.frames() * self.frame_bytes).next_multiple_of(BLOCK);
        self.data
            .set_len(end)
            .map_err(|e| Error::io("cut", self.output.tmp(), e))?;
        let mut file = FitsFile::open_rw(self.output.tmp())?;
        header::complete(&mut file, self.last_axis, &self.stamps, self.missed)?;
        file.close()
    }

    fn report(&self, path: Option<PathBuf>) -> CubeReport {
        CubeReport {
            path,
            frames: self.frames(),
            missed: self.missed,
            first: self.stamps.first().copied(),
            last: self.stamps.last().copied(),
        }
    }
}

/// A file complete under its temporary name (or nothing, when no frame came).
pub(crate) struct Completed {
    output: Option<Output>,
    report: CubeReport,
}

impl Completed {
    /// Flushes the file to disk and renames it into place. The report stands whatever
    /// happens: a file that could not be committed is kept, whole, and its path is where it is
    /// ([`Error::NotCommitted`]).
    pub(crate) fn commit(self) -> Committed {
        let Self { output, mut report } = self;
        let failed = match output.map(Output::commit) {
            None => None,
            Some(Ok(path)) => {
                report.path = Some(path);
                None
            }
            Some(Err(e)) => {
                if let Error::NotCommitted { kept, .. } = &e {
                    report.path = Some(kept.clone());
                }
                Some(e)
            }
        };
        Committed { report, failed }
    }
}

/// A cube after its commit: what it holds, and the error when it could not be flushed to disk
/// or renamed (the report's path is then where the file is kept).
#[derive(Debug)]
pub(crate) struct Committed {
    pub(crate) report: CubeReport,
    pub(crate) failed: Option<Error>,
}
