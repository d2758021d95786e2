//! Pixel datatypes: the legacy `_DATATYPE_*` codes and their tables.

use bytemuck::{Pod, Zeroable};

/// `complex_float`: two `f32`, real then imaginary.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct ComplexF32 {
    /// Real part.
    pub re: f32,
    /// Imaginary part.
    pub im: f32,
}

/// `complex_double`: two `f64`, real then imaginary.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Pod, Zeroable)]
pub struct ComplexF64 {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
}

const _: () = {
    assert!(core::mem::size_of::<ComplexF32>() == 8 && core::mem::align_of::<ComplexF32>() == 4);
    assert!(core::mem::size_of::<ComplexF64>() == 16 && core::mem::align_of::<ComplexF64>() == 8);
};

/// An unknown or unusable datatype code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatatypeError {
    /// The code is not one of the legacy `_DATATYPE_*` pixel codes 1..=13.
    #[error("unknown datatype code {0} (pixel types are 1..=13)")]
    Unknown(u8),
}

/// A pixel datatype (`md->datatype`). Every legacy pixel code, complex and half included.
///
/// Code 0 (`_DATATYPE_UNINITIALIZED`) and code 20 (`_DATATYPE_EVENT_UI8_UI8_UI16_UI8`, reserved by
/// the legacy header) are not pixel types and are refused by [`Datatype::try_from`].
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Datatype {
    /// `_DATATYPE_UINT8`
    U8 = 1,
    /// `_DATATYPE_INT8`
    I8 = 2,
    /// `_DATATYPE_UINT16`
    U16 = 3,
    /// `_DATATYPE_INT16`
    I16 = 4,
    /// `_DATATYPE_UINT32`
    U32 = 5,
    /// `_DATATYPE_INT32`
    I32 = 6,
    /// `_DATATYPE_UINT64`
    U64 = 7,
    /// `_DATATYPE_INT64`
    I64 = 8,
    /// `_DATATYPE_FLOAT` (f32)
    Float = 9,
    /// `_DATATYPE_DOUBLE` (f64)
    Double = 10,
    /// `_DATATYPE_COMPLEX_FLOAT` ([`ComplexF32`])
    ComplexFloat = 11,
    /// `_DATATYPE_COMPLEX_DOUBLE` ([`ComplexF64`])
    ComplexDouble = 12,
    /// `_DATATYPE_HALF` (IEEE binary16, stored as `u16` bits)
    Half = 13,
}

/// `_DATATYPE_UNINITIALIZED`.
pub const DATATYPE_UNINITIALIZED: u8 = 0;
/// `_DATATYPE_EVENT_UI8_UI8_UI16_UI8`: reserved by the legacy header, not valid for streams.
pub const DATATYPE_EVENT_UI8_UI8_UI16_UI8: u8 = 20;
/// `SIZEOF_DATATYPE_EVENT_UI8_UI8_UI16_UI8`.
pub const SIZEOF_DATATYPE_EVENT_UI8_UI8_UI16_UI8: usize = 5;

/// One row of the datatype table of format.md.
struct Row {
    size: usize,
    name: &'static str,
    short: &'static str,
    name7: &'static str,
    floattype: i32,
    fits_datatype: i32,
    fits_bitpix: i32,
}

/// Indexed by `code - 1`. Columns: element size, long name, short name, 7-char name, floattype,
/// CFITSIO datatype, CFITSIO BITPIX.
#[rustfmt::skip]
const TABLE: [Row; 13] = [
    Row { size: 1, name: "UINT8", short: " UI8", name7: "UINT8  ", floattype: 9, fits_datatype: 11, fits_bitpix: 8 },
    Row { size: 1, name: "INT8", short: "  I8", name7: "INT8   ", floattype: 9, fits_datatype: 12, fits_bitpix: 10 },
    Row { size: 2, name: "UINT16", short: "UI16", name7: "UINT16 ", floattype: 9, fits_datatype: 20, fits_bitpix: 20 },
    Row { size: 2, name: "INT16", short: " I16", name7: "INT16  ", floattype: 9, fits_datatype: 21, fits_bitpix: 16 },
    Row { size: 4, name: "UINT32", short: "UI32", name7: "UINT32 ", floattype: 9, fits_datatype: 30, fits_bitpix: 40 },
    Row { size: 4, name: "INT32", short: " I32", name7: "INT32  ", floattype: 9, fits_datatype: 31, fits_bitpix: 32 },
    Row { size: 8, name: "UINT64", short: "UI64", name7: "UINT64 ", floattype: 10, fits_datatype: 40, fits_bitpix: 80 },
    Row { size: 8, name: "INT64", short: " I64", name7: "INT64  ", floattype: 10, fits_datatype: 41, fits_bitpix: 64 },
    Row { size: 4, name: "FLT32", short: " FLT", name7: "FLOAT  ", floattype: 9, fits_datatype: 42, fits_bitpix: -32 },
    Row { size: 8, name: "FLT64", short: " DBL", name7: "DOUBLE ", floattype: 10, fits_datatype: 82, fits_bitpix: -64 },
    Row { size: 8, name: "CPLX32", short: "CFLT", name7: "CFLOAT ", floattype: 11, fits_datatype: -1, fits_bitpix: -1 },
    Row { size: 16, name: "CPLX64", short: "CDBL", name7: "CDOUBLE", floattype: 12, fits_datatype: -1, fits_bitpix: -1 },
    Row { size: 2, name: "FLT16", short: " F16", name7: "FLT16  ", floattype: 13, fits_datatype: -1, fits_bitpix: -1 },
];

