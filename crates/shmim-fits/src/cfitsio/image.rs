//! Image HDUs: create, describe, and read pixels (a cube's pixels are written without cfitsio,
//! [`crate::cube`]).
//!
//! Axis lengths are in FITS order (`NAXIS1` first, the fastest-varying axis), which is also the
//! order of a stream's `size[]`: nothing is transposed anywhere.

use std::ffi::{c_int, c_longlong, c_void};

use shmim_core::Datatype;

use super::FitsFile;
use crate::error::{Error, Result};

/// FITS allows up to 999 axes; we ask cfitsio for at most this many.
const MAX_AXES: usize = 999;

impl FitsFile {
    /// Appends an image HDU (the primary one in a new file) of cfitsio image type `bitpix`
    /// (`BYTE_IMG`, `USHORT_IMG`, …: the unsigned and signed-byte codes write `BZERO`).
    pub(crate) fn create_image(&mut self, bitpix: i32, naxes: &[u64]) -> Result<()> {
        let mut axes = lengths(naxes, self)?;
        let naxis = axes.len() as c_int;
        self.call("create image", |f, status| {
            // SAFETY: `axes` holds `naxis` lengths; cfitsio only reads them.
            unsafe { fitsio_sys::ffcrimll(f, bitpix, naxis, axes.as_mut_ptr(), status) };
        })
    }

    /// Where the current HDU's data starts, once its header is complete (cfitsio fixes it then).
    pub(crate) fn data_start(&mut self) -> Result<u64> {
        self.call("end the header", |f, status| {
            // SAFETY: only the file pointer and the status cell.
            unsafe { fitsio_sys::ffrdef(f, status) };
        })?;
        Ok(self.data_span()?.0)
    }

    /// Reads the image's first `bytes.len() / size` elements as `datatype` (applying BZERO and
    /// BSCALE) into `bytes`.
    pub(crate) fn read_pixels(&mut self, datatype: Datatype, bytes: &mut [u8]) -> Result<()> {
        let n = elements(datatype, bytes.as_ptr(), bytes.len(), self)?;
        let code = fits_datatype(datatype, self)?;
        let ptr = bytes.as_mut_ptr().cast::<c_void>();
        let mut anynul: c_int = 0;
        self.call("read pixels", |f, status| {
            // SAFETY: `ptr` is valid for writes of `n` aligned elements of the C type `code`
            // names; no null value is substituted (`nulval` null), `anynul` is an out cell.
            unsafe {
                fitsio_sys::ffgpv(
                    f,
                    code,
                    1,
                    n,
                    std::ptr::null_mut(),
                    ptr,
                    &mut anynul,
                    status,
                )
            };
        })
    }

    /// The current image HDU's axis lengths, `NAXIS1` first (empty for `NAXIS = 0`).
    pub(crate) fn image_axes(&mut self) -> Result<Vec<i64>> {
        let mut naxis: c_int = 0;
        self.call("read NAXIS", |f, status| {
            // SAFETY: `naxis` is a valid out cell.
            unsafe { fitsio_sys::ffgidm(f, &mut naxis, status) };
        })?;
        let n = usize::try_from(naxis).unwrap_or(0).min(MAX_AXES);
        let mut axes: Vec<c_longlong> = vec![0; n];
        if n > 0 {
            self.call("read NAXISn", |f, status| {
                // SAFETY: `axes` has room for the `n` lengths asked for.
                unsafe { fitsio_sys::ffgiszll(f, n as c_int, axes.as_mut_ptr(), status) };
            })?;
        }
        Ok(axes)
    }

    /// The image's equivalent type: its BITPIX, or the code of the type BZERO and BSCALE turn it
    /// into (`USHORT_IMG` for BITPIX 16 with BZERO 32768, `FLOAT_IMG` for a scaled one, …).
    pub(crate) fn equivalent_bitpix(&mut self) -> Result<i32> {
        let mut code: c_int = 0;
        self.call("read the image type", |f, status| {
            // SAFETY: `code` is a valid out cell.
            unsafe { fitsio_sys::ffgiet(f, &mut code, status) };
        })?;
        Ok(code)
    }

