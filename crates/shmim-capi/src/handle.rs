//! From a C `IMAGE` to shmim and back.
//!
//! Everything the library needs about an open stream is derived from the `IMAGE` fields on each
//! call (legacy programs copy `IMAGE` by value): `md` and `memsize` give the memory, which
//! [`view`] validates like an open does. [`fill`] writes an `IMAGE` exactly as the legacy library
//! lays its pointers out, from a stream handed over by `shmim-core`.

use std::ffi::{CStr, c_char};
use std::ptr;

use shmim_core::legacy::View;
use shmim_core::validate::Geometry;
use shmim_core::{RawStream, Stream};
use shmim_layout::{IMAGE_METADATA_SIZE, ImageType, Region};

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

/// A validated view of the stream an `IMAGE` points to.
///
/// # Safety
/// `image` must come from `ImageStreamIO_createIm`/`openIm` (or be a copy of one) whose stream is
/// still open: `md` valid for `memsize` bytes for the duration of the call, as the legacy library
/// also requires.
pub(crate) unsafe fn view(image: &IMAGE) -> Outcome<View> {
    if image.md.is_null() || image.used != 1 {
        return Err(Failure::invalid(
            "IMAGE is not open (no metadata pointer, or used != 1)",
        ));
    }
    if is_local(image) {
        return Err(Failure::invalid(
            "process-local image (shared = 0): it has no semaphores and no file",
        ));
    }
    if !image.md.is_aligned() {
        return Err(Failure::invalid("IMAGE metadata pointer is misaligned"));
    }
    let len = usize::try_from(image.memsize)
        .map_err(|_| Failure::invalid(format!("IMAGE memsize {} too large", image.memsize)))?;
    // SAFETY: aligned and valid for `len` bytes for this call by the caller's contract.
    unsafe { View::new(image.md.cast(), len) }.map_err(|e| {
        Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!("the IMAGE's memory no longer holds a valid stream: {e}"),
        )
    })
}

/// Whether an open `IMAGE` is a process-local image (`shared` = 0) made by this library: its
/// `memsize` is 0 (as in the legacy library; a shared stream's is its file size).
pub(crate) fn is_local(image: &IMAGE) -> bool {
    image.memsize == 0
}

/// What the calls that also work on process-local images need: the validated geometry and the
/// live counters. A local image's metadata is a separate 384-byte block (legacy layout), so only
/// its header is validated; it has no semaphores, no file and no circular buffer.
pub(crate) enum Target {
    /// A shared stream, fully validated.
    Shared(View),
    /// A process-local image: its header's geometry and `cnt1`.
    Local {
        /// The geometry of the header (its regions describe no memory).
        geometry: Geometry,
        /// `md->cnt1`.
        cnt1: u64,
    },
}

impl Target {
    /// The validated geometry.
    pub(crate) fn geometry(&self) -> &Geometry {
        match self {
            Self::Shared(v) => v.geometry(),
            Self::Local { geometry, .. } => geometry,
        }
    }

    /// `md->cnt1` now.
    pub(crate) fn cnt1(&self) -> u64 {
        match self {
            Self::Shared(v) => v.cnt1(),
            Self::Local { cnt1, .. } => *cnt1,
        }
    }
}

/// A validated [`Target`] for an open `IMAGE`, shared or local.
///
/// # Safety
/// As for [`view`]; for a local image, `md` must point to its live 384-byte metadata block.
pub(crate) unsafe fn target(image: &IMAGE) -> Outcome<Target> {
    if !is_local(image) {
        // SAFETY: forwarded to the caller.
        return unsafe { view(image) }.map(Target::Shared);
    }
    if image.md.is_null() || image.used != 1 {
        return Err(Failure::invalid(
            "IMAGE is not open (no metadata pointer, or used != 1)",
        ));
    }
    if !image.md.is_aligned() {
        return Err(Failure::invalid("IMAGE metadata pointer is misaligned"));
    }
    let mut header = [0u8; IMAGE_METADATA_SIZE];
    // SAFETY: a local image's `md` is a live block of one IMAGE_METADATA (caller contract),
    // which is IMAGE_METADATA_SIZE bytes (the ABI check); `header` is a distinct local array.
    unsafe {
        ptr::copy_nonoverlapping(
            image.md.cast::<u8>(),
            header.as_mut_ptr(),
            IMAGE_METADATA_SIZE,
        )
    };
    let geometry = shmim_core::legacy::validate_local_header(&header).map_err(|e| {
        Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!("the IMAGE's metadata is not a valid process-local image: {e}"),
        )
    })?;
    // SAFETY: as above; `cnt1` is inside the block, aligned since `md` is.
    let cnt1 = unsafe { ptr::addr_of!((*image.md).cnt1).read_volatile() };
    Ok(Target::Local { geometry, cnt1 })
}

/// Both steps: read the caller's `IMAGE` and make its [`Target`].
///
/// # Safety
/// As for [`read_image`] and [`target`].
pub(crate) unsafe fn open_target(im: *const IMAGE) -> Outcome<Target> {
    // SAFETY: forwarded.
    unsafe { target(&read_image(im)?) }
}

/// Both steps: read the caller's `IMAGE` and view its stream.
///
/// # Safety
/// As for [`read_image`] and [`view`].
pub(crate) unsafe fn open_view(im: *const IMAGE) -> Outcome<View> {
    // SAFETY: forwarded.
    unsafe { view(&read_image(im)?) }
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
/// library does. `created` increments `createcnt`.
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
    // SAFETY: `im` is writable (caller contract); the old value is read only for `createcnt`.
    let createcnt = unsafe { ptr::addr_of!((*im).createcnt).read() };
    let mut image = IMAGE {
        name: [0; STRINGMAXLEN_IMAGE_NAME],
        used: 1,
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
/// by `Stream::create_local`, which validated and initialised it) is the template copied from.
///
/// # Safety
/// `im` must be valid for writes of an `IMAGE`.
pub(crate) unsafe fn fill_local(im: *mut IMAGE, stream: Stream, name: &str) -> Outcome<()> {
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
    for (dst, src) in image.name.iter_mut().zip(name.bytes()) {
        *dst = src as c_char;
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
    } else if image.shmfd >= 0 {
        // SAFETY: `shmfd` is the descriptor the stream was handed over with; closing it first is
        // harmless for the mapping.
        unsafe { libc::close(image.shmfd) };
        // SAFETY: `md`/`memsize` describe the mapping handed over by `fill` (caller contract).
        if unsafe { libc::munmap(image.md.cast(), len) } != 0 {
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
