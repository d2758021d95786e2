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
#[derive(Debug, Clone)]
pub struct SaveReport {
    /// The file and its frames.
    pub cube: CubeReport,
    /// The keywords written under another name, and those left out (with why).
    pub keywords: KeywordCards,
    /// Whether a stop request ended a cube early (it holds the frames taken until then).
    pub interrupted: bool,
}

/// Saves `stream` to `dest` as `opts` say; `stop` is asked between frames whether to end a cube
/// early (Ctrl-C).
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
            interrupted: false,
        });
    };
    let mut taker = Taker::new(stream)?;
    let mut buf = FrameBuf::new(stream.geometry().frame_bytes(), dest)?;
    let mut writer = CubeWriter::create(dest, opts.overwrite, &spec, &keywords)?;
    let mut last_frame_at = Instant::now();
    let mut interrupted = false;
    while writer.frames() < n {
        if stop() {
            interrupted = true;
            break;
        }
        match taker.next(POLL, &mut buf)? {
            Some(taken) => {
                writer.add_missed(taken.missed);
                writer.push(buf.bytes_mut(), taken.stamp)?;
                last_frame_at = Instant::now();
            }
            None if last_frame_at.elapsed() >= opts.timeout => {
                return Err(Error::NoFrame {
                    name: stream.name().to_owned(),
                    waited: last_frame_at.elapsed(),
                    frames: writer.frames(),
                });
            }
            None => {}
        }
    }
    Ok(SaveReport {
        cube: writer.finish()?,
        keywords,
        interrupted,
    })
}
