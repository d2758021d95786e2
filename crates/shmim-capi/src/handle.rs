//! From a C `IMAGE` to shmim and back.
//!
//! Everything the library needs about an open stream is derived from the `IMAGE` fields on each
//! call (legacy programs copy `IMAGE` by value): `md` and `memsize` give the memory, which
//! [`view`] validates like an open does. [`fill`] writes an `IMAGE` exactly as the legacy library
//! lays its pointers out, from a stream handed over by `shmim-core`.

use std::ffi::{CStr, c_char};
use std::ptr;

use shmim_core::legacy::View;
use shmim_core::{RawStream, Stream};
use shmim_layout::{ImageType, Region};

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

/// Releases what [`fill`] handed over: the `semptr` array, and the mapping and descriptor (or the
/// heap block of a process-local image). Leaves the `IMAGE` closed (`used` 0, pointers NULL).
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
    if image.shmfd >= 0 {
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
    } else {
        // SAFETY: a process-local image: `md`/`memsize` are the heap block `into_raw` gave away.
        unsafe { shmim_core::free_heap(image.md.cast(), len) };
    }
    // SAFETY: writable by the caller's contract.
    unsafe {
        im.write(IMAGE {
            name: image.name,
            used: 0,
            createcnt: image.createcnt,
            shmfd: -1,
            memsize: 0,
            semlog: ptr::null_mut(),
            md: ptr::null_mut(),
            array: IMAGE_ARRAY {
                raw: ptr::null_mut(),
            },
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
        })
    };
    result
}
