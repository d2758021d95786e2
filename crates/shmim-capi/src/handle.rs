//! From a C `IMAGE` to shmim and back.
//!
//! Everything the library needs about a stream comes from the `IMAGE` fields on each call (legacy
//! programs copy `IMAGE` by value, and build one by hand for the slice helpers). What a call
//! checks is what memory safety needs, and no more: the `IMAGE`'s pointers and the sizes in the
//! header another process may rewrite at any time must keep every access inside the mapping
//! ([`view`]). Nothing else of the header is validated per call, because programs edit it in
//! place (milk reshapes open streams) and expect the library to carry on. [`fill`] writes an
//! `IMAGE` exactly as the legacy library lays its pointers out, from a stream handed over by
//! `shmim-core`.

use std::ffi::{CStr, c_char};
use std::ptr;

use shmim_core::legacy::View;
use shmim_core::validate::Geometry;
use shmim_core::{Datatype, RawStream, Stream};
use shmim_layout::{IMAGE_METADATA_SIZE, ImageType, LOCATION_CPU, Region, Regions, SemSlot};
use shmim_sync::{Field, Word};

use crate::error_codes::*;
use crate::image_struct::*;
use crate::report::{Failure, Outcome};

/// A copy of the caller's `IMAGE`, or `INVALIDARG` for NULL.
///
/// # Safety
/// `im` is NULL or points to a readable `IMAGE`.
pub(crate) unsafe fn read_image(im: *const IMAGE) -> Outcome<IMAGE> {
    if im.is_null() {
        return Err(Failure::invalid("NULL IMAGE pointer"));
    }
    // SAFETY: non-null and readable by the caller's contract; IMAGE is plain data (pointers,
    // integers, bytes), so any bit pattern is a value.
    Ok(unsafe { im.read() })
}

/// Whether an `IMAGE` describes a process-local image (`shared` = 0) or one built by hand:
/// `memsize` is 0, as the legacy library sets it (a shared stream's is its file size).
pub(crate) fn is_local(image: &IMAGE) -> bool {
    image.memsize == 0
}

/// The header of an `IMAGE`, checked for what reading it needs: not NULL, aligned, and for a
/// shared stream inside its mapping (`memsize` at least one header).
pub(crate) fn header(image: &IMAGE) -> Outcome<*mut IMAGE_METADATA> {
    checked_header(image.md, image.memsize).map(|()| image.md)
}

/// [`header`] on the two fields.
#[inline]
fn checked_header(md: *mut IMAGE_METADATA, memsize: u64) -> Outcome<()> {
    if md.is_null() {
        return Err(Failure::invalid(
            "IMAGE has no metadata pointer (md is NULL): not open",
        ));
    }
    if !md.is_aligned() {
        return Err(Failure::invalid("IMAGE metadata pointer is misaligned"));
    }
    if memsize != 0 && memsize < IMAGE_METADATA_SIZE as u64 {
        return Err(Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!(
                "IMAGE memsize {memsize} is smaller than the {IMAGE_METADATA_SIZE}-byte metadata"
            ),
        ));
    }
    Ok(())
}

/// The current value of a header field another process may write at any time: read once,
/// atomically and without ordering, then used as a number the call bounds.
///
/// # Safety
/// `p` points to a field of a header [`header`] accepted, readable for the call.
pub(crate) unsafe fn live<T: Word>(p: *mut T) -> T {
    // SAFETY: aligned (the header is, and every field is aligned within it: the ABI check) and
    // readable (caller contract); shmim reads shared header fields only atomically.
    unsafe { Field::new(p) }.peek()
}

