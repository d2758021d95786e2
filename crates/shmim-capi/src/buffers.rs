//! Slices of cubes and circular buffers: where to write, where the last frame is.
//!
//! The five small helpers are `static inline` in `ImageStreamIO.h` (a consumer compiled at -O0
//! needs no symbol for them) and are also exported here, for programs that reach the library
//! through `dlsym` or another language's FFI.

use std::ffi::{c_uint, c_void};

use shmim_layout::ImageType;

use crate::error_codes::*;
use crate::handle::{Target, open_target, read_image, target};
use crate::image_struct::IMAGE;
use crate::report::{Failure, Outcome, boundary};

/// Number of slices: `size[2]` for a cube, else 1.
fn slices(v: &Target) -> u64 {
    let g = v.geometry();
    if g.naxis == 3 {
        u64::from(g.size[2])
    } else {
        1
    }
}

/// `*buffer` = start of slice `slice_index` of a circular buffer (`(imagetype & 0xF) ==
/// CIRCULAR_BUFFER`): `FAILURE` and NULL for an index ≥ `size[2]` (legacy rule: every index with
/// fewer than three axes). Any other image: `*buffer` = the pixels, for any index.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library; `buffer` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_readBufferAt(
    image: *const IMAGE,
    slice_index: c_uint,
    buffer: *mut *mut c_void,
) -> errno_t {
    boundary(
        c"ImageStreamIO_readBufferAt",
        |c| c,
        || {
            if buffer.is_null() {
                return Err(Failure::invalid("NULL buffer pointer"));
            }
            // SAFETY: forwarded to the caller.
            let at = unsafe { buffer_at(image, u64::from(slice_index)) };
            // SAFETY: `buffer` is writable (caller contract).
            unsafe { buffer.write(*at.as_ref().unwrap_or(&std::ptr::null_mut())) };
            at.map(|_| IMAGESTREAMIO_SUCCESS)
        },
    )
}

/// The legacy `readBufferAt` rule.
///
/// # Safety
/// As for [`ImageStreamIO_readBufferAt`].
unsafe fn buffer_at(image: *const IMAGE, index: u64) -> Outcome<*mut c_void> {
    // SAFETY: forwarded to the caller.
    let im = unsafe { read_image(image) }?;
    // SAFETY: forwarded to the caller.
    let v = unsafe { target(&im) }?;
    // SAFETY: the untyped member of a union of pointers.
    let start = unsafe { im.array.raw }.cast::<u8>();
    if start.is_null() {
        return Err(Failure::new(
            IMAGESTREAMIO_FAILURE,
            "the image has no pixels in this process (GPU stream)",
        ));
    }
    let g = v.geometry();
    if !ImageType(g.imagetype).is_circular_slices() {
        return Ok(start.cast());
    }
    // The legacy rule counts `size[2]` whatever `naxis` is: 0 (every index refused) for a
    // circular-buffer type with fewer than three axes.
    let count = u64::from(g.size[2]);
    if index >= count {
        return Err(Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!("slice {index} out of range (0..{count})"),
        ));
    }
    let slice_bytes = g.frame_bytes() / count as usize; // count ≥ 1 here
    Ok(start.wrapping_add(index as usize * slice_bytes).cast())
}

/// Number of slices: `md->size[2]` for three axes, else 1 (0 for a bad `IMAGE`).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_nbSlices(image: *const IMAGE) -> u64 {
    boundary(
        c"ImageStreamIO_nbSlices",
        |_| 0,
        || {
            // SAFETY: forwarded to the caller.
            Ok(slices(&unsafe { open_target(image) }?))
        },
    )
}

/// The slice the next frame should be written to: `(cnt1 + 1) mod nbSlices` (0 for a bad
/// `IMAGE`).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_writeIndex(image: *const IMAGE) -> u64 {
    boundary(
        c"ImageStreamIO_writeIndex",
        |_| 0,
        || {
            // SAFETY: forwarded to the caller.
            let v = unsafe { open_target(image) }?;
            Ok(v.cnt1().wrapping_add(1) % slices(&v))
        },
    )
}

/// The slice written last: `cnt1` for three axes, else 0.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_readLastWroteIndex(image: *const IMAGE) -> u64 {
    boundary(
        c"ImageStreamIO_readLastWroteIndex",
        |_| 0,
        || {
            // SAFETY: forwarded to the caller.
            let v = unsafe { open_target(image) }?;
            Ok(if v.geometry().naxis == 3 { v.cnt1() } else { 0 })
        },
    )
}

/// `readBufferAt(image, writeIndex(image), buffer)`.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library; `buffer` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_writeBuffer(
    image: *const IMAGE,
    buffer: *mut *mut c_void,
) -> errno_t {
    // SAFETY: forwarded to the caller.
    unsafe { at_index(image, buffer, ImageStreamIO_writeIndex(image)) }
}

/// `readBufferAt(image, readLastWroteIndex(image), buffer)`.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library; `buffer` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_readLastWroteBuffer(
    image: *const IMAGE,
    buffer: *mut *mut c_void,
) -> errno_t {
    // SAFETY: forwarded to the caller.
    unsafe { at_index(image, buffer, ImageStreamIO_readLastWroteIndex(image)) }
}

/// `readBufferAt` with a 64-bit index (an index past `c_uint` is past every slice).
///
/// # Safety
/// As for [`ImageStreamIO_readBufferAt`].
unsafe fn at_index(image: *const IMAGE, buffer: *mut *mut c_void, index: u64) -> errno_t {
    let index = c_uint::try_from(index).unwrap_or(c_uint::MAX);
    // SAFETY: forwarded to the caller.
    unsafe { ImageStreamIO_readBufferAt(image, index, buffer) }
}
