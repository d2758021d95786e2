//! The value type FITS gives descriptive cards, as fitsverify checks them: a stream keyword of
//! one of these names is written in that type when its value says the same thing in it, and
//! left out (reported) when it cannot.
//!
//! fitsverify reports an error for `OBJECT = 3`, `EQUINOX = '2000'`, `WCSAXES = 2.5` or
//! `DATE-OBS = 'yesterday'`. So a number for a text card is written as its text, a string that is
//! a number for a number card as that number, an integral number for an integer card as the
//! integer; anything else (a logical for a number, `'yesterday'` for a date, a zero `CDELTn`) is
//! left out with [`Skip::WrongType`].

use super::{CardValue, Skip, float_text};

/// The value type of a card name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expected {
    /// A string.
    Text,
    /// A string cfitsio reads as a date (every `DATE…` card).
    Date,
    /// An integer or floating-point number.
    Number,
    /// A number that is never 0 (`CDELTn`: an axis's increment).
    NonZero,
    /// A number that is never negative (`CRDERn`, `CSYERn`: errors).
    NonNegative,
    /// An integer.
    Integer,
}

impl Expected {
    /// What a card of this type holds, for a message.
    pub(crate) fn text(self) -> &'static str {
        match self {
            Self::Text => "a string",
            Self::Date => "a FITS date (YYYY-MM-DD or YYYY-MM-DDThh:mm:ss)",
            Self::Number => "a number",
            Self::NonZero => "a number other than 0",
            Self::NonNegative => "a number of at least 0",
            Self::Integer => "an integer",
        }
    }
}

/// Names that hold a string (FITS 4.0 §4.4.2, and the image's `BUNIT`).
const TEXT: [&str; 9] = [
    "ORIGIN", "AUTHOR", "CREATOR", "REFERENC", "TELESCOP", "INSTRUME", "OBSERVER", "OBJECT",
    "BUNIT",
];
/// Names that hold a number.
const NUMBER: [&str; 6] = [
    "EQUINOX", "EPOCH", "MJD-OBS", "MJD-AVG", "DATAMAX", "DATAMIN",
];
/// Prefixes of names that hold a number, with or without a suffix (WCS, FITS 4.0 §8).
const NUMBER_PREFIX: [&str; 11] = [
    "RESTFRQ", "RESTFREQ", "RESTWAV", "OBSGEO-X", "OBSGEO-Y", "OBSGEO-Z", "VELOSYS", "ZSOURCE",
    "VELANGL", "LONPOLE", "LATPOLE",
];
/// Prefixes of names that hold a number when an axis number follows (`CRPIX1`, `PV2_1`, …).
const NUMBER_INDEXED: [&str; 5] = ["CRPIX", "CRVAL", "CROTA", "PV", "CDELT"];
/// Prefixes of names that hold a string when an axis number follows (`CTYPE1`, …).
const TEXT_INDEXED: [&str; 4] = ["CTYPE", "CUNIT", "PS", "CNAME"];
/// Prefixes of names that hold a string, with or without a suffix (reference frames).
const TEXT_PREFIX: [&str; 5] = ["RADESYS", "RADECSYS", "SPECSYS", "SSYSOBS", "SSYSSRC"];

/// The type a card called `card` (upper case) must hold, if FITS gives it one.
pub(crate) fn expected(card: &str) -> Option<Expected> {
    let indexed = |prefix: &str| {
        card.strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    };
    let matrix = |prefix: &str| indexed(prefix) && card.contains('_');
    if card.starts_with("DATE") {
        Some(Expected::Date)
    } else if TEXT.contains(&card)
        || TEXT_INDEXED.into_iter().any(indexed)
        || TEXT_PREFIX.into_iter().any(|p| card.starts_with(p))
    {
        Some(Expected::Text)
    } else if indexed("CDELT") {
        Some(Expected::NonZero)
    } else if indexed("CRDER") || indexed("CSYER") {
        Some(Expected::NonNegative)
    } else if card.starts_with("WCSAXES") {
        Some(Expected::Integer)
    } else if NUMBER.contains(&card)
        || NUMBER_PREFIX.into_iter().any(|p| card.starts_with(p))
        || NUMBER_INDEXED.into_iter().any(indexed)
        || matrix("PC")
        || matrix("CD")
    {
        Some(Expected::Number)
    } else {
        None
    }
}

/// `value` as card `card` must hold it: unchanged, converted without loss, or why not.
pub(crate) fn conform(card: &str, value: CardValue) -> Result<CardValue, Skip> {
    let Some(expected) = expected(card) else {
        return Ok(value);
    };
    let wrong = || Skip::WrongType(expected.text());
    let number = |value: &CardValue| match value {
        CardValue::Int(v) => Some(*v as f64),
        CardValue::UInt(v) => Some(*v as f64),
        CardValue::Float(x) => Some(*x),
        CardValue::Str(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        CardValue::Logical(_) => None,
    };
    match expected {
        Expected::Text => match value {
            CardValue::Str(_) => Ok(value),
            CardValue::Int(v) => Ok(CardValue::Str(v.to_string())),
            CardValue::UInt(v) => Ok(CardValue::Str(v.to_string())),
            CardValue::Float(x) => Ok(CardValue::Str(float_text(x))),
            CardValue::Logical(_) => Err(wrong()),
        },
        Expected::Date => match &value {
            CardValue::Str(s) if crate::cfitsio::is_fits_date(s) => Ok(value),
            _ => Err(wrong()),
        },
        Expected::Integer => match value {
            CardValue::Int(_) | CardValue::UInt(_) => Ok(value),
            CardValue::Str(ref s) => s.trim().parse().map(CardValue::Int).map_err(|_| wrong()),
            CardValue::Float(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
                Ok(CardValue::Int(x as i64))
            }
            _ => Err(wrong()),
        },
        Expected::Number | Expected::NonZero | Expected::NonNegative => {
            let x = number(&value).ok_or_else(wrong)?;
            let fits = match expected {
                Expected::NonZero => x != 0.0,
                Expected::NonNegative => x >= 0.0,
                _ => true,
            };
            match value {
                _ if !fits => Err(wrong()),
                CardValue::Str(_) => Ok(CardValue::Float(x)),
                _ => Ok(value),
            }
        }
    }
}