/// Runs `f` on the shared stream a caller's `IMAGE` maps, bounded for one call, or on `None` for a
/// process-local image (no semaphores, no file: the callers answer as legacy does).
///
/// The regions come from the `IMAGE`'s pointers (set by `createIm`/`openIm` from the layout the
/// file was created with) and their lengths from the header's counts as they are now: the
/// semaphores and their PID tables from `md->sem`, the pixels from `md->imdatamemsize`, the
/// circular buffer from `md->CBsize`. Each region must lie inside the mapping, 8-aligned, after
/// the one before it in file order; then every access of the call, bounded by this snapshot,
/// stays inside the mapping and no two copies overlap, whatever another process writes into the
/// header meanwhile. Regions the C calls never touch (keywords, proc trace, `semctrl`,
/// `semstatus`, the temporal arrays) are left empty.
///
/// This runs on every `UpdateIm` and `sempost`: it reads the few `IMAGE` fields it needs rather
/// than copying the whole handle, and lends the view to `f` rather than returning it, so the
/// view (a few hundred bytes) is built in place and never copied.
///
/// # Safety
/// `im` is NULL or an `IMAGE` this library filled (or a copy of one) whose stream is still
/// mapped: `md` valid for `memsize` bytes for the duration of the call, as the legacy library
/// also requires.
#[inline]
pub(crate) unsafe fn with_stream<T>(
    im: *const IMAGE,
    f: impl FnOnce(Option<&View>) -> Outcome<T>,
) -> Outcome<T> {
    if im.is_null() {
        return Err(Failure::invalid("NULL IMAGE pointer"));
    }
    // SAFETY: `im` is a readable IMAGE (caller contract); each field is plain data.
    let (md, memsize) = unsafe { ((*im).md, (*im).memsize) };
    checked_header(md, memsize)?;
    if memsize == 0 {
        return f(None);
    }
    // SAFETY: as above.
    let (pixels, semfile, semlog, read_pid, write_pid, cb_md, cb_data) = unsafe {
        (
            (*im).array.raw,
            (*im).semfile,
            (*im).semlog,
            (*im).semReadPID,
            (*im).semWritePID,
            (*im).CircBuff_md,
            (*im).CBimdata,
        )
    };
    // SAFETY: each read is of a field of the header `checked_header` accepted, mapped for the
    // call.
    let (nb_sem, cb_size, frame, nelement, naxis, size, code, imagetype) = unsafe {
        (
            live(&raw mut (*md).sem),
            live(&raw mut (*md).CBsize),
            live(&raw mut (*md).imdatamemsize),
            live(&raw mut (*md).nelement),
            live(&raw mut (*md).naxis),
            [0, 1, 2].map(|a| live(&raw mut (*md).size[a])),
            live(&raw mut (*md).datatype),
            live(&raw mut (*md).imagetype),
        )
    };
    let mut bounds = Bounds {
        base: md.addr(),
        len: memsize,
        cursor: IMAGE_METADATA_SIZE as u64,
    };
    let sem = size_of::<SemSlot>() as u64;
    let sems = u64::from(nb_sem);
    let pid = size_of::<libc::pid_t>() as u64;
    let cbs = u64::from(cb_size);
    let data = bounds.take("pixels", pixels, frame, 1)?;
    let semaphores = bounds.take("semaphores", semfile, sem, sems)?;
    let semlog = bounds.take("log semaphore", semlog, sem, 1)?;
    let sem_read_pid = bounds.take("semReadPID", read_pid, pid, sems)?;
    let sem_write_pid = bounds.take("semWritePID", write_pid, pid, sems)?;
    let cb_md_size = size_of::<CBFRAMEMD>() as u64;
    let cb_md = bounds.take("circular-buffer metadata", cb_md, cb_md_size, cbs)?;
    let cb_data = bounds.take("circular-buffer frames", cb_data, frame, cbs)?;
    let empty = Region::default();
    let geometry = Geometry {
        name: String::new(),
        // No operation of the view reads the datatype (frame sizes are `imdatamemsize`): a code
        // rewritten in place is carried, not refused.
        datatype: Datatype::try_from(code).unwrap_or(Datatype::U8),
        naxis,
        size,
        imagetype,
        // GPU streams are never opened by this library (no CUDA).
        location: LOCATION_CPU,
        nb_sem,
        nb_kw: 0,
        nb_proctrace: 0,
        cb_size,
        regions: Regions {
            nelement,
            imdatamemsize: frame,
            metadata: Region {
                offset: 0,
                len: IMAGE_METADATA_SIZE as u64,
            },
            data,
            keywords: empty,
            semaphores,
            semlog,
            sem_read_pid,
            sem_write_pid,
            semctrl: empty,
            semstatus: empty,
            proctrace: empty,
            atime_array: empty,
            writetime_array: empty,
            cnt_array: empty,
            cb_md,
            cb_data,
            write_history: empty,
            file_size: memsize,
        },
    };
    // SAFETY: `md` is 8-aligned and valid for `memsize` bytes for the call (caller contract);
    // `take` placed every region inside them, 8-aligned.
    let view = unsafe { View::bounded(md.cast(), geometry) };
    f(Some(&view))
}

