//! Copying a frame out of a stream together with the number and times published with it.
//!
//! A frame's pixels come from a consistent read (`read_bytes_into`, which returns the frame's
//! `cnt0`); its times from a consistent copy of the header (`metadata()`), taken just before and,
//! if a frame was published in between, just after the pixels. Whichever header has the pixels'
//! `cnt0` holds their `atime` and `writetime`: the writer sets both before it publishes `cnt0`,
//! and a header copy is consistent, so the three belong together. A writer that publishes in
//! both gaps makes us copy again, until the read timeout of the stream.

use std::time::Instant;

use shmim_core::{Reader, Stream, Timespec};

use crate::error::{Error, Result};

/// A frame's number and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Frame number (`cnt0`).
    pub cnt0: u64,
    /// Acquisition time (`atime`, CLOCK_TAI).
    pub atime: Timespec,
    /// Publish time (`writetime`, CLOCK_TAI).
    pub writetime: Timespec,
}

/// One frame's bytes, aligned for any pixel type (cfitsio reads them as typed elements).
pub struct FrameBuf {
    words: Vec<u64>,
    len: usize,
}

impl FrameBuf {
    /// A zeroed buffer of `len` bytes; [`Error::TooLarge`] when it cannot be allocated.
    pub fn new(len: usize, what: &std::path::Path) -> Result<Self> {
        let n = len.div_ceil(8);
        let mut words = Vec::new();
        words.try_reserve_exact(n).map_err(|_| Error::TooLarge {
            path: what.to_path_buf(),
            bytes: len as u64,
        })?;
        words.resize(n, 0);
        Ok(Self { words, len })
    }

    /// The frame's bytes.
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    /// The frame's bytes, to fill.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
}

/// Copies the stream's current frame into `buf`; returns its stamp.
pub fn read_current(stream: &Stream, buf: &mut FrameBuf) -> Result<Stamp> {
    stamped(stream, || stream.read_bytes_into(buf.bytes_mut()))
}

/// Copies the stream's current frame into `buf` through `reader` (which counts what it missed);
/// returns its stamp.
pub fn read_through(stream: &Stream, reader: &mut Reader, buf: &mut FrameBuf) -> Result<Stamp> {
    stamped(stream, || reader.read_bytes_into(buf.bytes_mut()))
}

fn stamped(stream: &Stream, mut copy: impl FnMut() -> shmim_core::Result<u64>) -> Result<Stamp> {
    let start = Instant::now();
    let limit = stream_read_timeout();
    loop {
        let before = stream.metadata()?;
        let cnt0 = copy()?;
        let header = if before.cnt0 == cnt0 {
            Some(before)
        } else {
            Some(stream.metadata()?).filter(|after| after.cnt0 == cnt0)
        };
        if let Some(h) = header {
            return Ok(Stamp {
                cnt0,
                atime: h.atime,
                writetime: h.write_time,
            });
        }
        if start.elapsed() >= limit {
            return Err(shmim_core::Error::Torn {
                waited: start.elapsed(),
            }
            .into());
        }
    }
}

/// How long [`stamped`] keeps trying to match a frame with its header: as long as a consistent
/// read waits for a busy writer by default.
fn stream_read_timeout() -> std::time::Duration {
    std::time::Duration::from_millis(100)
}
