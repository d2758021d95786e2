//! Frames of the circular buffer copied one by one while the writer goes on.
//!
//! A stream with a circular buffer keeps its last `CBsize` frames: each commit, under the write
//! flag and before it publishes `cnt0`, copies the frame into the next slot with its metadata
//! (`CBFRAMEMD`) and advances `CBindex`. So frame `m` sits in slot `CBindex - (cnt0 - m)`
//! (modulo `CBsize`) until the writer writes frame `m + CBsize` into that slot.
//!
//! A consistent read of the whole stream ([`Stream::read_cb_frame_into`]) throws its copy away
//! whenever *any* frame is committed meanwhile, and waits while the writer holds its flag: a
//! reader a few frames behind a fast writer spends most of its time waiting or copying again,
//! although the slot it copies is not the one being written. [`Stream::read_cb_frame`] asks
//! only what matters: was *this* slot rewritten during the copy? A writer rewrites it when it
//! writes frame `m + CBsize`; after the copy, `cnt0` bounds the newest write the copy can have
//! seen ([`shmim_sync::seqlock::newest_frame_touched`], with the ordering argument), so the
//! copy is whole iff that frame is below `m + CBsize`. It never waits for the flag. The one
//! exception is the oldest frame held, whose slot the *next* write fills: it is copied only if
//! no write begins or ends meanwhile (the stream's seqlock, in one attempt), which also takes
//! it from a stream no writer is writing.
//!
//! Which slot holds frame `m` comes from a [`CbAnchor`]: `cnt0` and `CBindex` read together
//! once (a consistent read, which does wait for a commit in progress), then reused for every
//! frame after, as long as the writer fills one slot per frame. shmim's writer does, also when
//! it recovers a commit killed after it took its slot (`writer.rs`); a writer that does not
//! (legacy code bumping `cnt0` by hand) shows in the slot's own metadata: its `cnt0` names
//! another frame, and the caller takes a new anchor. docs/protocol.md has the limits with
//! writers that never set the write flag.

use crate::consistent::consistent_copy;
use crate::cube::CbFrame;
use crate::error::{Error, Result};
use crate::mapping::md;
use crate::pixel::Pixel;
use crate::stream::Stream;

/// Where the circular buffer's frames are: frame `cnt0`'s slot, read together with `cnt0`.
///
/// Frame `m` is then in slot `CBindex + (m - cnt0)` modulo `CBsize`, before and after `cnt0`,
/// for as long as the writer fills one slot per frame. Made by [`Stream::cb_anchor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CbAnchor {
    cnt0: u64,
    index: u32,
    size: u32,
}

impl CbAnchor {
    /// The frame number read with the slot.
    pub fn cnt0(&self) -> u64 {
        self.cnt0
    }

    /// Slots in the buffer (`CBsize`).
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The slot frame `frame` is written to.
    pub fn slot_of(&self, frame: u64) -> u32 {
        let size = u64::from(self.size);
        let index = u64::from(self.index);
        let slot = if frame >= self.cnt0 {
            (index + (frame - self.cnt0) % size) % size
        } else {
            (index + size - (self.cnt0 - frame) % size) % size
        };
        // Below `size`, a `u32`.
        slot as u32
    }
}

/// What a copy of one circular-buffer frame gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CbCopy {
    /// The slot's pixels, whole, and the metadata the slot holds. Its `cnt0` names the frame
    /// when the writer records slot metadata and filled the slot the anchor says; anything else
    /// (zero, another frame) means the slot does not hold it. "Whole" assumes a writer that sets
    /// the write flag around its writes (shmim's, and C code following the legacy idiom); one
    /// that never does can tear the oldest frame held, as it can tear any consistent read.
    Copied(CbFrame),
    /// The frame is not published yet (`cnt0` is below it), or is frame 0 (no frame).
    NotPublished,
    /// The writer has rewritten the frame's slot, or may have during the copy: it went round
    /// the buffer. Frames from `cnt0 + 1 - CBsize` on are still held, the oldest of them only
    /// until the next write begins.
    Overwritten,
}

