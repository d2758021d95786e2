//! `save`: a stream's current frame, or its next frames as a cube, to a FITS file.

use std::path::Path;
use std::time::{Duration, Instant};

use shmim_core::Stream;

use crate::cards::{KeywordCards, keyword_cards};
use crate::cube::{CubeReport, CubeSpec, CubeWriter};
use crate::error::{Error, Result};
use crate::frame::{FrameBuf, read_current};
use crate::take::Taker;
use crate::types::fits_type;

/// How long one wait for a frame lasts before the stop request is looked at again.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// What to save.
#[derive(Debug, Clone)]
pub struct SaveOptions {
    /// `None`: the current frame. `Some(n)`: the next `n` frames, as a cube.
    pub frames: Option<u64>,
    /// Replace an existing file.
    pub overwrite: bool,
    /// Give up when no new frame comes for this long (cubes only).
    pub timeout: Duration,
}

/// What was saved.
#[derive(Debug)]
pub struct SaveReport {
    /// The file and its frames.
    pub cube: CubeReport,
    /// The keywords written under another name, and those left out (with why).
    pub keywords: KeywordCards,
    /// What ended a cube before its frames were all taken (it holds the frames taken until
    /// then); `None` when it is complete.
    pub stopped: Option<Stop>,
}

/// Why a cube (or logging) ended early. The file (or the open cube) was finished with the
/// frames taken until then.
#[derive(Debug)]
pub enum Stop {
    /// A stop request (Ctrl-C).
    Interrupted,
    /// No new frame came for this long.
    NoFrame {
        /// How long.
        waited: Duration,
    },
    /// An error: reading the stream, or writing the file.
    Failed(Error),
}

/// Saves `stream` to `dest` as `opts` say; `stop` is asked between frames whether to end a cube
/// early (Ctrl-C).
///
/// A cube that ends early for any reason keeps the frames taken until then (`stopped` says
/// why); one that ends before its first frame writes nothing, and is [`Error::NoFrame`] when
/// no frame came, the error when one ended it.
pub fn save(
    stream: &Stream,
    dest: &Path,
    opts: &SaveOptions,
    stop: &mut dyn FnMut() -> bool,
) -> Result<SaveReport> {
    fits_type(stream.datatype(), stream.name())?;
    let keywords = keyword_cards(&stream.keywords()?);
    let spec = CubeSpec {
        stream: stream.name(),
        datatype: stream.datatype(),
        frame_shape: stream.shape(),
        frames: opts.frames,
    };
    let Some(n) = opts.frames else {
        let what = stream.path().unwrap_or(dest);
        let mut buf = FrameBuf::new(stream.geometry().frame_bytes(), what)?;
        let stamp = read_current(stream, &mut buf)?;
        let mut writer = CubeWriter::create(dest, opts.overwrite, &spec, &keywords)?;
        writer.push(buf.bytes_mut(), stamp)?;
        return Ok(SaveReport {
            cube: writer.finish()?,
            keywords,
            stopped: None,
        });
    };
    let mut taker = Taker::new(stream)?;
    let mut buf = FrameBuf::new(stream.geometry().frame_bytes(), dest)?;
    let mut writer = CubeWriter::create(dest, opts.overwrite, &spec, &keywords)?;
    let stopped = take_frames(&mut taker, &mut writer, &mut buf, n, opts.timeout, stop);
    let frames = writer.frames();
    match stopped {
        Some(Stop::NoFrame { waited }) if frames == 0 => {
            return Err(Error::NoFrame {
                name: stream.name().to_owned(),
                waited,
                frames,
            });
        }
        Some(Stop::Failed(e)) if frames == 0 => return Err(e),
        _ => {}
    }
    match writer.finish() {
        Ok(cube) => Ok(SaveReport {
            cube,
            keywords,
            stopped,
        }),
        // The error that ended the cube says more than the one finishing it then.
        Err(e) => Err(match stopped {
            Some(Stop::Failed(first)) => first,
            _ => e,
        }),
    }
}

/// Takes frames into `writer` until it holds `n`, or something stops it (returned).
fn take_frames(
    taker: &mut Taker<'_>,
    writer: &mut CubeWriter,
    buf: &mut FrameBuf,
    n: u64,
    timeout: Duration,
    stop: &mut dyn FnMut() -> bool,
) -> Option<Stop> {
    let mut last_frame_at = Instant::now();
    while writer.frames() < n {
        if stop() {
            return Some(Stop::Interrupted);
        }
        match taker.next(POLL, buf) {
            Ok(Some(taken)) => {
                writer.add_missed(taken.missed);
                if let Err(e) = writer.push(buf.bytes_mut(), taken.stamp) {
                    return Some(Stop::Failed(e));
                }
                last_frame_at = Instant::now();
            }
            Ok(None) if last_frame_at.elapsed() >= timeout => {
                return Some(Stop::NoFrame {
                    waited: last_frame_at.elapsed(),
                });
            }
            Ok(None) => {}
            Err(e) => return Some(Stop::Failed(e)),
        }
    }
    None
}
