//! Slices of cubes and circular buffers: where to write, where the last frame is.
//!
//! Arithmetic on the struct, as in the legacy library: the helpers compute from `im->md` and
//! `im->array` only, so they work on an `IMAGE` built by hand (`IMAGE im = {0}; im.md = &md;
//! im.array.raw = buf;`, never opened), and they refuse only NULL pointers. Nothing is
//! dereferenced but the header; the pointer handed back is the caller's to use (a header edited
//! to lie gives a pointer that lies, as in legacy).
//!
//! The five small helpers are `static inline` in `ImageStreamIO.h` (a consumer compiled at -O0
//! needs no symbol for them) and are also exported here, for programs that reach the library
//! through `dlsym` or another language's FFI.

use std::ffi::{c_uint, c_void};

use shmim_core::Datatype;
use shmim_layout::ImageType;

use crate::error_codes::*;
use crate::handle::{header, live, read_image};
use crate::image_struct::IMAGE;
use crate::report::{Failure, Outcome, boundary};

/// The header fields the helpers compute from, read once.
struct Slices {
    /// `im->array.raw`.
    start: *mut u8,
    naxis: u8,
    size: [u32; 3],
    imagetype: u64,
    datatype: u8,
    cnt1: u64,
}

impl Slices {
    /// Reads them from the caller's `IMAGE` (`INVALIDARG` for a NULL `IMAGE` or `md`).
    ///
    /// # Safety
    /// `image` is NULL or a readable `IMAGE` whose `md` is NULL or a readable header.
    unsafe fn of(image: *const IMAGE) -> Outcome<Self> {
        // SAFETY: forwarded to the caller.
        let im = unsafe { read_image(image) }?;
        let md = header(&im)?;
        // SAFETY: each read is of a field of a readable header (caller contract), aligned
        // (`header`).
        unsafe {
            Ok(Self {
                start: im.array.raw.cast(),
                naxis: live(&raw mut (*md).naxis),
                size: [0, 1, 2].map(|a| live(&raw mut (*md).size[a])),
                imagetype: live(&raw mut (*md).imagetype),
                datatype: live(&raw mut (*md).datatype),
                cnt1: live(&raw mut (*md).cnt1),
            })
        }
    }

    /// `size[2]` for a cube, else 1.
    fn count(&self) -> u64 {
        if self.naxis == 3 {
            u64::from(self.size[2])
        } else {
            1
        }
    }

    /// `(cnt1 + 1) mod count` (0 with no slices).
    fn write_index(&self) -> u64 {
        self.cnt1
            .wrapping_add(1)
            .checked_rem(self.count())
            .unwrap_or(0)
    }

    /// `cnt1` for a cube, else 0.
    fn last_index(&self) -> u64 {
        if self.naxis == 3 { self.cnt1 } else { 0 }
    }

    /// The legacy `readBufferAt` rule: not a circular buffer (`imagetype & 0xF`), the pixels for
    /// any index; else slice `index` of `size[0] × size[1]` elements, `None` from `size[2]` on
    /// (whatever `naxis` is: every index with fewer than three axes and no `size[2]`).
    fn at(&self, index: u64) -> Outcome<Option<*mut c_void>> {
        if !ImageType(self.imagetype).is_circular_slices() {
            return Ok(Some(self.start.cast()));
        }
        if index >= u64::from(self.size[2]) {
            return Ok(None);
        }
        let element = Datatype::try_from(self.datatype).map_err(|e| {
            Failure::new(
                IMAGESTREAMIO_FAILURE,
                format!("{e}: no element size to step through the slices"),
            )
        })?;
        let slice = u64::from(self.size[0])
            .wrapping_mul(u64::from(self.size[1]))
            .wrapping_mul(element.size() as u64);
        Ok(Some(
            self.start
                .wrapping_add(index.wrapping_mul(slice) as usize)
                .cast(),
        ))
    }
}