/// The write-history entries of a shared `IMAGE` (`IMAGESTRUCT_WRITEHISTORY` builds), checked to
/// lie inside the mapping, after the header, 8-aligned.
///
/// # Safety
/// As for [`view`].
#[cfg(feature = "writehistory")]
pub(crate) unsafe fn write_history(image: &IMAGE) -> Outcome<*mut FRAMEWRITEMD> {
    let md = header(image)?;
    let mut bounds = Bounds {
        base: md.addr(),
        len: image.memsize,
        cursor: IMAGE_METADATA_SIZE as u64,
    };
    let entry = size_of::<FRAMEWRITEMD>() as u64;
    let entries = u64::from(IMAGESTRUCT_FRAMEWRITEMDSIZE);
    bounds.take("write history", image.writehist, entry, entries)?;
    Ok(image.writehist)
}

/// Places the regions of a view inside a mapping, in file order.
struct Bounds {
    base: usize,
    len: u64,
    /// The end of the last region placed: the next one starts at or after it.
    cursor: u64,
}

impl Bounds {
    /// The region of `count` items of `item` bytes at `p`: empty if that is no byte (whatever
    /// `p`), else inside the mapping, 8-aligned and after the regions placed before.
    #[inline]
    fn take<T>(
        &mut self,
        what: &'static str,
        p: *const T,
        item: u64,
        count: u64,
    ) -> Outcome<Region> {
        let Some(len) = item.checked_mul(count) else {
            return Err(self.outside(what, p, u64::MAX));
        };
        if len == 0 {
            return Ok(Region::default());
        }
        let offset = p.addr().wrapping_sub(self.base) as u64;
        let end = offset.saturating_add(len);
        if p.is_null() || offset < self.cursor || end > self.len || offset % 8 != 0 {
            return Err(self.outside(what, p, len));
        }
        self.cursor = end;
        Ok(Region { offset, len })
    }

    /// Why `len` bytes of `what` at `p` cannot be placed.
    #[cold]
    #[inline(never)]
    fn outside<T>(&self, what: &str, p: *const T, len: u64) -> Failure {
        let detail = if p.is_null() {
            "NULL pointer".to_string()
        } else {
            format!(
                "{len} bytes at offset {}, mapping {} bytes, previous region ends at {}",
                p.addr().wrapping_sub(self.base) as u64,
                self.len,
                self.cursor
            )
        };
        Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!("the {what} of this IMAGE are not inside its mapping ({detail})"),
        )
    }
}

/// A stream name passed by C, checked.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
pub(crate) unsafe fn c_name<'a>(name: *const c_char) -> Outcome<&'a str> {
    if name.is_null() {
        return Err(Failure::invalid("NULL stream name"));
    }
    // SAFETY: a NUL-terminated C string by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(name) }.to_bytes();
    Ok(shmim_core::validate_name_bytes(bytes)?)
}

