//! Cubes and circular buffers: slices of a 3-axis frame, and the frames kept in the circular
//! buffer.
//!
//! Legacy index rules (c-api.md): slices = `size[2]` for 3 axes, else 1; the write index is
//! `(cnt1 + 1) mod slices`; the last written slice is `cnt1` for 3 axes, else 0.

use shmim_layout::{CbFrameMd, ImageType};

use crate::consistent::consistent_copy;
use crate::error::{Error, Result};
use crate::mapping::md;
use crate::pixel::Pixel;
use crate::reader::Reader;
use crate::stream::Stream;
use crate::validate::Geometry;
use crate::writer::WriteGuard;

impl Stream {
    /// Number of slices (`size[2]` for a cube, else 1).
    pub fn slice_count(&self) -> u64 {
        slice_count(self.geometry())
    }

    /// The slice the next frame should write: `(cnt1 + 1) mod slices`.
    pub fn write_index(&self) -> u64 {
        md!(self.map, cnt1).peek().wrapping_add(1) % self.slice_count()
    }

    /// The slice written last: `cnt1` for a cube, else 0.
    pub fn last_written_index(&self) -> u64 {
        if self.geometry().naxis == 3 {
            md!(self.map, cnt1).peek()
        } else {
            0
        }
    }

    /// Elements per slice.
    pub fn slice_len(&self) -> u64 {
        self.nelement() / self.slice_count()
    }

    /// Whether the third axis is a ring of slices (`(imagetype & 0xF) == CIRCULAR_BUFFER`).
    pub fn has_slices(&self) -> bool {
        ImageType(self.geometry().imagetype).is_circular_slices()
    }
}

fn slice_count(g: &Geometry) -> u64 {
    if g.naxis == 3 {
        u64::from(g.size[2])
    } else {
        1
    }
}

/// Byte offset and length of slice `index`, checked against `T` and a buffer of `buf_len` bytes.
fn slice_range<T: Pixel>(g: &Geometry, index: u64, buf_len: usize) -> Result<(usize, usize)> {
    if g.location >= 0 {
        return Err(Error::GpuStream {
            name: g.name.clone(),
            location: g.location,
        });
    }
    if T::DATATYPE != g.datatype {
        return Err(Error::TypeMismatch {
            stream: g.datatype,
            requested: T::DATATYPE,
        });
    }
    let count = slice_count(g);
    if index >= count {
        return Err(Error::IndexOutOfRange {
            what: "slice",
            index,
            count,
        });
    }
    let len = g.frame_bytes() / count as usize;
    if buf_len != len {
        return Err(Error::LengthMismatch {
            expected: g.nelement() / count,
            found: buf_len / T::DATATYPE.size(),
        });
    }
    Ok((g.regions.data.offset as usize + index as usize * len, len))
}

impl WriteGuard<'_> {
    /// Copies `src` into slice `index` of the cube (set `cnt1` to say which slice you wrote).
    pub fn copy_slice_from<T: Pixel>(&mut self, index: u64, src: &[T]) -> Result<()> {
        let src: &[u8] = bytemuck::cast_slice(src);
        self.settle();
        let map = self.mapping();
        let (offset, _) = slice_range::<T>(map.geometry(), index, src.len())?;
        map.copy_in(offset, src);
        Ok(())
    }
}

/// A circular-buffer frame's metadata as copied with it.
pub type CbFrame = CbFrameMd;

impl Reader {
    /// Copies slice `index` of the current frame consistently; returns the frame number.
    pub fn read_slice_into<T: Pixel>(&mut self, index: u64, buf: &mut [T]) -> Result<u64> {
        let buf: &mut [u8] = bytemuck::cast_slice_mut(buf);
        let map = self.mapping();
        let (offset, _) = slice_range::<T>(map.geometry(), index, buf.len())?;
        let pixels = map.reader_pixels()?;
        consistent_copy(map, self.read_timeout(), || pixels.copy_out(offset, buf))
    }
}

impl Stream {
    /// Copies circular-buffer frame `index` and its metadata consistently.
    pub fn read_cb_frame_into<T: Pixel>(&self, index: u32, buf: &mut [T]) -> Result<CbFrame> {
        self.check_frame_buffer::<T>(buf.len())?;
        let frame = self.map.cb_frame_ptr(index)?;
        let entry = self.map.cb_md_ptr(index)?;
        let buf: &mut [u8] = bytemuck::cast_slice_mut(buf);
        let mut md = CbFrameMd::default();
        let frame_at = self.map.offset_of(frame);
        consistent_copy(&self.map, self.read_timeout, || {
            self.map.copy_out(frame_at, buf);
            md = self.map.copy_cb_md(entry);
        })?;
        Ok(md)
    }

    /// `(CBindex, CBcycle)` now: the slot of the newest circular-buffer frame and the wraps.
    pub fn cb_position(&self) -> (u32, u64) {
        (
            md!(self.map, cb_index).peek(),
            md!(self.map, cb_cycle).peek(),
        )
    }
}
