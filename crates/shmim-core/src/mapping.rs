//! The memory a stream lives in, and bounds-checked pointers into it.
//!
//! A [`Mapping`] owns a shared file mapping (or, for process-local images, a heap block with the
//! same layout) and the [`Geometry`] validated when it was opened. Every pointer it hands out is
//! computed from that snapshot, never from the live header, and checked against the region it
//! belongs to; so a process that scribbles over the header later cannot make us touch memory
//! outside the mapping. What it cannot protect against is another process *truncating* the file
//! under the mapping: the kernel then raises SIGBUS on access (RELIABILITY.md).
//!
//! Nothing here creates a Rust reference into the shared bytes: shared fields are reached through
//! `shmim-sync` atomic views, pixels through raw-pointer copies.

use std::fs::File;
use std::path::{Path, PathBuf};

use shmim_layout::{
    CbFrameMd, ImageKeyword, ImageMetadata, Region, SemSlot, StreamProcTrace, Timespec,
};
use shmim_sync::Field;
use shmim_sync::semaphore::Semaphore;

use crate::error::{Error, Result};
use crate::validate::Geometry;

/// What holds the bytes.
pub(crate) enum Backing {
    /// A shared mapping of a stream file.
    File {
        /// Owns the mapping `base` points into (dropping it unmaps).
        _map: memmap2::MmapRaw,
        /// Kept open: the inode we mapped, for replacement checks.
        file: File,
        /// The path it was opened by (a symlink keeps its own name).
        path: PathBuf,
        /// Inode of the mapped file.
        ino: u64,
    },
    /// Process-local memory with the stream layout (`shared = 0`): a leaked `Box<[u64]>`, freed
    /// in `Drop` (kept raw so the box is never moved or retagged while `base` points into it).
    Heap(*mut [u64]),
    /// Memory owned by someone else (the C API's `IMAGE`), valid while this value lives by the
    /// contract of [`crate::Stream::borrow_raw`]; nothing is released on drop.
    Borrowed,
}

/// A stream's memory and validated geometry.
pub(crate) struct Mapping {
    base: *mut u8,
    len: usize,
    geo: Geometry,
    backing: Backing,
    /// Serialises keyword writers of this process that share this mapping's open file description
    /// (its OFD lock does not exclude them from each other; see `keywords.rs`).
    keyword_writers: std::sync::Mutex<()>,
}

// SAFETY: the mapping is plain memory shared with other processes anyway; every access from this
// crate goes through atomic views or raw-pointer copies (no `&`/`&mut` to shared bytes outlives a
// WriteGuard, which holds `&mut Stream`), so sharing the handle between threads adds no data race
// the cross-process protocol does not already handle. `base` stays valid as long as `backing`.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

/// A stream's memory handed over to a caller that manages it by hand (the C API, whose `IMAGE`
/// struct carries the pointers and is closed with `munmap`/`close`).
#[doc(hidden)]
#[derive(Debug)]
pub struct RawStream {
    /// Start of the mapping (the metadata header).
    pub base: *mut u8,
    /// Bytes mapped (the file size).
    pub len: usize,
    /// The open file descriptor, or -1 for a process-local image. The caller closes it.
    pub fd: i32,
    /// Inode of the file (0 for a process-local image).
    pub inode: u64,
    /// The validated geometry.
    pub geometry: Geometry,
}

impl Mapping {
    /// Gives up ownership: the mapping stays mapped (or the heap block allocated) and the file
    /// open until the caller releases them (`munmap(base, len)` + `close(fd)`, or
    /// [`free_heap`] for a process-local image).
    pub(crate) fn into_raw(self) -> RawStream {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so each field is moved out exactly once.
        let (backing, geometry) =
            unsafe { (std::ptr::read(&this.backing), std::ptr::read(&this.geo)) };
        let (fd, inode) = match backing {
            Backing::File {
                _map,
                file,
                ino,
                path,
            } => {
                std::mem::forget(_map);
                drop(path);
                (std::os::fd::IntoRawFd::into_raw_fd(file), ino)
            }
            Backing::Heap(_) | Backing::Borrowed => (-1, 0),
        };
        RawStream {
            base: this.base,
            len: this.len,
            fd,
            inode,
            geometry,
        }
    }
}

