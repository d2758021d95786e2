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

/// An image's `BZERO` and `BSCALE` (the defaults 0 and 1 when the cards are missing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Scaling {
    pub(crate) bzero: f64,
    pub(crate) bscale: f64,
    /// `BZERO` is exactly 2^63: an integer literal equal to it, or a float that is (as astropy
    /// reads it).
    bzero_two_to_63: bool,
}

impl Scaling {
    /// The scaling of a header whose `BZERO` and `BSCALE` cards have these value texts; an
    /// error saying which card is not a finite number (cfitsio would read such an image
    /// unscaled; astropy refuses it).
    pub(crate) fn from_cards(bzero: Option<&str>, bscale: Option<&str>) -> Result<Self, String> {
        let parse = |name: &str, text: Option<&str>, default: f64| match text {
            None => Ok(Number::Float(default)),
            Some(t) => Number::parse(t)
                .ok_or_else(|| format!("{name} = {} is not a finite number", t.trim())),
        };
        let (zero, scale) = (parse("BZERO", bzero, 0.0)?, parse("BSCALE", bscale, 1.0)?);
        Ok(Self {
            bzero: zero.value(),
            bscale: scale.value(),
            bzero_two_to_63: match zero {
                Number::Int(i) => i == 1 << 63,
                Number::Float(x) => x == TWO_TO_63,
            },
        })
    }
}

const TWO_TO_63: f64 = 9_223_372_036_854_775_808.0;

/// A FITS number card's value: an integer literal exactly, anything else as a double.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return t.strip_prefix('+').unwrap_or(t).parse().ok().map(Self::Int);
        }
        t.replace(['D', 'd'], "E")
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Self::Float)
    }

    fn value(self) -> f64 {
        match self {
            Self::Int(i) => i as f64,
            Self::Float(x) => x,
        }
    }
}

/// The equivalent image type of an image stored with `stored` BITPIX and `scaling`, from
/// cfitsio's answer `equivalent`.
///
/// cfitsio 3.49 works out equivalent types for 8-, 16- and 32-bit images only: for `BITPIX = 64`
/// it answers `LONGLONG_IMG` whatever the scaling, and reading such an image as 64-bit integers
/// scales through a double and rounds back (0.5 × 3 reads as 1; `BZERO = 0.25` wraps to the
/// most negative integer). We answer as the standard and astropy read it: `LONGLONG_IMG`
/// unscaled, `ULONGLONG_IMG` for the unsigned offset (`BZERO = 2^63`, `BSCALE = 1`), and
/// `DOUBLE_IMG` for any other scaling (pixels `BZERO + BSCALE × stored`, in doubles).
pub(crate) fn equivalent(equivalent: i32, stored: i32, scaling: &Scaling) -> i32 {
    if stored != 64 {
        return equivalent;
    }
    match (
        scaling.bscale == 1.0,
        scaling.bzero == 0.0,
        scaling.bzero_two_to_63,
    ) {
        (true, true, _) => Datatype::I64.fits_bitpix(),
        (true, _, true) => Datatype::U64.fits_bitpix(),
        _ => Datatype::Double.fits_bitpix(),
    }
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

    fn scaling(bzero: Option<&str>, bscale: Option<&str>) -> Scaling {
        Scaling::from_cards(bzero, bscale).unwrap()
    }

    #[test]
    fn unsigned_64_bit_images_are_recognised_by_their_bzero() {
        let two63 = Some("9223372036854775808");
        // cfitsio answers LONGLONG_IMG (64) for all of these.
        assert_eq!(equivalent(64, 64, &scaling(two63, None)), 80);
        assert_eq!(equivalent(64, 64, &scaling(two63, Some("1.0"))), 80);
        assert_eq!(
            equivalent(64, 64, &scaling(Some("9.223372036854775808E18"), None)),
            80
        );
        assert_eq!(equivalent(64, 64, &scaling(None, None)), 64);
        assert_eq!(equivalent(64, 64, &scaling(Some("0"), Some("1"))), 64);
    }

    #[test]
    fn any_other_scaling_of_64_bit_images_is_a_double() {
        // cfitsio answers LONGLONG_IMG (64) for these too: its answer is not taken.
        for (bzero, bscale) in [
            (Some("1"), None),
            (Some("0.25"), None),
            (None, Some("0.5")),
            (Some("9223372036854775807"), None),
            (Some("9223372036854775808"), Some("2")),
        ] {
            assert_eq!(
                equivalent(64, 64, &scaling(bzero, bscale)),
                -64,
                "{bzero:?} {bscale:?}"
            );
        }
        // Other widths: cfitsio's answer.
        assert_eq!(equivalent(20, 16, &scaling(Some("32768"), None)), 20);
        assert_eq!(equivalent(-32, 16, &scaling(None, Some("2.5"))), -32);
    }

    #[test]
    fn scaling_cards_that_are_not_finite_numbers_are_refused() {
        for bad in ["NaN", "'abc'", "1.0E999", "", "T"] {
            let e = Scaling::from_cards(Some(bad), None).unwrap_err();
            assert!(e.contains("BZERO"), "{e}");
            let e = Scaling::from_cards(None, Some(bad)).unwrap_err();
            assert!(e.contains("BSCALE"), "{e}");
        }
        assert_eq!(scaling(Some("1.5D2"), Some("+2")).bzero, 150.0);
    }

    #[test]
    fn scaled_images_are_not_mistaken_for_integers() {
        // BITPIX values cfitsio's equivalent type never returns for a stream type.
        for code in [0, 1, 7, -16, 24, 100] {
            assert_eq!(datatype_of(code), None);
        }
    }
}