impl Stream {
    /// Reads where the circular buffer's frames are ([`CbAnchor`]), waiting for a commit in
    /// progress as a consistent read does. `None` without a circular buffer, or when `CBindex`
    /// is outside it (a header no writer of ours left).
    pub fn cb_anchor(&self) -> Result<Option<CbAnchor>> {
        let size = self.geometry().cb_size;
        if size == 0 {
            return Ok(None);
        }
        let mut index = 0;
        let cnt0 = consistent_copy(&self.map, self.read_timeout, || {
            index = md!(self.map, cb_index).peek();
        })?;
        Ok((index < size).then_some(CbAnchor { cnt0, index, size }))
    }

    /// Copies frame `frame` from the circular buffer into `buf` (one frame) with its slot's
    /// metadata, if the writer has not rewritten the slot before or during the copy (module
    /// docs). Never waits: a writer busy with a later frame does not stop it.
    pub fn read_cb_frame<T: Pixel>(
        &self,
        anchor: &CbAnchor,
        frame: u64,
        buf: &mut [T],
    ) -> Result<CbCopy> {
        self.check_frame_buffer::<T>(buf.len())?;
        self.read_cb_frame_bytes(anchor, frame, bytemuck::cast_slice_mut(buf))
    }

    /// [`Self::read_cb_frame`] into the frame's bytes (`buf` exactly one frame long), for a
    /// caller that handles every pixel type alike, as [`Self::read_bytes_into`] is to
    /// [`Self::read_into`].
    pub fn read_cb_frame_bytes(
        &self,
        anchor: &CbAnchor,
        frame: u64,
        buf: &mut [u8],
    ) -> Result<CbCopy> {
        let g = self.geometry();
        g.check_frame_bytes(buf.len())?;
        let size = u64::from(g.cb_size);
        if size == 0 || anchor.size != g.cb_size {
            return Err(Error::IndexOutOfRange {
                what: "circular-buffer slot",
                index: u64::from(anchor.index),
                count: size,
            });
        }
        let (cnt0, write) = (md!(self.map, cnt0), md!(self.map, write));
        // Acquire: frame `frame`'s slot, written before this count was published, is visible.
        let published = cnt0.observe();
        if frame == 0 || frame > published {
            return Ok(CbCopy::NotPublished);
        }
        let age = published - frame;
        if age >= size {
            return Ok(CbCopy::Overwritten);
        }
        // The oldest frame held is in the slot the next write fills: copied only while no write
        // begins or ends (the whole stream's seqlock, one attempt); any other slot only needs
        // that its own rewrite did not begin (module docs).
        let edge = age + 1 == size;
        let begun = if edge {
            match shmim_sync::seqlock::read_begin(cnt0.cell(), write.cell()) {
                Some(c) if c == published => Some(c),
                _ => return Ok(CbCopy::Overwritten),
            }
        } else {
            None
        };
        let slot = anchor.slot_of(frame);
        let (pixels, entry) = (self.map.cb_frame_ptr(slot)?, self.map.cb_md_ptr(slot)?);
        self.map.copy_out(self.map.offset_of(pixels), buf);
        let md = self.map.copy_cb_md(entry);
        let whole = match begun {
            Some(c) => shmim_sync::seqlock::read_validate(cnt0.cell(), write.cell(), c),
            None => {
                let newest = shmim_sync::seqlock::newest_frame_touched(cnt0.cell(), write.cell());
                newest.saturating_sub(frame) < size
            }
        };
        if !whole {
            return Ok(CbCopy::Overwritten);
        }
        Ok(CbCopy::Copied(md))
    }
}

#[cfg(test)]
mod tests {
    use super::CbAnchor;

    #[test]
    fn frames_go_round_the_slots_from_the_anchor() {
        // Frame 10 in slot 2 of 4: frame 9 in slot 1, 7 in slot 3, 11 in slot 3, 14 in slot 2.
        let a = CbAnchor {
            cnt0: 10,
            index: 2,
            size: 4,
        };
        let slots: Vec<u32> = (7..=14).map(|f| a.slot_of(f)).collect();
        assert_eq!(slots, [3, 0, 1, 2, 3, 0, 1, 2]);
        assert_eq!(a.slot_of(0), 0);
        // u64::MAX - 10 frames after the anchor: that is 1 modulo 4, so one slot on.
        assert_eq!(a.slot_of(u64::MAX), 3);
    }
}
