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
//! `shmim-sync` atomic views, pixels through raw-pointer copies. The one `&mut` into shared
//! pixels is a [`crate::WriteGuard`]'s (`pixels_mut`, `bytes_mut`), and the rules below keep it
//! exclusive in the Rust memory model, not just in the protocol.
//!
//! # Same-process readers never share the writer's pixel memory
//! A guard borrows its `Stream` mutably, so nothing else reaches the handle's mapping through the
//! handle while it lives. But [`crate::Reader`]s made from the handle keep this `Mapping` (they
//! live in other threads), and a reader copying pixels while the guard's `&mut [T]` is alive is
//! a data race — and an aliasing violation — *in this process*, which the seqlock's validation
//! cannot excuse. So readers copy pixels through [`Mapping::reader_pixels`]: for a stream file,
//! a second, read-only mapping of the pixel region, shared by all readers of the handle, made on
//! a reader's first copy — or at open when the handle is to be prefaulted or locked in memory
//! (then prefaulted and locked too: the readers' first frames must not pay page faults either).
//! The writer's `&mut` and the readers' loads then touch different
//! memory of this process — the same physical pages, exactly as a reader in another process
//! does — which reduces the case to the cross-process one of `docs/protocol.md` (the
//! documented seqlock race on the pixels). The readers' atomics on the header (`cnt0`, `write`,
//! semaphores) stay on the handle's mapping: the guard's `&mut` never covers them.
//!
//! A process-local stream (heap memory) cannot be mapped twice: its readers share the writer's
//! memory. Under the `strict` feature the guard's `&mut` is then a staging buffer written back
//! with 8-byte atomic words (see `writer_pixels.rs`), so there is no race at all (Miri proves it,
//! `tests/same_process.rs`); the default build keeps the documented seqlock race there.

use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use shmim_layout::{
    CbFrameMd, ImageKeyword, ImageMetadata, Region, SemSlot, StreamProcTrace, Timespec,
};
use shmim_sync::Field;
use shmim_sync::local_lock::LocalLock;
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
    /// Kept out of line: inline, these fields made every publish 3 ns slower (`shmim bench`).
    /// Made with the mapping, except for a borrowed one, where it is made on first use: the C
    /// library wraps its memory in a borrowed view on every call, and an allocation there made
    /// `UpdateIm` and `sempost` a third slower (`cargo xtask bench capi`).
    seldom: OnceLock<Box<Seldom>>,
}

/// What a mapping needs only now and then (a keyword write, a reader's first copy).
struct Seldom {
    /// Serialises keyword writers of this process that use this mapping (an OFD lock does not
    /// exclude users of one open file description from each other; see `keywords.rs`). A lock a
    /// `fork` cannot leave taken in the child.
    keyword_writers: LocalLock<()>,
    /// The process that made this mapping (and opened its file): a forked child shares the open
    /// file description with it, so the child's keyword writers lock a description of their own.
    made_by: i32,
    /// The readers' own mapping of the pixel region (module docs), made on first use, or when
    /// the handle is made if its memory is to be prefaulted or locked.
    reader_twin: OnceLock<PixelTwin>,
}

impl Seldom {
    fn new() -> Box<Self> {
        Box::new(Self {
            keyword_writers: LocalLock::new(()),
            made_by: shmim_sync::pid::current(),
            reader_twin: OnceLock::new(),
        })
    }
}

/// A second mapping of a stream file's pixel region, for readers.
struct PixelTwin {
    map: memmap2::MmapRaw,
    /// Offset of the pixel region's first byte in `map` (the map starts on a page boundary).
    data_at: usize,
}

impl PixelTwin {
    /// Maps the pages holding `data` (a non-empty region of `file`), read-only (readers only
    /// copy out), prefaulted: the first copy would touch them all anyway, and one `MAP_POPULATE`
    /// is cheaper than a fault per page. `lock_memory`: also `mlock` them.
    fn map(file: &File, path: &Path, data: Region, lock_memory: bool) -> Result<Self> {
        let page = rustix::param::page_size() as u64;
        let first = data.offset - data.offset % page;
        let len = usize::try_from(data.end() - first).map_err(|_| {
            Error::io(
                "mmap",
                path,
                std::io::Error::from(std::io::ErrorKind::OutOfMemory),
            )
        })?;
        let map = memmap2::MmapOptions::new()
            .offset(first)
            .len(len)
            .populate()
            .map_raw_read_only(file)
            .map_err(|e| Error::io("mmap", path, e))?;
        if lock_memory {
            map.lock().map_err(|e| Error::io("mlock", path, e))?;
        }
        Ok(Self {
            map,
            data_at: (data.offset - first) as usize,
        })
    }
}

/// Where [`crate::Reader`]s copy pixels from: the readers' own mapping of the pixel region for a
/// stream file, the handle's memory otherwise (module docs).
pub(crate) struct ReaderPixels<'m> {
    /// The pixel region's first byte (only read: the readers' mapping is read-only).
    data: *const u8,
    /// The pixel region in file offsets.
    region: Region,
    _mapping: PhantomData<&'m Mapping>,
}