/// Frees the memory of a process-local image given away by `into_raw`.
///
/// # Safety
/// `base` and `len` must come from one `RawStream` of a process-local image (`fd == -1`), and
/// the memory must not be used afterwards.
#[doc(hidden)]
pub unsafe fn free_heap(base: *mut u8, len: usize) {
    let words = len.div_ceil(8);
    let block = std::ptr::slice_from_raw_parts_mut(base.cast::<u64>(), words);
    // SAFETY: by the caller's contract this is the block `Mapping::heap` leaked with
    // `Box::into_raw` (same element type and length).
    drop(unsafe { Box::from_raw(block) });
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Backing::Heap(block) = self.backing {
            // SAFETY: `block` came from `Box::into_raw` in `Mapping::heap` and is freed only here.
            drop(unsafe { Box::from_raw(block) });
        }
    }
}

/// A typed shared field of the metadata: `md!(mapping, cnt0)` is a `Field<'_, u64>`.
macro_rules! md {
    ($map:expr, $field:ident) => {{
        let md: *mut shmim_layout::ImageMetadata = $map.md_ptr();
        // SAFETY: `md_ptr` is the 8-aligned start of a live mapping at least one header long
        // (checked at open), so the field pointer is aligned and valid while `$map` lives; shmim
        // accesses shared metadata fields only through such atomic views.
        unsafe { shmim_sync::Field::new(&raw mut (*md).$field) }
    }};
}
pub(crate) use md;

impl Mapping {
    /// Wraps a validated file mapping.
    pub(crate) fn from_file(
        map: memmap2::MmapRaw,
        file: File,
        path: PathBuf,
        ino: u64,
        geo: Geometry,
    ) -> Self {
        let (base, len) = (map.as_mut_ptr(), map.len());
        debug_assert_eq!(len as u64, geo.regions.file_size);
        Self {
            base,
            len,
            geo,
            backing: Backing::File {
                _map: map,
                file,
                path,
                ino,
            },
            keyword_writers: std::sync::Mutex::new(()),
        }
    }

    /// Wraps memory owned elsewhere.
    ///
    /// # Safety
    /// `base` must be 8-aligned and valid for reads and writes of `geo.regions.file_size` bytes
    /// for the life of the returned value.
    pub(crate) unsafe fn borrowed(base: *mut u8, geo: Geometry) -> Self {
        Self {
            base,
            len: geo.regions.file_size as usize,
            geo,
            backing: Backing::Borrowed,
            keyword_writers: std::sync::Mutex::new(()),
        }
    }

    /// Wraps a zeroed heap block for a process-local image.
    pub(crate) fn heap(geo: Geometry) -> Self {
        let words = geo.regions.file_size.div_ceil(8) as usize;
        let block = Box::into_raw(vec![0u64; words].into_boxed_slice());
        let base = block.cast::<u8>();
        Self {
            base,
            len: geo.regions.file_size as usize,
            geo,
            backing: Backing::Heap(block),
            keyword_writers: std::sync::Mutex::new(()),
        }
    }

    /// The in-process half of the keyword writers' lock (see `keywords.rs`).
    pub(crate) fn keyword_writers(&self) -> &std::sync::Mutex<()> {
        &self.keyword_writers
    }

    pub(crate) fn geometry(&self) -> &Geometry {
        &self.geo
    }

    /// The file, its path and inode; `None` for a process-local image.
    pub(crate) fn file(&self) -> Option<(&File, &Path, u64)> {
        match &self.backing {
            Backing::File {
                file, path, ino, ..
            } => Some((file, path, *ino)),
            Backing::Heap(_) | Backing::Borrowed => None,
        }
    }