/// `*buffer` = slice `index` of the image by the legacy rule, `SUCCESS`; `*buffer` = NULL and
/// `FAILURE`, quietly (an answer, not an error), past the last slice. The exported buffer
/// helpers all come here.
///
/// # Safety
/// As for [`ImageStreamIO_readBufferAt`].
unsafe fn buffer_at(
    func: &'static std::ffi::CStr,
    image: *const IMAGE,
    buffer: *mut *mut c_void,
    index: impl FnOnce(&Slices) -> u64,
) -> errno_t {
    boundary(
        func,
        |c| {
            if !buffer.is_null() {
                // SAFETY: writable (caller contract).
                unsafe { buffer.write(std::ptr::null_mut()) };
            }
            c
        },
        || {
            if buffer.is_null() {
                return Err(Failure::invalid("NULL buffer pointer"));
            }
            // SAFETY: forwarded to the caller.
            let s = unsafe { Slices::of(image) }?;
            let at = s.at(index(&s))?;
            // SAFETY: `buffer` is writable (caller contract).
            unsafe { buffer.write(at.unwrap_or(std::ptr::null_mut())) };
            Ok(if at.is_some() {
                IMAGESTREAMIO_SUCCESS
            } else {
                IMAGESTREAMIO_FAILURE
            })
        },
    )
}

/// `*buffer` = start of slice `slice_index` of a circular buffer (`(imagetype & 0xF) ==
/// CIRCULAR_BUFFER`): `FAILURE` and NULL for an index ≥ `size[2]` (legacy rule: every index with
/// fewer than three axes). Any other image: `*buffer` = the pixels, for any index.
///
/// # Safety
/// `image` must be NULL or a readable `IMAGE` whose `md` is NULL or a readable header (an open
/// stream, or one built by hand); `buffer` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_readBufferAt(
    image: *const IMAGE,
    slice_index: c_uint,
    buffer: *mut *mut c_void,
) -> errno_t {
    // SAFETY: forwarded to the caller.
    unsafe {
        buffer_at(c"ImageStreamIO_readBufferAt", image, buffer, |_| {
            u64::from(slice_index)
        })
    }
}

/// A helper returning a number computed from the header (0 for a NULL `IMAGE` or `md`).
///
/// # Safety
/// As for [`ImageStreamIO_readBufferAt`].
unsafe fn computed(
    func: &'static std::ffi::CStr,
    image: *const IMAGE,
    f: impl FnOnce(&Slices) -> u64,
) -> u64 {
    boundary(
        func,
        |_| 0,
        || {
            // SAFETY: forwarded to the caller.
            Ok(f(&unsafe { Slices::of(image) }?))
        },
    )
}

/// Number of slices: `md->size[2]` for three axes, else 1 (0 for a NULL `IMAGE`).
///
/// # Safety
/// As for [`ImageStreamIO_readBufferAt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_nbSlices(image: *const IMAGE) -> u64 {
    // SAFETY: forwarded to the caller.
    unsafe { computed(c"ImageStreamIO_nbSlices", image, Slices::count) }
}

/// The slice the next frame should be written to: `(cnt1 + 1) mod nbSlices` (0 for a NULL
/// `IMAGE`).
///
/// # Safety
/// As for [`ImageStreamIO_readBufferAt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_writeIndex(image: *const IMAGE) -> u64 {
    // SAFETY: forwarded to the caller.
    unsafe { computed(c"ImageStreamIO_writeIndex", image, Slices::write_index) }
}

/// The slice written last: `cnt1` for three axes, else 0.
///
/// # Safety
/// As for [`ImageStreamIO_readBufferAt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_readLastWroteIndex(image: *const IMAGE) -> u64 {
    // SAFETY: forwarded to the caller.
    unsafe {
        computed(
            c"ImageStreamIO_readLastWroteIndex",
            image,
            Slices::last_index,
        )
    }
}

/// `readBufferAt(image, writeIndex(image), buffer)`.
///
/// # Safety
/// As for [`ImageStreamIO_readBufferAt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_writeBuffer(
    image: *const IMAGE,
    buffer: *mut *mut c_void,
) -> errno_t {
    // SAFETY: forwarded to the caller.
    unsafe {
        buffer_at(
            c"ImageStreamIO_writeBuffer",
            image,
            buffer,
            Slices::write_index,
        )
    }
}

/// `readBufferAt(image, readLastWroteIndex(image), buffer)`.
///
/// # Safety
/// As for [`ImageStreamIO_readBufferAt`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_readLastWroteBuffer(
    image: *const IMAGE,
    buffer: *mut *mut c_void,
) -> errno_t {
    // SAFETY: forwarded to the caller.
    unsafe {
        buffer_at(
            c"ImageStreamIO_readLastWroteBuffer",
            image,
            buffer,
            Slices::last_index,
        )
    }
}
