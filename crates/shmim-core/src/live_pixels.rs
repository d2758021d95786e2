//! Where a stream's live pixels are, for bindings that hand that memory to code outside Rust.
//!
//! The Python package gives numpy arrays over the mapped pixels (`stream.view()`, and the
//! writable array of `with stream.write() as a:`), the way the C API hands out `im.array`. Those
//! arrays need the address of the pixels and an owner that keeps the mapping alive as long as
//! any array uses it: [`LivePixels`] is both. Nothing here reads or writes through the pointer;
//! whoever does follows the protocol itself (a view of live pixels may change under its reader at
//! any time; bytes written through it are published only by a commit while the write flag is
//! held). No Rust reference to the shared bytes is created.

use std::sync::Arc;

use crate::error::Result;
use crate::mapping::Mapping;
use crate::stream::Stream;

/// Keeps a stream's memory mapped, and tells where the current frame's pixels are.
#[doc(hidden)]
pub struct LivePixels {
    map: Arc<Mapping>,
}

impl std::fmt::Debug for LivePixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePixels")
            .field("stream", &self.map.geometry().name)
            .field("len", &self.len())
            .finish()
    }
}

impl LivePixels {
    /// Start of the pixels: 8-aligned, valid for [`Self::len`] bytes while `self` lives.
    pub fn as_ptr(&self) -> *mut u8 {
        self.map.data_ptr()
    }

    /// Bytes of one frame (`imdatamemsize`).
    pub fn len(&self) -> usize {
        self.map.geometry().frame_bytes()
    }

    /// Whether the frame has no bytes (never, for a valid stream).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Stream {
    /// The live pixels of this stream's mapping (not of a newer file after a reopen), for
    /// bindings; `GpuStream` when the pixels are not in the file.
    #[doc(hidden)]
    pub fn live_pixels(&self) -> Result<LivePixels> {
        self.check_cpu()?;
        Ok(LivePixels {
            map: Arc::clone(&self.map),
        })
    }
}