/// The name stored in an `IMAGE`, lossy.
pub(crate) fn image_name(image: &IMAGE) -> String {
    let bytes: Vec<u8> = image
        .name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Hands `stream` over to the caller's `IMAGE` (at `im`), filling every field the way the legacy
/// library does. `created`: by `createIm`, which increments `createcnt` and sets `used`; else by
/// `openIm`, which leaves both as they were (legacy never marks an opened handle used).
///
/// # Safety
/// `im` must be valid for writes of an `IMAGE`.
pub(crate) unsafe fn fill(
    im: *mut IMAGE,
    stream: Stream,
    name: &str,
    created: bool,
) -> Outcome<()> {
    let shared = stream.is_shared();
    let nb_sem = usize::from(stream.geometry().nb_sem);
    // The semaphore pointer array (legacy `semptr`), freed by close/destroy. Allocated before the
    // hand-over so that failing here still drops (closes) the stream; freed again if the
    // hand-over fails.
    let semptr: *mut *mut libc::sem_t = if shared {
        // SAFETY: plain allocation; checked for NULL below.
        let p = unsafe { libc::malloc(nb_sem.max(1) * size_of::<*mut libc::sem_t>()) };
        if p.is_null() {
            return Err(Failure::new(
                IMAGESTREAMIO_BADALLOC,
                "cannot allocate semptr",
            ));
        }
        p.cast()
    } else {
        ptr::null_mut()
    };
    let raw: RawStream = stream.into_raw().map_err(|_| {
        // SAFETY: `semptr` is NULL or the block allocated above, not handed out.
        unsafe { libc::free(semptr.cast()) };
        Failure::new(IMAGESTREAMIO_FAILURE, "stream still has readers")
    })?;
    let g = &raw.geometry;
    let r = &g.regions;
    let base = raw.base;
    let at = |region: Region| base.wrapping_add(region.offset as usize);
    for i in 0..nb_sem {
        // SAFETY: `semptr` holds `nb_sem` entries (allocated above).
        unsafe { *semptr.add(i) = at(r.semaphores).wrapping_add(i * 32).cast() };
    }
    let temporal = ImageType(g.imagetype).has_temporal_arrays();
    let or_null = |yes: bool, p: *mut u8| if yes { p } else { ptr::null_mut() };
    // SAFETY: `im` is writable (caller contract); the old values are read only for `createcnt`
    // and `used` (plain integers: any bit pattern is a value).
    let (createcnt, used) = unsafe {
        (
            ptr::addr_of!((*im).createcnt).read(),
            ptr::addr_of!((*im).used).read(),
        )
    };
    let mut image = IMAGE {
        name: [0; STRINGMAXLEN_IMAGE_NAME],
        used: if created { 1 } else { used },
        createcnt: if created {
            createcnt.wrapping_add(1)
        } else {
            createcnt
        },
        shmfd: raw.fd,
        memsize: raw.len as u64,
        semlog: at(r.semlog).cast(),
        md: base.cast(),
        array: IMAGE_ARRAY {
            raw: or_null(g.location < 0, at(r.data)).cast(),
        },
        semptr,
        kw: at(r.keywords).cast(),
        semfile: at(r.semaphores).cast(),
        semReadPID: at(r.sem_read_pid).cast(),
        semWritePID: at(r.sem_write_pid).cast(),
        semctrl: at(r.semctrl).cast(),
        semstatus: at(r.semstatus).cast(),
        streamproctrace: at(r.proctrace).cast(),
        flagarray: ptr::null_mut(),
        cntarray: or_null(temporal, at(r.cnt_array)).cast(),
        atimearray: or_null(temporal, at(r.atime_array)).cast(),
        writetimearray: or_null(temporal, at(r.writetime_array)).cast(),
        CircBuff_md: at(r.cb_md).cast(),
        CBimdata: or_null(g.cb_size > 0, at(r.cb_data)).cast(),
        #[cfg(feature = "writehistory")]
        writehist: at(r.write_history).cast(),
    };
    for (dst, src) in image.name.iter_mut().zip(name.bytes()) {
        *dst = src as c_char;
    }
    // SAFETY: writable by the caller's contract.
    unsafe { im.write(image) };
    Ok(())
}

/// Hands a process-local image over to the caller's `IMAGE` the way the legacy library lays it
/// out: `md`, the pixels and the keywords are three separate `calloc` blocks (`kw` NULL without
/// keywords, `array` NULL for a GPU location), so that programs may `free` them themselves (milk's
/// `delete_image` does `free(array); free(md); free(kw)`). `memsize` is 0 as in the legacy
/// library, `shmfd` -1 (legacy 0), `semptr` and every shared-memory pointer NULL. `stream` (made
/// by `Stream::create_local`, which validated and initialised it) is the template copied from;
/// `name` (any bytes: it names no file) goes into `md->name` and the `IMAGE`'s name, cut to
/// `STRINGMAXLEN_IMAGE_NAME - 1` bytes as legacy `strncpy`s it.
///
/// # Safety
/// `im` must be valid for writes of an `IMAGE`.
pub(crate) unsafe fn fill_local(im: *mut IMAGE, stream: Stream, name: &[u8]) -> Outcome<()> {
    let raw: RawStream = stream
        .into_raw()
        .map_err(|_| Failure::new(IMAGESTREAMIO_FAILURE, "stream still has readers"))?;
    let g = &raw.geometry;
    let r = &g.regions;
    let typesize = g.datatype.size();
    let nb_kw = usize::from(g.nb_kw);
    let alloc = |n: usize, size: usize| {
        // SAFETY: plain allocation (checked for NULL by the caller of the closure).
        unsafe { libc::calloc(n, size) }
    };
    let md = alloc(1, size_of::<IMAGE_METADATA>());
    let pixels = if g.location < 0 {
        alloc((g.nelement() as usize).max(1), typesize)
    } else {
        ptr::null_mut()
    };
    let kw = if nb_kw > 0 {
        alloc(nb_kw, size_of::<IMAGE_KEYWORD>())
    } else {
        ptr::null_mut()
    };
    let ok =
        !md.is_null() && (g.location >= 0 || !pixels.is_null()) && (nb_kw == 0 || !kw.is_null());
    let name = &name[..name.len().min(STRINGMAXLEN_IMAGE_NAME - 1)];
    if ok {
        // SAFETY: `raw.base` is the template's heap block, holding the header at 0 and the
        // keywords at `r.keywords` (nb_kw entries), within its `raw.len` bytes; the destinations
        // are the fresh blocks just allocated with those sizes (the ABI check makes the Rust and C
        // struct sizes equal).
        unsafe {
            ptr::copy_nonoverlapping(raw.base, md.cast::<u8>(), IMAGE_METADATA_SIZE);
            if nb_kw > 0 {
                ptr::copy_nonoverlapping(
                    raw.base.add(r.keywords.offset as usize),
                    kw.cast::<u8>(),
                    nb_kw * size_of::<IMAGE_KEYWORD>(),
                );
            }
        }
        let md = md.cast::<IMAGE_METADATA>();
        // SAFETY: `md` is the fresh header block, ours alone; `name` is shorter than the field,
        // whose last byte stays NUL.
        unsafe {
            (*md).name = [0; STRINGMAXLEN_IMAGE_NAME];
            ptr::copy_nonoverlapping(name.as_ptr(), (&raw mut (*md).name).cast(), name.len());
        }
    }
    // SAFETY: the template's block, given away by `into_raw` and not used again.
    unsafe { shmim_core::free_heap(raw.base, raw.len) };
    if !ok {
        // SAFETY: each is NULL or a block just allocated and not handed out.
        unsafe {
            libc::free(md);
            libc::free(pixels);
            libc::free(kw);
        }
        return Err(Failure::new(
            IMAGESTREAMIO_BADALLOC,
            "cannot allocate the process-local image",
        ));
    }
    // SAFETY: `im` is writable (caller contract); the old value is read only for `createcnt`.
    let createcnt = unsafe { ptr::addr_of!((*im).createcnt).read() };
    let mut image = closed(IMAGE_ARRAY { raw: pixels });
    image.used = 1;
    image.createcnt = createcnt.wrapping_add(1);
    image.md = md.cast();
    image.kw = kw.cast();
    for (dst, src) in image.name.iter_mut().zip(name) {
        *dst = *src as c_char;
    }
    // SAFETY: writable by the caller's contract.
    unsafe { im.write(image) };
    Ok(())
}

/// An `IMAGE` with every pointer NULL, `used` 0, `shmfd` -1, `memsize` 0 and the given array.
fn closed(array: IMAGE_ARRAY) -> IMAGE {
    IMAGE {
        name: [0; STRINGMAXLEN_IMAGE_NAME],
        used: 0,
        createcnt: 0,
        shmfd: -1,
        memsize: 0,
        semlog: ptr::null_mut(),
        md: ptr::null_mut(),
        array,
        semptr: ptr::null_mut(),
        kw: ptr::null_mut(),
        semfile: ptr::null_mut(),
        semReadPID: ptr::null_mut(),
        semWritePID: ptr::null_mut(),
        semctrl: ptr::null_mut(),
        semstatus: ptr::null_mut(),
        streamproctrace: ptr::null_mut(),
        flagarray: ptr::null_mut(),
        cntarray: ptr::null_mut(),
        atimearray: ptr::null_mut(),
        writetimearray: ptr::null_mut(),
        CircBuff_md: ptr::null_mut(),
        CBimdata: ptr::null_mut(),
        #[cfg(feature = "writehistory")]
        writehist: ptr::null_mut(),
    }
}

/// Releases what [`fill`] handed over: the `semptr` array, and the mapping and descriptor (or,
/// for a process-local image from [`fill_local`], its three blocks). Leaves the `IMAGE` closed (`used` 0, pointers NULL).
///
/// # Safety
/// `im` must be valid for reads and writes; its fields must describe memory this library handed
/// over and that is not used afterwards.
pub(crate) unsafe fn release(im: *mut IMAGE) -> Outcome<()> {
    // SAFETY: readable by the caller's contract.
    let image = unsafe { im.read() };
    if image.md.is_null() {
        return Err(Failure::invalid("IMAGE is not open (no metadata pointer)"));
    }
    let len = image.memsize as usize;
    // SAFETY: `semptr` is NULL or our `malloc`ed array (caller contract).
    unsafe { libc::free(image.semptr.cast()) };
    let mut result = Ok(());
    if is_local(&image) {
        // SAFETY: a process-local image: three `calloc` blocks from `fill_local` (or NULL), as
        // the legacy library, which also frees them here.
        unsafe {
            libc::free(image.array.raw);
            libc::free(image.md.cast());
            libc::free(image.kw.cast());
        }
    } else {
        // The descriptor and the mapping are released independently: a program that closed
        // `shmfd` itself (and set it to -1) still gets its mapping unmapped, as with legacy.
        if image.shmfd >= 0 {
            // SAFETY: `shmfd` is the descriptor the stream was handed over with; closing it first
            // is harmless for the mapping.
            unsafe { libc::close(image.shmfd) };
        }
        // SAFETY: `md`/`memsize` describe the mapping handed over by `fill` (caller contract).
        if len > 0 && unsafe { libc::munmap(image.md.cast(), len) } != 0 {
            result = Err(Failure::new(
                IMAGESTREAMIO_MMAP,
                format!("munmap: {}", std::io::Error::last_os_error()),
            ));
        }
    }
    let mut closed = closed(IMAGE_ARRAY {
        raw: ptr::null_mut(),
    });
    closed.name = image.name;
    closed.createcnt = image.createcnt;
    // SAFETY: writable by the caller's contract.
    unsafe { im.write(closed) };
    result
}