    /// Whether the current HDU is a tile-compressed image (a binary table cfitsio reads as an
    /// image).
    pub(crate) fn is_compressed_image(&mut self) -> Result<bool> {
        let mut compressed: c_int = 0;
        self.call("look for tile compression", |f, status| {
            // SAFETY: only the file pointer and the status cell.
            compressed = unsafe { fitsio_sys::fits_is_compressed_image(f, status) };
        })?;
        Ok(compressed != 0)
    }

    /// The current image's `BITPIX` as stored (8, 16, 32, 64, -32 or -64).
    pub(crate) fn stored_bitpix(&mut self) -> Result<i32> {
        let mut bitpix: c_int = 0;
        self.call("read BITPIX", |f, status| {
            // SAFETY: `bitpix` is a valid out cell.
            unsafe { fitsio_sys::ffgidt(f, &mut bitpix, status) };
        })?;
        Ok(bitpix)
    }

    /// Number of HDUs in the file.
    pub(crate) fn hdu_count(&mut self) -> Result<usize> {
        let mut n: c_int = 0;
        self.call("count HDUs", |f, status| {
            // SAFETY: `n` is a valid out cell.
            unsafe { fitsio_sys::ffthdu(f, &mut n, status) };
        })?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Moves to HDU `index` (0 = primary); returns its type (`IMAGE_HDU` = 0, tables 1 and 2).
    pub(crate) fn move_to_hdu(&mut self, index: usize) -> Result<i32> {
        let number = c_int::try_from(index + 1).unwrap_or(c_int::MAX);
        let mut kind: c_int = 0;
        self.call("move to HDU", |f, status| {
            // SAFETY: `kind` is a valid out cell.
            unsafe { fitsio_sys::ffmahd(f, number, &mut kind, status) };
        })?;
        Ok(kind)
    }

    /// Byte offsets of the current HDU's data and of its end, as its header declares them.
    pub(crate) fn data_span(&mut self) -> Result<(u64, u64)> {
        let (mut head, mut start, mut end): (c_longlong, c_longlong, c_longlong) = (0, 0, 0);
        self.call("locate the data", |f, status| {
            // SAFETY: three valid out cells.
            unsafe { fitsio_sys::ffghadll(f, &mut head, &mut start, &mut end, status) };
        })?;
        Ok((start.max(0) as u64, end.max(0) as u64))
    }
}

/// Axis lengths as cfitsio's `LONGLONG`s.
fn lengths(naxes: &[u64], file: &FitsFile) -> Result<Vec<c_longlong>> {
    naxes
        .iter()
        .map(|&n| c_longlong::try_from(n))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::Fits {
            op: "create image",
            path: file.path().to_path_buf(),
            status: 0,
            message: format!("axis lengths {naxes:?} do not fit in 64-bit signed integers"),
        })
}

fn to_ll(n: u64) -> c_longlong {
    c_longlong::try_from(n).unwrap_or(c_longlong::MAX)
}

/// cfitsio's datatype code for `datatype`'s C type; an error for types FITS cannot hold.
fn fits_datatype(datatype: Datatype, file: &FitsFile) -> Result<c_int> {
    crate::types::fits_type(datatype, &file.path().display().to_string()).map(|t| t.c_type)
}

/// The number of `datatype` elements in a buffer, checking it holds whole, aligned elements.
fn elements(datatype: Datatype, ptr: *const u8, len: usize, file: &FitsFile) -> Result<c_longlong> {
    let size = datatype.size();
    if len % size != 0 || (ptr as usize) % size != 0 {
        return Err(Error::Fits {
            op: "pixel buffer",
            path: file.path().to_path_buf(),
            status: 0,
            message: format!("{len} bytes at {ptr:p} are not whole, aligned {datatype} elements"),
        });
    }
    Ok(to_ll((len / size) as u64))
}
