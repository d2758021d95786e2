//! The thin safe layer over cfitsio (the raw `fitsio-sys` bindings): the crate's only unsafe code.
//!
//! Every call goes through [`FitsFile::call`], which turns cfitsio's status code and its error
//! message stack into [`crate::Error::Fits`], one call at a time in the process ([`file`]).
//! Paths are handed to cfitsio's *disk-file* functions (`ffdkinit`, `ffdkopn`), which do not
//! parse cfitsio's extended file-name syntax (a user's `a[1].fits` or `!x.fits` is a file name),
//! made literal for the rest ([`file`]).
//!
//! One `FitsFile` is never shared or moved between threads (it is neither `Send` nor `Sync`).

mod file;
mod header;
mod image;
mod table;

pub(crate) use file::{FitsFile, is_fits_date};
pub(crate) use table::{Column, ColumnValues};

/// cfitsio's HDU type code of an image (`IMAGE_HDU`).
pub(crate) const IMAGE_HDU: i32 = 0;
