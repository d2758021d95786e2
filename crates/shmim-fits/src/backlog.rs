//! The frames of a stream's circular buffer, taken one by one in order.
//!
//! A stream created with a circular buffer keeps its last `cb_size` frames: each commit, under
//! the write flag, copies the frame into the next slot with its `cnt0`, `atime` and `writetime`
//! (`CBFRAMEMD`), then publishes `CBindex` and `cnt0` together. So the frames after the last one
//! a reader took are all there while the writer has not gone round the buffer.
//!
//! Each frame is copied from its slot with [`Stream::read_cb_frame_bytes`], which checks that
//! *its* slot was not rewritten during the copy and never waits for the writer: a taker a few
//! frames behind copies them while the writer fills the next slots. (A consistent read of the whole
//! stream threw the copy away whenever any frame was committed meanwhile, and spun while the
//! writer held its flag: measured, a taker behind a 2.4 kHz writer spent 600 µs to 1 ms on a
//! 1 MiB copy of 100 µs, fell a whole buffer behind and lost frames.) Where the frames are comes
//! from an anchor ([`shmim_core::CbAnchor`]) read once and kept while the slots match it.
//!
//! The copy is frame `m` when its slot's metadata says so: a writer that records slot metadata
//! and filled one slot per frame since the anchor. Metadata naming another frame (a writer that
//! skipped slots) makes the taker read a new anchor and copy once more; zero metadata (a writer
//! that records none, as the legacy library's `UpdateIm`), or a second miss, sends it to the
//! newest frame ([`Slot::NotHeld`]), as without a buffer.

use shmim_core::{CbAnchor, CbCopy, Stream};

use crate::error::Result;
use crate::frame::{FrameBuf, Stamp};

/// What the circular buffer gave.
pub(crate) enum Slot {
    /// The frame after the last one taken (or, when the writer went round the buffer since,
    /// one still held, a few frames in), copied.
    Frame(Stamp),
    /// The writer kept the stream busy (stuck or dead holding its flag while an anchor was
    /// read): nothing to take now.
    Busy,
    /// No frame after the last one taken is published yet.
    Nothing,
    /// Nothing the buffer can give: no buffer, or slots that do not hold their frames.
    NotHeld,
    /// The writer went round the buffer faster than the copies, every time: the frames after
    /// the last one taken are being overwritten.
    Overtaken,
}

/// The circular buffer of one stream, as a taker reads it.
pub(crate) struct Backlog {
    anchor: Option<CbAnchor>,
    /// How far into the buffer to start after the writer overtook us: a quarter of it.
    skip: u64,
}

/// Copies after the writer overtook the one wanted, each starting further in.
const OVERTAKEN_TRIES: usize = 3;

impl Backlog {
    pub(crate) fn new(stream: &Stream) -> Self {
        Self {
            anchor: None,
            skip: u64::from(stream.geometry().cb_size / 4).max(1),
        }
    }

    /// The frame after `last` (or, when the writer went round the buffer since, one it still
    /// holds), copied into `buf`.
    ///
    /// The oldest frame held is the one the next commit overwrites: a taker that keeps asking
    /// for it while the writer goes round as fast as it copies would lose every frame in turn.
    /// After an overwrite it asks for the oldest frame held, then the one after it, then a
    /// quarter of the buffer further in, losing those frames rather than the whole buffer
    /// (measured: runs of exactly `cb_size + 1` frames missed at once, from a logger only
    /// briefly slower than its writer, when it went to the newest frame instead).
    pub(crate) fn next_after(
        &mut self,
        stream: &Stream,
        last: u64,
        buf: &mut FrameBuf,
    ) -> Result<Slot> {
        let mut want = last.saturating_add(1);
        let mut fresh_anchor = false;
        let mut overtaken = 0;
        loop {
            let anchor = match self.anchor {
                Some(a) => a,
                None => match stream.cb_anchor() {
                    Ok(Some(a)) => {
                        fresh_anchor = true;
                        *self.anchor.insert(a)
                    }
                    Ok(None) => return Ok(Slot::NotHeld),
                    Err(e) if busy(&e) => return Ok(Slot::Busy),
                    Err(e) => return Err(e.into()),
                },
            };
            match stream.read_cb_frame_bytes(&anchor, want, buf.bytes_mut())? {
                CbCopy::Copied(entry) if entry.cnt0 == want => {
                    return Ok(Slot::Frame(Stamp {
                        cnt0: want,
                        atime: entry.atime,
                        writetime: entry.writetime,
                    }));
                }
                // The slot does not hold the frame: a new anchor, then (if this one was new
                // already) the newest frame. The next call starts from a new anchor too, so a
                // writer whose slots never hold their frames (zero or stale metadata: it records
                // none, as the legacy library's `UpdateIm`) costs one slot copy a frame, not two.
                CbCopy::Copied(_) => {
                    self.anchor = None;
                    if fresh_anchor {
                        return Ok(Slot::NotHeld);
                    }
                }
                CbCopy::NotPublished => return Ok(Slot::Nothing),
                CbCopy::Overwritten if overtaken < OVERTAKEN_TRIES => {
                    overtaken += 1;
                    // The oldest frame held; then the one after it (the oldest is refused while
                    // any write is in progress, and a writer stuck mid-write never finishes);
                    // then a quarter of the buffer in, ahead of a writer going round fast.
                    let skip = match overtaken {
                        1 => 0,
                        2 => 1,
                        _ => self.skip,
                    };
                    let now = stream.cnt0();
                    match after_overwrite(want, last, now, anchor.size(), skip) {
                        Some(next) => want = next,
                        None => return Ok(Slot::Nothing),
                    }
                }
                CbCopy::Overwritten => return Ok(Slot::Overtaken),
            }
        }
    }
}

/// The frame to ask for once `want` was overwritten, `cnt0` being `now`: the oldest frame held
/// (`now + 1 - size`), `skip` frames further in when that one was overwritten too; `None` when
/// no frame after `last` is published (`cnt0` went back below it: a hostile or rewritten header).
fn after_overwrite(want: u64, last: u64, now: u64, size: u32, skip: u64) -> Option<u64> {
    let held = now.saturating_add(1).saturating_sub(size.into());
    let next = want.max(held.saturating_add(skip)).min(now);
    (next > last).then_some(next)
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

#[cfg(test)]
mod tests {
    use super::after_overwrite;

    #[test]
    fn after_an_overwrite_the_taker_goes_to_the_oldest_frame_held_then_further_in() {
        // 32 slots at cnt0 = 100 hold 69..=100 (69 only until the next write begins).
        assert_eq!(after_overwrite(10, 9, 100, 32, 0), Some(69));
        assert_eq!(after_overwrite(69, 68, 100, 32, 8), Some(77));
        // Never past the newest frame.
        assert_eq!(after_overwrite(10, 9, 100, 32, 64), Some(100));
    }

    #[test]
    fn a_frame_count_that_went_back_leaves_nothing_to_take() {
        // The last frame taken was 50; a header now says cnt0 = 3.
        assert_eq!(after_overwrite(51, 50, 3, 4, 0), None);
        assert_eq!(after_overwrite(51, 50, 50, 4, 1), None);
    }
}
