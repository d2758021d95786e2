//! Stream datatypes and FITS image types, both ways.
//!
//! | stream | FITS `BITPIX` | `BZERO` | cfitsio image type |
//! |---|---|---|---|
//! | u8  | 8   | —                    | `BYTE_IMG` |
//! | i8  | 8   | -128                 | `SBYTE_IMG` |
//! | u16 | 16  | 32768                | `USHORT_IMG` |
//! | i16 | 16  | —                    | `SHORT_IMG` |
//! | u32 | 32  | 2147483648           | `ULONG_IMG` |
//! | i32 | 32  | —                    | `LONG_IMG` |
//! | u64 | 64  | 9223372036854775808  | `ULONGLONG_IMG` |
//! | i64 | 64  | —                    | `LONGLONG_IMG` |
//! | f32 | -32 | —                    | `FLOAT_IMG` |
//! | f64 | -64 | —                    | `DOUBLE_IMG` |
//!
//! The unsigned types are the FITS standard's: the signed integer of the same width offset by
//! `BZERO` (section 5.3 of FITS 4.0). Loading goes through cfitsio's *equivalent type*, which
//! reads those offsets back as unsigned types and turns any other scaling (`BSCALE` ≠ 1, or a
//! `BZERO` that is not an unsigned offset) into a float type: `f32` for `BITPIX` 8 and 16, `f64`
//! for 32 and 64, pixels scaled as `BZERO + BSCALE × stored`.
//!
//! Complex and half-precision pixels have no FITS image type: saving them is an error naming the
//! type ([`crate::Error::Unsupported`]).

use shmim_core::Datatype;

use crate::error::{Error, Result};

/// cfitsio's codes for one stream datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FitsType {
    /// Image type for `ffcrim` (`BITPIX`, or the extended codes 10, 20, 40, 80 that add `BZERO`).
    pub(crate) image: i32,
    /// cfitsio datatype code of the element's C type (`TBYTE`, `TUSHORT`, …) for pixel I/O.
    pub(crate) c_type: i32,
}

/// cfitsio's codes for 64-bit elements as such (`TULONGLONG`, `TLONGLONG`).
const TULONGLONG: i32 = 80;
const TLONGLONG: i32 = 81;

/// The FITS codes of `datatype` (the legacy library's `ImageStreamIO_FITSIObitpix` and
/// `ImageStreamIO_FITSIOdatatype` tables, kept in `shmim-layout`); [`Error::Unsupported`] for
/// complex and half pixels, with `what` (a stream or file name) in the message.
///
/// The 64-bit integers are moved as `TULONGLONG` / `TLONGLONG`, not as the legacy table's
/// `TULONG` / `TLONG` (the same C width here): cfitsio 3.49 reads a `ULONGLONG_IMG` back as
/// `TULONG` with an overflow error for values ≥ 2^63.
pub(crate) fn fits_type(datatype: Datatype, what: &str) -> Result<FitsType> {
    let c_type = match datatype {
        Datatype::U64 => TULONGLONG,
        Datatype::I64 => TLONGLONG,
        other => other.fits_datatype(),
    };
    match (datatype.fits_bitpix(), c_type) {
        (image, c_type) if c_type > 0 => Ok(FitsType { image, c_type }),
        _ => Err(Error::Unsupported {
            datatype,
            what: what.to_owned(),
        }),
    }
}

/// The stream datatype of a cfitsio equivalent image type, if it is one of the ten.
pub(crate) fn datatype_of(image: i32) -> Option<Datatype> {
    FITS_DATATYPES
        .into_iter()
        .find(|d| d.fits_bitpix() == image)
}

/// The equivalent image type of an image stored with `stored` BITPIX and the `BZERO` and
/// `BSCALE` values given, from cfitsio's answer `equivalent`. cfitsio 3.49 answers
/// `LONGLONG_IMG` for the standard's unsigned 64-bit images (`BITPIX = 64`,
/// `BZERO = 2^63`): we answer `ULONGLONG_IMG`, as for the other widths.
pub(crate) fn equivalent(
    equivalent: i32,
    stored: i32,
    bzero: Option<f64>,
    bscale: Option<f64>,
) -> i32 {
    const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;
    let unscaled = bscale.is_none_or(|s| s == 1.0);
    if stored == 64 && equivalent == 64 && unscaled && bzero == Some(TWO_TO_63) {
        return Datatype::U64.fits_bitpix();
    }
    equivalent
}

/// Every datatype a FITS image can hold, in code order.
pub const FITS_DATATYPES: [Datatype; 10] = [
    Datatype::U8,
    Datatype::I8,
    Datatype::U16,
    Datatype::I16,
    Datatype::U32,
    Datatype::I32,
    Datatype::U64,
    Datatype::I64,
    Datatype::Float,
    Datatype::Double,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fits_datatype_maps_to_an_image_type_and_back() {
        for d in FITS_DATATYPES {
            let t = fits_type(d, "s").unwrap();
            assert_eq!(datatype_of(t.image), Some(d), "{d}");
        }
    }

    #[test]
    fn complex_and_half_are_refused_naming_the_type() {
        for d in [
            Datatype::ComplexFloat,
            Datatype::ComplexDouble,
            Datatype::Half,
        ] {
            let e = fits_type(d, "cam").unwrap_err();
            let text = e.to_string();
            assert!(text.contains(d.name()) && text.contains("cam"), "{text}");
        }
    }

    #[test]
    fn unsigned_64_bit_images_are_recognised_by_their_bzero() {
        let two63 = Some(9_223_372_036_854_775_808.0);
        assert_eq!(equivalent(64, 64, two63, None), 80);
        assert_eq!(equivalent(64, 64, two63, Some(1.0)), 80);
        assert_eq!(equivalent(64, 64, None, None), 64);
        assert_eq!(equivalent(64, 64, Some(1.0), None), 64);
        // A scaled one is whatever cfitsio says (a double).
        assert_eq!(equivalent(-64, 64, two63, Some(2.0)), -64);
        assert_eq!(equivalent(20, 16, Some(32768.0), None), 20);
    }

    #[test]
    fn scaled_images_are_not_mistaken_for_integers() {
        // BITPIX values cfitsio's equivalent type never returns for a stream type.
        for code in [0, 1, 7, -16, 24, 100] {
            assert_eq!(datatype_of(code), None);
        }
    }
}
