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

#[cfg(test)]
mod tests {
    use crate::{Datatype, Stream, StreamSpec};

    #[test]
    fn live_pixels_address_the_current_frame_and_outlive_the_stream_handle() {
        let dir = std::env::temp_dir().join(format!("shmim-live-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut stream =
            Stream::create("live", &StreamSpec::new(&[4], Datatype::U32).dir(&dir)).unwrap();
        stream.write_frame(&[7u32, 8, 9, 10]).unwrap();
        let live = stream.live_pixels().unwrap();
        assert_eq!((live.len(), live.as_ptr() as usize % 8), (16, 0));
        stream.destroy().unwrap();
        // SAFETY: `live` keeps the mapping (4 u32, 8-aligned) alive after the handle is gone and
        // the file unlinked; nobody writes it any more.
        let third = unsafe { live.as_ptr().cast::<u32>().add(2).read_volatile() };
        assert_eq!(third, 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
