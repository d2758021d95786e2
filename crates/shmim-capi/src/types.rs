//! Datatype helpers: sizes, names, FITS codes (format.md's datatype table).

use std::ffi::{CStr, CString, c_char, c_int};
use std::sync::OnceLock;

use shmim_core::Datatype;

use crate::report::{Outcome, boundary};

/// Bytes per element of datatype `datatype`, -1 for an unknown code.
#[unsafe(no_mangle)]
pub extern "C" fn ImageStreamIO_typesize(datatype: u8) -> c_int {
    table(c"ImageStreamIO_typesize", || {
        Datatype::size_of_code(datatype)
    })
}

/// The long name of `datatype` (`"FLT32"`, …), `"unknown"` for a bad code.
#[unsafe(no_mangle)]
pub extern "C" fn ImageStreamIO_typename(datatype: u8) -> *const c_char {
    name_of(c"ImageStreamIO_typename", datatype, 0, c"unknown")
}

/// The four-character name of `datatype` (`" FLT"`, …), `" ???"` for a bad code.
#[unsafe(no_mangle)]
pub extern "C" fn ImageStreamIO_typename_short(datatype: u8) -> *const c_char {
    name_of(c"ImageStreamIO_typename_short", datatype, 1, c" ???")
}

/// The seven-character name of `datatype` (`"FLOAT  "`, …), `"unknown"` for a bad code.
#[unsafe(no_mangle)]
pub extern "C" fn ImageStreamIO_typename_7(datatype: u8) -> *const c_char {
    name_of(c"ImageStreamIO_typename_7", datatype, 2, c"unknown")
}

/// 0 if `datatype` is a valid pixel type (complex ones only when `complex_allowed` is non-zero),
/// -1 otherwise.
#[unsafe(no_mangle)]
pub extern "C" fn ImageStreamIO_checktype(datatype: u8, complex_allowed: c_int) -> c_int {
    table(c"ImageStreamIO_checktype", || {
        Datatype::checktype(datatype, complex_allowed != 0)
    })
}

/// The datatype a floating-point computation on `datatype` should use, -1 for a bad code.
#[unsafe(no_mangle)]
pub extern "C" fn ImageStreamIO_floattype(datatype: u8) -> c_int {
    table(c"ImageStreamIO_floattype", || {
        Datatype::try_from(datatype).map_or(-1, Datatype::floattype)
    })
}

/// The CFITSIO `BITPIX` of `datatype`, -1 where FITS has none.
#[unsafe(no_mangle)]
pub extern "C" fn ImageStreamIO_FITSIObitpix(datatype: u8) -> c_int {
    table(c"ImageStreamIO_FITSIObitpix", || {
        Datatype::try_from(datatype).map_or(-1, Datatype::fits_bitpix)
    })
}

/// The CFITSIO datatype code of `datatype`, -1 where FITS has none.
#[unsafe(no_mangle)]
pub extern "C" fn ImageStreamIO_FITSIOdatatype(datatype: u8) -> c_int {
    table(c"ImageStreamIO_FITSIOdatatype", || {
        Datatype::try_from(datatype).map_or(-1, Datatype::fits_datatype)
    })
}

/// A table lookup behind the panic boundary (-1 if it ever panicked).
fn table(func: &'static CStr, lookup: impl FnOnce() -> c_int) -> c_int {
    boundary(func, |_| -1, || Ok(lookup()))
}

/// `[long, short, 7-char]` names of every datatype as C strings, built once from the table.
fn names() -> &'static [[CString; 3]] {
    static NAMES: OnceLock<Vec<[CString; 3]>> = OnceLock::new();
    NAMES.get_or_init(|| {
        Datatype::ALL
            .iter()
            .map(|t| [t.name(), t.short_name(), t.name7()].map(crate::report::c_string))
            .collect()
    })
}

fn name_of(
    func: &'static CStr,
    datatype: u8,
    column: usize,
    unknown: &'static CStr,
) -> *const c_char {
    boundary(
        func,
        |_| unknown.as_ptr(),
        || -> Outcome<_> {
            Ok(match Datatype::try_from(datatype) {
                Ok(t) => names()[usize::from(t.code()) - 1][column].as_ptr(),
                Err(_) => unknown.as_ptr(),
            })
        },
    )
}