impl ReaderPixels<'_> {
    /// Address of the pixel region's first byte in the memory readers copy from.
    #[cfg(test)]
    pub(crate) fn data(&self) -> *const u8 {
        self.data
    }

    /// A racy copy of `dst.len()` bytes at file offset `offset`, inside the pixel region
    /// (validated by the caller's seqlock).
    #[inline]
    pub(crate) fn copy_out(&self, offset: usize, dst: &mut [u8]) {
        let start = offset as u64;
        let inside = start >= self.region.offset
            && start
                .checked_add(dst.len() as u64)
                .is_some_and(|end| end <= self.region.end());
        assert!(inside, "reader copy outside the pixel region");
        let at = self
            .data
            .wrapping_add((start - self.region.offset) as usize);
        // SAFETY: the range is inside the pixel region (asserted), which `data` maps for as long
        // as the `Mapping` this borrows lives; `dst` is the caller's own buffer. Whole 8-byte
        // words around it are mapped too (page-granular mappings, or a `Box<[u64]>`).
        unsafe { shmim_sync::seqlock::copy_out(dst, at) }
    }
}

// SAFETY: `base` (and the readers' twin) stay valid as long as `backing`, wherever the value
// moves. Threads sharing a `Mapping` (a handle and its readers) reach the shared bytes through
// atomic views, raw-pointer copies, and one `&mut`: a `WriteGuard`'s pixels. That `&mut` is
// never aliased by another thread of this process: the guard holds `&mut Stream`, and readers
// copy pixels from their own mapping of the file (module docs), so what remains is the seqlock's
// documented race with a writer *elsewhere*, as between processes. A process-local stream has no
// second mapping: under `strict` its guard's `&mut` is a private staging buffer and every shared
// pixel access an 8-byte atomic word (race-free, proven by Miri); the default build keeps the
// documented seqlock race there. Keyword writers are serialised by `keyword_writers`.
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
        let (backing, geometry, seldom) = unsafe {
            (
                std::ptr::read(&this.backing),
                std::ptr::read(&this.geo),
                std::ptr::read(&this.seldom),
            )
        };
        // The readers' mapping is ours alone (no reader is left: the caller holds the only
        // handle): unmap it.
        drop(seldom);
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
            seldom: OnceLock::from(Seldom::new()),
        }
    }

    /// Wraps memory owned elsewhere (its seldom-used part made on first use: see
    /// [`Self::settled`]).
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
            seldom: OnceLock::new(),
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
            seldom: OnceLock::from(Seldom::new()),
        }
    }

    /// What the mapping needs now and then, made now for a borrowed mapping used this way for
    /// the first time. Only a borrowed mapping reaches `get_or_init` with the cell empty, and
    /// only the C library's per-call views stay borrowed that way ([`Self::settled`] is for any
    /// other holder): no other thread sees them, so no `fork` can catch the cell half made.
    fn seldom(&self) -> &Seldom {
        self.seldom.get_or_init(Seldom::new)
    }

    /// This mapping with its seldom-used part made now, as every owned mapping has it: for a
    /// borrowed mapping that a handle shared between threads will hold.
    pub(crate) fn settled(self) -> Self {
        self.seldom();
        self
    }

    /// The in-process half of the keyword writers' lock (see `keywords.rs`).
    pub(crate) fn keyword_writers(&self) -> &LocalLock<()> {
        &self.seldom().keyword_writers
    }

    /// Whether this process made the mapping, and so owns its open file description alone (a
    /// forked child shares it with its parent).
    pub(crate) fn made_here(&self) -> bool {
        self.seldom().made_by == shmim_sync::pid::current()
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

    /// Where readers copy pixels from (module docs): for a stream file, the readers' own mapping
    /// of the pixel region, made on first use (`mmap` can fail: the error names the file).
    #[inline]
    pub(crate) fn reader_pixels(&self) -> Result<ReaderPixels<'_>> {
        let region = self.geo.regions.data;
        let data = match self.reader_twin(false)? {
            Some(twin) => twin.map.as_ptr().wrapping_add(twin.data_at),
            None => self.base.cast_const().wrapping_add(region.offset as usize),
        };
        Ok(ReaderPixels {
            data,
            region,
            _mapping: PhantomData,
        })
    }

    /// Makes the readers' mapping of the pixels now, for a handle whose memory is prefaulted
    /// (and with `lock_memory`, locked): its readers' first frames must not pay page faults (nor
    /// an `mmap`) either. Nothing to do for memory that is not a stream file.
    pub(crate) fn prepare_readers(&self, lock_memory: bool) -> Result<()> {
        self.reader_twin(lock_memory).map(drop)
    }

    /// The readers' mapping of the pixel region, made now if there is none (with `mlock` if
    /// `lock_memory`); `None` where readers use the handle's memory.
    fn reader_twin(&self, lock_memory: bool) -> Result<Option<&PixelTwin>> {
        let region = self.geo.regions.data;
        let Backing::File { file, path, .. } = &self.backing else {
            return Ok(None);
        };
        if region.len == 0 {
            return Ok(None);
        }
        if let Some(twin) = self.seldom().reader_twin.get() {
            return Ok(Some(twin));
        }
        let made = PixelTwin::map(file, path, region, lock_memory)?;
        // Another reader of this handle may have made one meanwhile: keep one.
        Ok(Some(self.seldom().reader_twin.get_or_init(|| made)))
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

    /// A racy copy of a circular-buffer metadata entry (from [`Self::cb_md_ptr`]), decoded;
    /// validated by the caller's protocol, or ours under the write flag.
    pub(crate) fn copy_cb_md(&self, entry: *mut CbFrameMd) -> CbFrameMd {
        let mut md = [0u8; core::mem::size_of::<CbFrameMd>()];
        self.copy_out(self.offset_of(entry.cast()), &mut md);
        bytemuck::pod_read_unaligned(&md)
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
    // Miri (isolated) has only a virtual monotonic clock; its runs check memory, not time.
    #[cfg(miri)]
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    #[cfg(not(miri))]
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Tai);
    Timespec {
        tv_sec: t.tv_sec,
        tv_nsec: t.tv_nsec,
    }
}