    /// Whether the memory is a shared file mapping (not a process-local or borrowed block).
    pub(crate) fn is_file(&self) -> bool {
        matches!(self.backing, Backing::File { .. })
    }

    /// The metadata header (raw; use [`md!`] for fields).
    #[inline]
    pub(crate) fn md_ptr(&self) -> *mut ImageMetadata {
        self.base.cast()
    }

    /// Pointer to item `index` of `size` bytes in `region`, or an error naming `what`.
    #[inline]
    fn item(&self, region: Region, size: u64, index: u64, what: &'static str) -> Result<*mut u8> {
        let count = region.len.checked_div(size).unwrap_or(0);
        if index >= count {
            return Err(Error::IndexOutOfRange { what, index, count });
        }
        // In bounds: region.offset + region.len ≤ file size = mapping length (validated).
        Ok(self
            .base
            .wrapping_add((region.offset + index * size) as usize))
    }

    /// Pixel data of the current frame (`imdatamemsize` bytes).
    #[inline]
    pub(crate) fn data_ptr(&self) -> *mut u8 {
        self.base
            .wrapping_add(self.geo.regions.data.offset as usize)
    }

    /// Semaphore `i`.
    #[inline]
    pub(crate) fn sem(&self, i: u16) -> Result<Semaphore<'_>> {
        let p = self.item(self.geo.regions.semaphores, 32, u64::from(i), "semaphore")?;
        // SAFETY: `p` is an 8-aligned, in-bounds `sem_t` slot of this mapping (regions are
        // 8-aligned), valid while `self` lives; initialised at creation.
        Ok(unsafe { Semaphore::from_slot(p.cast::<SemSlot>()) })
    }

    /// The log semaphore.
    pub(crate) fn semlog(&self) -> Semaphore<'_> {
        let p = self
            .base
            .wrapping_add(self.geo.regions.semlog.offset as usize);
        // SAFETY: the log semaphore slot is always present, 8-aligned and in bounds.
        unsafe { Semaphore::from_slot(p.cast::<SemSlot>()) }
    }

    /// An `i32`/`u32` array entry of the semaphore tables.
    #[inline]
    fn sem_table<T: shmim_sync::Word>(
        &self,
        region: Region,
        i: u16,
        what: &'static str,
    ) -> Result<Field<'_, T>> {
        let p = self.item(region, 4, u64::from(i), what)?;
        // SAFETY: in bounds, 4-aligned (region offsets are 8-aligned), valid while `self` lives,
        // accessed only atomically.
        Ok(unsafe { Field::new(p.cast::<T>()) })
    }

    /// `semReadPID[i]`.
    pub(crate) fn sem_read_pid(&self, i: u16) -> Result<Field<'_, i32>> {
        self.sem_table(self.geo.regions.sem_read_pid, i, "semaphore")
    }

    /// `semWritePID[i]`.
    pub(crate) fn sem_write_pid(&self, i: u16) -> Result<Field<'_, i32>> {
        self.sem_table(self.geo.regions.sem_write_pid, i, "semaphore")
    }

    /// `semctrl[i]`.
    pub(crate) fn semctrl(&self, i: u16) -> Result<Field<'_, u32>> {
        self.sem_table(self.geo.regions.semctrl, i, "semaphore")
    }

    /// `semstatus[i]`.
    pub(crate) fn semstatus(&self, i: u16) -> Result<Field<'_, u32>> {
        self.sem_table(self.geo.regions.semstatus, i, "semaphore")
    }

    /// Keyword entry `i`.
    pub(crate) fn keyword_ptr(&self, i: u16) -> Result<*mut ImageKeyword> {
        let size = core::mem::size_of::<ImageKeyword>() as u64;
        Ok(self
            .item(self.geo.regions.keywords, size, u64::from(i), "keyword")?
            .cast())
    }

    /// Proc-trace entry `i`.
    pub(crate) fn proctrace_ptr(&self, i: u16) -> Result<*mut StreamProcTrace> {
        let size = core::mem::size_of::<StreamProcTrace>() as u64;
        Ok(self
            .item(self.geo.regions.proctrace, size, u64::from(i), "proc-trace")?
            .cast())
    }

    /// Circular-buffer metadata entry `i`.
    pub(crate) fn cb_md_ptr(&self, i: u32) -> Result<*mut CbFrameMd> {
        let size = core::mem::size_of::<CbFrameMd>() as u64;
        Ok(self
            .item(
                self.geo.regions.cb_md,
                size,
                u64::from(i),
                "circular-buffer frame",
            )?
            .cast())
    }

    /// Circular-buffer frame `i` (`imdatamemsize` bytes).
    pub(crate) fn cb_frame_ptr(&self, i: u32) -> Result<*mut u8> {
        let size = self.geo.regions.imdatamemsize.max(1);
        self.item(
            self.geo.regions.cb_data,
            size,
            u64::from(i),
            "circular-buffer frame",
        )
    }

    /// A racy copy of `dst.len()` bytes at `offset` (validated by the caller's protocol, or
    /// best-effort for monitoring).
    pub(crate) fn copy_out(&self, offset: usize, dst: &mut [u8]) {
        let at = self.range(offset, dst.len());
        // SAFETY: the range is inside the live mapping (asserted) and `dst` is our own buffer.
        unsafe { shmim_sync::seqlock::copy_out(dst, at) }
    }

    /// [`Self::copy_out`] with relaxed atomic words always (small entries several handles may
    /// write: keywords, proc trace).
    pub(crate) fn copy_out_words(&self, offset: usize, dst: &mut [u8]) {
        let at = self.range(offset, dst.len());
        // SAFETY: the range is inside the live mapping (asserted) and `dst` is our own buffer.
        unsafe { shmim_sync::seqlock::copy_out_words(dst, at) }
    }

    /// [`Self::copy_in`] with relaxed atomic words always.
    pub(crate) fn copy_in_words(&self, offset: usize, src: &[u8]) {
        let at = self.range(offset, src.len());
        // SAFETY: the range is inside the live mapping (asserted); `src` cannot alias it (see
        // `copy_in`).
        unsafe { shmim_sync::seqlock::copy_in_words(at, src) }
    }

    /// The pointer to `len` bytes at `offset`, asserting they lie inside the mapping (a bug in
    /// this crate otherwise: every offset comes from the validated geometry).
    fn range(&self, offset: usize, len: usize) -> *mut u8 {
        let inside = offset.checked_add(len).is_some_and(|end| end <= self.len);
        assert!(inside, "copy outside the mapping");
        self.base.wrapping_add(offset)
    }

    /// Offset of a pointer obtained from this mapping.
    pub(crate) fn offset_of(&self, p: *const u8) -> usize {
        p.addr() - self.base.addr()
    }

    /// Copies `src` into the mapping at `offset` (caller holds the write flag).
    pub(crate) fn copy_in(&self, offset: usize, src: &[u8]) {
        let at = self.range(offset, src.len());
        // SAFETY: the range is inside the live mapping (asserted); `src` is a caller buffer, which
        // cannot alias the mapping because no reference into the mapping is ever handed out
        // except a WriteGuard's, which borrows the stream mutably.
        unsafe { shmim_sync::seqlock::copy_in(at, src) }
    }

    /// Stores a time into a shared `timespec` (two word stores, published by a later release).
    pub(crate) fn set_time(p: *mut Timespec, t: Timespec) {
        // SAFETY: callers pass a pointer into a live mapping obtained from this type, 8-aligned.
        unsafe {
            Field::new(&raw mut (*p).tv_sec).set(t.tv_sec);
            Field::new(&raw mut (*p).tv_nsec).set(t.tv_nsec);
        }
    }
}

/// The stream clock: `CLOCK_TAI` (as the legacy `CLOCK_ISIO` on Linux).
pub(crate) fn now() -> Timespec {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Tai);
    Timespec {
        tv_sec: t.tv_sec,
        tv_nsec: t.tv_nsec,
    }
}
