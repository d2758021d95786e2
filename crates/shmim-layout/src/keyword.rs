//! `IMAGE_KEYWORD`: one 128-byte keyword entry, with its value union.

use bytemuck::{Pod, Zeroable};

use crate::{KEYWORD_MAX_COMMENT, KEYWORD_MAX_STRING};

/// The keyword value union: `{ int64_t numl; double numf; char valstr[16]; }`.
///
/// Which member is meaningful is said by [`ImageKeyword::kw_type`].
#[repr(C)]
#[derive(Clone, Copy)]
pub union KeywordValue {
    /// `numl`: the value of an `'L'` keyword.
    pub numl: i64,
    /// `numf`: the value of a `'D'` keyword.
    pub numf: f64,
    /// `valstr`: the value of an `'S'` keyword, NUL-terminated.
    pub valstr: [u8; KEYWORD_MAX_STRING],
}

// SAFETY: every member is itself Pod (i64, f64, [u8; 16]) and all three are exactly 16 bytes, so the
// union has no padding and every bit pattern is a valid value of each member.
unsafe impl Zeroable for KeywordValue {}
// SAFETY: as above; `repr(C)`, `Copy`, no padding, no pointers, any bit pattern valid.
unsafe impl Pod for KeywordValue {}

impl KeywordValue {
    /// The 16 raw bytes of the value.
    pub fn bytes(&self) -> [u8; KEYWORD_MAX_STRING] {
        bytemuck::cast(*self)
    }

    /// The value read as `numl`.
    pub fn as_i64(&self) -> i64 {
        let b = self.bytes();
        i64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// The value read as `numf`.
    pub fn as_f64(&self) -> f64 {
        f64::from_bits(self.as_i64() as u64)
    }

    /// A value holding `numl`, the other bytes zero.
    pub fn from_i64(v: i64) -> Self {
        let mut b = [0u8; KEYWORD_MAX_STRING];
        b[..8].copy_from_slice(&v.to_ne_bytes());
        bytemuck::cast(b)
    }

    /// A value holding `numf`, the other bytes zero.
    pub fn from_f64(v: f64) -> Self {
        Self::from_i64(v.to_bits() as i64)
    }
}

impl core::fmt::Debug for KeywordValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KeywordValue({:02x?})", self.bytes())
    }
}

/// `IMAGE_KEYWORD` (128 bytes, align 8).
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct ImageKeyword {
    /// `name`: NUL-terminated, at most 15 bytes.
    pub name: [u8; KEYWORD_MAX_STRING],
    /// `type`: `'N'` unused, `'L'` i64, `'D'` f64, `'S'` string (see [`KeywordType`]).
    pub kw_type: u8,
    /// C padding.
    pub _pad0: [u8; 7],
    /// `value`.
    pub value: KeywordValue,
    /// `cnt`: incremented at each write of this keyword.
    pub cnt: u64,
    /// `comment`: NUL-terminated, at most 79 bytes.
    pub comment: [u8; KEYWORD_MAX_COMMENT],
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<KeywordValue>() == 16 && align_of::<KeywordValue>() == 8);
    assert!(size_of::<ImageKeyword>() == 128);
    assert!(align_of::<ImageKeyword>() == 8);
    assert!(offset_of!(ImageKeyword, name) == 0);
    assert!(offset_of!(ImageKeyword, kw_type) == 16);
    assert!(offset_of!(ImageKeyword, value) == 24);
    assert!(offset_of!(ImageKeyword, cnt) == 40);
    assert!(offset_of!(ImageKeyword, comment) == 48);
};

/// An unknown keyword type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown keyword type {0:#04x} (expected 'N', 'L', 'D' or 'S')")]
pub struct KeywordTypeError(pub u8);

/// The keyword type codes.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeywordType {
    /// `'N'`: unused entry.
    Empty = b'N',
    /// `'L'`: 64-bit integer in `numl`.
    Long = b'L',
    /// `'D'`: double in `numf`.
    Double = b'D',
    /// `'S'`: string in `valstr`.
    String = b'S',
}

impl TryFrom<u8> for KeywordType {
    type Error = KeywordTypeError;

    fn try_from(b: u8) -> Result<Self, Self::Error> {
        match b {
            b'N' => Ok(Self::Empty),
            b'L' => Ok(Self::Long),
            b'D' => Ok(Self::Double),
            b'S' => Ok(Self::String),
            other => Err(KeywordTypeError(other)),
        }
    }
}

impl ImageKeyword {
    /// An unused entry, as in a new stream: type `'N'`, everything else zero.
    pub fn empty() -> Self {
        Self {
            kw_type: KeywordType::Empty as u8,
            ..Zeroable::zeroed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_types_round_trip_and_unknown_is_refused() {
        for t in [
            KeywordType::Empty,
            KeywordType::Long,
            KeywordType::Double,
            KeywordType::String,
        ] {
            assert_eq!(KeywordType::try_from(t as u8), Ok(t));
        }
        assert_eq!(KeywordType::try_from(b'X'), Err(KeywordTypeError(b'X')));
    }

    #[test]
    fn value_union_views_the_same_bytes() {
        let v = KeywordValue::from_f64(0.001);
        assert_eq!(v.as_f64(), 0.001);
        assert_eq!(v.as_i64(), 0.001f64.to_bits() as i64);
        let e = ImageKeyword::empty();
        assert_eq!(e.kw_type, b'N');
        assert_eq!(e.value.bytes(), [0; 16]);
    }
}