impl Datatype {
    /// Every pixel datatype, in code order.
    #[rustfmt::skip]
    pub const ALL: [Datatype; 13] = [
        Self::U8, Self::I8, Self::U16, Self::I16, Self::U32, Self::I32, Self::U64, Self::I64,
        Self::Float, Self::Double, Self::ComplexFloat, Self::ComplexDouble, Self::Half,
    ];

    /// The legacy code stored in `md->datatype`.
    #[inline]
    pub const fn code(self) -> u8 {
        self as u8
    }

    const fn row(self) -> &'static Row {
        &TABLE[self as usize - 1]
    }

    /// Bytes per element (`ImageStreamIO_typesize`).
    #[inline]
    pub const fn size(self) -> usize {
        self.row().size
    }

    /// Long name (`ImageStreamIO_typename`), e.g. `"FLT32"`.
    pub const fn name(self) -> &'static str {
        self.row().name
    }

    /// Four-character name (`ImageStreamIO_typename_short`), e.g. `" FLT"`.
    pub const fn short_name(self) -> &'static str {
        self.row().short
    }

    /// Seven-character name (`ImageStreamIO_typename_7`), e.g. `"FLOAT  "`.
    pub const fn name7(self) -> &'static str {
        self.row().name7
    }

    /// The datatype code a computation on this type should use (`ImageStreamIO_floattype`).
    pub const fn floattype(self) -> i32 {
        self.row().floattype
    }

    /// CFITSIO datatype code (`ImageStreamIO_FITSIOdatatype`), -1 for complex and half.
    pub const fn fits_datatype(self) -> i32 {
        self.row().fits_datatype
    }

    /// CFITSIO BITPIX (`ImageStreamIO_FITSIObitpix`), -1 for complex and half.
    pub const fn fits_bitpix(self) -> i32 {
        self.row().fits_bitpix
    }

    /// Whether this is a complex type.
    pub const fn is_complex(self) -> bool {
        matches!(self, Self::ComplexFloat | Self::ComplexDouble)
    }

    /// The legacy table lookup by raw code: element size or -1 (`ImageStreamIO_typesize`).
    pub fn size_of_code(code: u8) -> i32 {
        Self::try_from(code).map_or(-1, |t| t.size() as i32)
    }

    /// `ImageStreamIO_checktype`: 0 for a pixel type (complex only when `complex_allowed`), else -1.
    pub fn checktype(code: u8, complex_allowed: bool) -> i32 {
        match Self::try_from(code) {
            Ok(t) if !t.is_complex() || complex_allowed => 0,
            _ => -1,
        }
    }
}

impl TryFrom<u8> for Datatype {
    type Error = DatatypeError;

    fn try_from(code: u8) -> Result<Self, Self::Error> {
        match code {
            1..=13 => Ok(Self::ALL[code as usize - 1]),
            _ => Err(DatatypeError::Unknown(code)),
        }
    }
}

impl core::fmt::Display for Datatype {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_its_table_row() {
        for (i, t) in Datatype::ALL.iter().enumerate() {
            assert_eq!(t.code() as usize, i + 1);
            assert_eq!(Datatype::try_from(t.code()), Ok(*t));
            assert_eq!(t.name7().len(), 7);
            assert_eq!(t.short_name().len(), 4);
            assert_eq!(Datatype::size_of_code(t.code()), t.size() as i32);
        }
    }

    #[test]
    fn element_sizes_match_the_format() {
        let sizes: [usize; 13] = Datatype::ALL.map(|t| t.size());
        assert_eq!(sizes, [1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 8, 16, 2]);
        assert_eq!(
            Datatype::ComplexFloat.size(),
            core::mem::size_of::<ComplexF32>()
        );
        assert_eq!(
            Datatype::ComplexDouble.size(),
            core::mem::size_of::<ComplexF64>()
        );
    }

    #[test]
    fn unknown_codes_are_refused_with_the_code() {
        for code in [0u8, 14, 20, 255] {
            assert_eq!(Datatype::try_from(code), Err(DatatypeError::Unknown(code)));
            assert_eq!(Datatype::size_of_code(code), -1);
            assert_eq!(Datatype::checktype(code, true), -1);
        }
    }

    #[test]
    fn checktype_allows_complex_only_when_asked() {
        assert_eq!(Datatype::checktype(11, false), -1);
        assert_eq!(Datatype::checktype(12, true), 0);
        assert_eq!(Datatype::checktype(13, false), 0);
        assert_eq!(Datatype::checktype(9, false), 0);
    }

    #[test]
    fn float_names_and_fits_codes() {
        let f = Datatype::Float;
        assert_eq!(
            (f.name(), f.short_name(), f.name7()),
            ("FLT32", " FLT", "FLOAT  ")
        );
        assert_eq!(
            (f.fits_datatype(), f.fits_bitpix(), f.floattype()),
            (42, -32, 9)
        );
        assert_eq!(Datatype::Double.fits_bitpix(), -64);
        assert_eq!(Datatype::Half.fits_datatype(), -1);
    }
}
