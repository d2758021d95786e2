//! The frames of a stream's circular buffer, taken one by one in order.
//!
//! A stream created with a circular buffer keeps its last `cb_size` frames: each commit, under
//! the write flag, copies the frame into the next slot with its `cnt0`, `atime` and `writetime`
//! (`CBFRAMEMD`), then publishes `CBindex` and `cnt0` together. So the frames after the last one
//! a reader took are all there while the writer has not gone round the buffer: frame `m` is in
//! slot `CBindex - (cnt0 - m)` (modulo `cb_size`).
//!
//! A slot is copied with a consistent read (frame and metadata together, no commit during the
//! copy), which holds the buffer as it was at some `cnt0 = c`: then the slots hold frames
//! `c - cb_size + 1 ..= c`, the oldest of them in the slot the next commit overwrites. The copy
//! is frame `m` when both say so: the slot's own `cnt0` is `m` (a writer that records slot
//! metadata), and `m` was still in the buffer at `c`. The second check needs no trust in the
//! slot metadata, which a legacy writer leaves stale or zero: a stale entry naming `m` in a slot
//! the writer has since refilled is refused because `c` is too far past `m`. We bound `c` by
//! `cnt0` read after the copy, which is at least `c`: a frame refused that way was about to be
//! overwritten anyway.

use shmim_core::{ComplexF32, ComplexF64, Datatype, Half, Pixel, Stream};

use crate::error::{Error, Result};
use crate::frame::{FrameBuf, Stamp};

/// What the circular buffer gave.
pub(crate) enum Slot {
    /// The frame after the last one taken (or the oldest one still held, when the writer went
    /// round the buffer since), copied.
    Frame(Stamp),
    /// The writer kept the stream busy (publishing through every copy, stuck or dead holding
    /// its flag): nothing to take now.
    Busy,
    /// Nothing the buffer can give: no buffer, no new frame, or a slot that does not hold its
    /// frame.
    NotHeld,
    /// The frame wanted was the oldest one held and the writer overwrote it during the copy
    /// (it went round the buffer meanwhile): the frames after it are still there.
    Overtaken,
}

/// The frame after `last` (or, when the writer went round the buffer since, the oldest one the
/// buffer still holds, `skip` frames further in), copied into `buf`.
///
/// `skip` is for a taker the writer just [`Slot::Overtaken`]: the oldest slot is the one the
/// next commit overwrites, so a taker that keeps asking for it while the writer goes round as
/// fast as it copies would lose every frame in turn; starting a few slots in gives the copy the
/// time of those commits.
pub(crate) fn next_after(
    stream: &Stream,
    last: u64,
    skip: u64,
    buf: &mut FrameBuf,
) -> Result<Slot> {
    let md = match stream.metadata() {
        Ok(md) => md,
        Err(e) if busy(&e) => return Ok(Slot::Busy),
        Err(e) => return Err(e.into()),
    };
    let size = u64::from(md.cb_size);
    if size == 0 || md.cnt0 <= last || md.cb_index >= md.cb_size {
        return Ok(Slot::NotHeld);
    }
    // The buffer holds frames cnt0 - size + 1 ..= cnt0.
    let oldest = md.cnt0.saturating_sub(size - 1).max(1);
    let want = last
        .saturating_add(1)
        .max(oldest.saturating_add(skip).min(md.cnt0));
    let back = md.cnt0 - want;
    let slot = ((u64::from(md.cb_index) + size - back) % size) as u32;
    let entry = match copy_slot(stream, slot, buf) {
        Ok(entry) => entry,
        Err(Error::Stream(e)) if busy(&e) => return Ok(Slot::Busy),
        Err(e) => return Err(e),
    };
    let now = stream.cnt0();
    Ok(if holds(entry.cnt0, want, now, size) {
        Slot::Frame(Stamp {
            cnt0: entry.cnt0,
            atime: entry.atime,
            writetime: entry.writetime,
        })
    } else if entry.cnt0 > want && now.saturating_sub(want) >= size {
        // The slot names a later frame: a writer that records slot metadata refilled it. (Zero
        // or stale metadata, below `want`, is a writer that records none: `NotHeld`, no retry.)
        Slot::Overtaken
    } else {
        Slot::NotHeld
    })
}

/// Whether a slot copy is frame `want`: its metadata names `want` (`entry`), and `want` was
/// still in the buffer of `size` frames when `cnt0` was `now` (read after the copy, so at least
/// the copy's own `cnt0`).
fn holds(entry: u64, want: u64, now: u64, size: u64) -> bool {
    entry == want && now.saturating_sub(want) < size
}

/// Whether a consistent read failed because of the writer (it is worth trying again later).
pub(crate) fn busy(e: &shmim_core::Error) -> bool {
    matches!(
        e,
        shmim_core::Error::Torn { .. }
            | shmim_core::Error::WriterStuck { .. }
            | shmim_core::Error::WriterDied { .. }
    )
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

#[cfg(test)]
mod tests {
    use super::holds;

    #[test]
    fn a_slot_holds_its_frame_until_the_writer_goes_round() {
        // 4 slots: at cnt0 = 10 they hold 7..=10.
        assert!(holds(7, 7, 10, 4));
        assert!(holds(10, 10, 10, 4));
        // Metadata naming another frame: a writer that went round, or left it zero.
        assert!(!holds(3, 7, 10, 4));
        assert!(!holds(0, 7, 10, 4));
    }

    #[test]
    fn stale_slot_metadata_is_refused_once_the_writer_went_round() {
        // A legacy writer refills slots without their metadata: an entry still naming frame 6
        // after frame 10 was published is a stale one over frame 10's pixels.
        assert!(!holds(6, 6, 10, 4));
        assert!(!holds(6, 6, u64::MAX, 4));
    }
}
