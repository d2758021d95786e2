//! In-place access to the frame a [`WriteGuard`] holds: [`WriteGuard::pixels_mut`] and
//! [`WriteGuard::bytes_mut`], the only `&mut` into a stream's pixels.
//!
//! # Where the `&mut` points, and why that is sound
//! * **Default build**: straight into the handle's mapping, at no cost. The guard holds
//!   `&mut Stream`, so nothing reaches those bytes through the handle meanwhile, and the readers
//!   of this process copy pixels from their own mapping of the file (`mapping.rs`), so the only
//!   concurrent accesses are those of other processes — the seqlock's documented race, which
//!   validation discards. A process-local stream cannot be mapped twice: there, a reader thread
//!   copying during the guard's life is that same documented race, inside this process.
//! * **`strict`** (Miri, ThreadSanitizer, loom runs): into a staging buffer of this guard, filled
//!   from the frame (8-byte atomic loads) on first use and written back (8-byte atomic stores) by
//!   [`WriteGuard::settle`] — at commit, before any other write of the guard, and when an
//!   abandoned guard is dropped. Every access to shared pixels is then an aligned 8-byte relaxed
//!   atomic, the same on both sides, so a writer thread and reader threads of one process do not
//!   race in the Rust memory model even on a process-local stream (`tests/same_process.rs`, run
//!   under Miri). The cost is one extra frame copy each way, in verification builds only.
//!
//! Features stay additive: both builds have the same methods with the same signatures.

use crate::error::{Error, Result};
use crate::pixel::Pixel;
use crate::writer::WriteGuard;

/// The guard's staging buffer (`strict` only; nothing in the default build).
#[derive(Default)]
pub(crate) struct Staging {
    /// The frame being written, in whole words (8-aligned for every pixel type); `None` until
    /// `pixels_mut`/`bytes_mut` is called, and again after [`WriteGuard::settle`].
    #[cfg(feature = "strict")]
    words: Option<Box<[u64]>>,
}

impl WriteGuard<'_> {
    /// The frame's pixels, typed (checked against the stream's datatype), to write in place.
    /// What you store here is what [`Self::commit`] publishes.
    pub fn pixels_mut<T: Pixel>(&mut self) -> Result<&mut [T]> {
        let g = self.mapping().geometry();
        if T::DATATYPE != g.datatype {
            return Err(Error::TypeMismatch {
                stream: g.datatype,
                requested: T::DATATYPE,
            });
        }
        let n = g.nelement() as usize;
        let p = self.frame_ptr().cast::<T>();
        // SAFETY: `frame_ptr` points to `frame_bytes` = `nelement * size_of::<T>()` bytes (T's
        // size is the datatype's, checked above), 8-aligned (a page-aligned mapping at an
        // 8-aligned offset, a `Box<[u64]>` heap stream, or the `Box<[u64]>` staging buffer), so
        // aligned for every pixel type; any bit pattern is a valid `T: Pod`. Exclusive for the
        // borrow of `self`: see the module docs.
        Ok(unsafe { std::slice::from_raw_parts_mut(p, n) })
    }

    /// The frame's pixels as bytes, to write in place.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        let n = self.mapping().geometry().frame_bytes();
        let p = self.frame_ptr();
        // SAFETY: as in `pixels_mut`, for the `frame_bytes` bytes of the frame.
        unsafe { std::slice::from_raw_parts_mut(p, n) }
    }

    /// Where the `&mut` frame lives (module docs).
    #[cfg(not(feature = "strict"))]
    #[inline]
    fn frame_ptr(&mut self) -> *mut u8 {
        self.mapping().data_ptr()
    }

    /// Where the `&mut` frame lives (module docs): the staging buffer, filled from the frame now
    /// if this is the first in-place access since the last [`Self::settle`].
    #[cfg(feature = "strict")]
    fn frame_ptr(&mut self) -> *mut u8 {
        let map = &self.stream.map;
        let words = self.staged.words.get_or_insert_with(|| {
            let g = map.geometry();
            let n = g.frame_bytes();
            let mut words = vec![0u64; n.div_ceil(8)].into_boxed_slice();
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
            map.copy_out(g.regions.data.offset as usize, &mut bytes[..n]);
            words
        });
        words.as_mut_ptr().cast()
    }

    /// Writes what was staged by `pixels_mut`/`bytes_mut` back into the frame (8-byte atomic
    /// words) and forgets it. A no-op without `strict`, or with nothing staged. Called before
    /// every other write of the frame by this guard (commit, copies in) and on drop.
    #[inline]
    pub(crate) fn settle(&mut self) {
        #[cfg(feature = "strict")]
        if let Some(words) = self.staged.words.take() {
            let g = self.stream.map.geometry();
            let bytes: &[u8] = bytemuck::cast_slice(&words);
            self.stream
                .map
                .copy_in(g.regions.data.offset as usize, &bytes[..g.frame_bytes()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Datatype, Stream, StreamSpec};

    #[test]
    fn a_readers_pixel_copies_never_touch_the_memory_the_guard_lends_as_mut() {
        let dir = std::env::temp_dir().join(format!("shmim-twin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = StreamSpec::new(&[64, 64], Datatype::U16).dir(&dir);
        let mut stream = Stream::create("twin", &spec).unwrap();
        let mut reader = stream.poller();
        let mut guard = stream.write().unwrap();
        let lent = guard.bytes_mut().as_mut_ptr_range();
        let copied_from = reader.mapping().reader_pixels().unwrap().data();
        let copied = copied_from.addr()..copied_from.addr() + (64 * 64 * 2);
        assert!(
            copied.end <= lent.start.addr() || lent.end.addr() <= copied.start,
            "readers copy from {copied:x?}, the guard lends {lent:?}"
        );
        guard.pixels_mut::<u16>().unwrap().fill(7);
        assert_eq!(guard.commit().unwrap(), 1);
        // The same file: what the guard wrote is what the reader copies.
        let mut back = vec![0u16; 64 * 64];
        assert_eq!(reader.read_into(&mut back).unwrap(), 1);
        assert!(back.iter().all(|&p| p == 7));
        drop(reader);
        stream.destroy().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
