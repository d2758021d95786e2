//! One frame record of milk's TCP protocol: pixels of one slice, `{magic, cnt0, cnt1}`, keywords.

use bytemuck::Zeroable;
use shmim_core::{Keyword, Value};
use shmim_layout::{ImageKeyword, KeywordType, KeywordValue, read_cstr, write_cstr};

use super::header::RemoteImage;
use crate::error::{BridgeError, Result};

/// The record marker newer milk writes after the pixels.
pub const MAGIC: u64 = 0x0012_3412_34ff;
/// Bytes of one raw keyword entry.
pub const KEYWORD_LEN: usize = 128;

/// The frame metadata after the pixels; milk changed it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Trailer {
    /// `{magic 0x12341234ff, cnt0, cnt1}`, 24 bytes (current milk).
    #[default]
    Magic,
    /// `{cnt0, cnt1}`, 16 bytes (milk before the magic was added, e.g. its `dev` branch of
    /// 2024-03): no framing check is possible.
    Plain,
}

impl Trailer {
    /// Bytes of the trailer.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Magic => 24,
            Self::Plain => 16,
        }
    }

    /// The trailer of a frame.
    pub fn encode(self, cnt0: u64, cnt1: u64) -> Vec<u8> {
        let mut t = Vec::with_capacity(24);
        if self == Self::Magic {
            t.extend_from_slice(&MAGIC.to_le_bytes());
        }
        t.extend_from_slice(&cnt0.to_le_bytes());
        t.extend_from_slice(&cnt1.to_le_bytes());
        t
    }

    /// `(cnt0, cnt1)` of a trailer, or an error if the magic is wrong (the connection lost its
    /// framing).
    pub fn parse(self, t: &[u8]) -> Result<(u64, u64)> {
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&t[8 * i..8 * i + 8]);
            u64::from_le_bytes(b)
        };
        if t.len() != self.bytes() {
            return Err(BridgeError::Milk(format!("{}-byte frame trailer", t.len())));
        }
        match self {
            Self::Plain => Ok((word(0), word(1))),
            Self::Magic if word(0) == MAGIC => Ok((word(1), word(2))),
            Self::Magic => Err(BridgeError::Milk(format!(
                "record marker {:#x} is not milk's {MAGIC:#x}: the connection lost its framing \
                 (or the peer is an older milk: --trailer plain)",
                word(0)
            ))),
        }
    }
}

/// Bytes of one record for this image.
pub fn record_len(img: &RemoteImage, trailer: Trailer) -> usize {
    img.slice_bytes() + trailer.bytes() + usize::from(img.nb_kw) * KEYWORD_LEN
}

/// The raw entry milk sends for keyword `k` (or an unused entry).
pub fn raw_keyword(k: Option<&Keyword>) -> [u8; KEYWORD_LEN] {
    let mut e = ImageKeyword::empty();
    if let Some(k) = k {
        let _ = write_cstr(&mut e.name, k.name.as_bytes());
        let _ = write_cstr(&mut e.comment, k.comment.as_bytes());
        e.cnt = k.cnt;
        let (t, v) = match &k.value {
            Value::Empty => (KeywordType::Empty, KeywordValue::zeroed()),
            Value::Long(l) => (KeywordType::Long, KeywordValue::from_i64(*l)),
            Value::Double(d) => (KeywordType::Double, KeywordValue::from_f64(*d)),
            Value::Str(s) => {
                let mut b = [0u8; shmim_layout::KEYWORD_MAX_STRING];
                let _ = write_cstr(&mut b, s.as_bytes());
                (KeywordType::String, bytemuck::cast(b))
            }
        };
        e.kw_type = t as u8;
        e.value = v;
    }
    bytemuck::cast(e)
}

/// A received raw entry as a keyword: `None` for an unused entry, an unknown type or text that is
/// not UTF-8 (such entries are skipped, never copied raw).
pub fn parse_keyword(index: u16, raw: &[u8]) -> Option<Keyword> {
    let e: ImageKeyword = bytemuck::try_pod_read_unaligned(raw).ok()?;
    let text = |b: &[u8]| std::str::from_utf8(read_cstr(b)).ok().map(str::to_owned);
    let value = match KeywordType::try_from(e.kw_type).ok()? {
        KeywordType::Empty => return None,
        KeywordType::Long => Value::Long(e.value.as_i64()),
        KeywordType::Double => Value::Double(e.value.as_f64()),
        KeywordType::String => Value::Str(text(&e.value.bytes())?),
    };
    Some(Keyword {
        index,
        name: text(&e.name)?,
        value,
        comment: text(&e.comment)?,
        cnt: e.cnt,
    })
}

/// The slice milk's transmitter sends for a frame whose `cnt1` is `cnt1`, after slice `previous`:
/// never more than one ahead, wrapping after the last slice.
pub fn next_slice(cnt1: u64, previous: u64, slices: u64) -> u64 {
    let mut s = cnt1.min(previous + 1);
    if slices > 1 && previous == slices - 1 {
        s = 0;
    }
    if s >= slices { 0 } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailers_round_trip_and_a_wrong_magic_is_an_error() {
        let t = Trailer::Magic.encode(7, 2);
        assert_eq!(&t[..8], &[0xff, 0x34, 0x12, 0x34, 0x12, 0, 0, 0]);
        assert_eq!(Trailer::Magic.parse(&t).ok(), Some((7, 2)));
        let mut bad = t;
        bad[0] = 0;
        assert!(Trailer::Magic.parse(&bad).is_err());
        let p = Trailer::Plain.encode(7, 2);
        assert_eq!(p.len(), 16);
        assert_eq!(Trailer::Plain.parse(&p).ok(), Some((7, 2)));
    }

    #[test]
    fn keywords_round_trip_through_raw_entries() {
        for value in [
            Value::Long(-5),
            Value::Double(2.5),
            Value::Str("abc".into()),
        ] {
            let k = Keyword {
                index: 3,
                name: "GAIN".into(),
                value,
                comment: "c".into(),
                cnt: 9,
            };
            assert_eq!(parse_keyword(3, &raw_keyword(Some(&k))), Some(k));
        }
        assert_eq!(parse_keyword(0, &raw_keyword(None)), None);
        assert_eq!(parse_keyword(0, &[b'X'; KEYWORD_LEN]), None);
    }

    #[test]
    fn slices_advance_one_at_a_time_and_wrap() {
        assert_eq!(next_slice(0, 0, 1), 0);
        assert_eq!(next_slice(5, 0, 10), 1);
        assert_eq!(next_slice(3, 2, 10), 3);
        assert_eq!(next_slice(4, 9, 10), 0);
        assert_eq!(next_slice(12, 11, 10), 0);
    }
}
