//! Frames a reader fell behind on, taken back from the stream's circular buffer.
//!
//! A stream created with a circular buffer keeps its last `cb_size` frames: each commit copies
//! the frame into the next slot with its `cnt0`, `atime` and `writetime` (`CBFRAMEMD`), then
//! publishes `CBindex` and `cnt0` together. So after a gap, the frames between the last one taken
//! and the newest are still there while the writer has not gone round the buffer: the oldest of
//! them is in slot `CBindex - (cnt0 - m)` (modulo `cb_size`), and its slot's `cnt0` says whether
//! it still holds frame `m`. The slot is copied with a consistent read (frame and metadata
//! together); a slot the writer is overwriting meanwhile, a slot holding another frame (the writer
//! went round, or a legacy writer that leaves `CBFRAMEMD` zero) is not taken, and the frame counts
//! as missed as before.

use shmim_core::{ComplexF32, ComplexF64, Datatype, Half, Pixel, Stream};

use crate::error::{Error, Result};
use crate::frame::{FrameBuf, Stamp};

/// The oldest frame after `last` that the circular buffer of `stream` still holds, copied into
/// `buf`; `None` when there is none (no buffer, no gap, or the writer went round).
pub(crate) fn oldest_after(
    stream: &Stream,
    last: u64,
    buf: &mut FrameBuf,
) -> Result<Option<Stamp>> {
    let md = stream.metadata()?;
    let size = u64::from(md.cb_size);
    if size == 0 || md.cnt0 <= last.saturating_add(1) || md.cb_index >= md.cb_size {
        return Ok(None);
    }
    // The newest frame is in slot CBindex; the slot after it is the next one overwritten, so
    // the oldest worth a try is the one after that.
    let oldest = md.cnt0.saturating_sub(size.saturating_sub(2));
    let want = last.saturating_add(1).max(oldest);
    let back = md.cnt0 - want;
    if back >= size {
        return Ok(None);
    }
    let slot = ((u64::from(md.cb_index) + size - back) % size) as u32;
    let entry = match copy_slot(stream, slot, buf) {
        Ok(entry) => entry,
        // The writer reached this slot while we copied it: the frame is gone.
        Err(Error::Stream(
            shmim_core::Error::Torn { .. } | shmim_core::Error::WriterStuck { .. },
        )) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok((entry.cnt0 == want).then_some(Stamp {
        cnt0: entry.cnt0,
        atime: entry.atime,
        writetime: entry.writetime,
    }))
}

/// Copies slot `slot` into `buf` as the stream's pixel type.
fn copy_slot(stream: &Stream, slot: u32, buf: &mut FrameBuf) -> Result<shmim_core::CbFrame> {
    fn typed<T: Pixel>(
        stream: &Stream,
        slot: u32,
        buf: &mut FrameBuf,
    ) -> Result<shmim_core::CbFrame> {
        // FrameBuf is 8-aligned and one frame long: a whole number of any pixel type.
        let pixels: &mut [T] = bytemuck::cast_slice_mut(buf.bytes_mut());
        Ok(stream.read_cb_frame_into(slot, pixels)?)
    }
    match stream.datatype() {
        Datatype::U8 => typed::<u8>(stream, slot, buf),
        Datatype::I8 => typed::<i8>(stream, slot, buf),
        Datatype::U16 => typed::<u16>(stream, slot, buf),
        Datatype::I16 => typed::<i16>(stream, slot, buf),
        Datatype::U32 => typed::<u32>(stream, slot, buf),
        Datatype::I32 => typed::<i32>(stream, slot, buf),
        Datatype::U64 => typed::<u64>(stream, slot, buf),
        Datatype::I64 => typed::<i64>(stream, slot, buf),
        Datatype::Float => typed::<f32>(stream, slot, buf),
        Datatype::Double => typed::<f64>(stream, slot, buf),
        Datatype::ComplexFloat => typed::<ComplexF32>(stream, slot, buf),
        Datatype::ComplexDouble => typed::<ComplexF64>(stream, slot, buf),
        Datatype::Half => typed::<Half>(stream, slot, buf),
    }
}
