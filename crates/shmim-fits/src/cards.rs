//! Stream keywords and FITS header cards, both ways: what each becomes, and why some cannot.
//!
//! **Saving** (after milk's `saveFITS`): `L` keywords become integer cards, `D` float cards (in
//! the shortest text that reads back to the same double), `S` string cards, and the strings
//! `#TRUE#` / `#FALSE#` logical cards `T` / `F` (milk's convention for booleans). FITS keyword
//! names are upper case: a name is written upper-cased, as a standard card when that gives 1–8
//! characters of `A-Z 0-9 - _`, else as an ESO `HIERARCH` card (any printable ASCII but `=`); both
//! renamings are reported. Left out, and reported: names starting with `_` (milk's technical
//! keywords), names no card can hold (non-ASCII or control characters, `=`, blanks at either
//! end), names that collide with a card FITS or shmim writes itself (`BITPIX`, `NAXISn`,
//! `BZERO`, `CNT0`, …, see [`RESERVED`]), a second keyword that upper-cases to a name already used,
//! non-finite doubles (FITS has no literal for them) and strings that are not printable ASCII.
//! Cards FITS gives a value type (`OBJECT` a string, `EQUINOX` a number, `DATE-OBS` a date, the
//! WCS cards…) are written in that type when the value converts without loss (`3` → `'3'`,
//! `'2000'` → `2000.0`), else left out and reported (`expected.rs`): fitsverify finds no error.
//! Comments are written with characters outside printable ASCII replaced by `?`, and cut to what
//! fits on the 80-character card.
//!
//! **Loading**: integer cards become `L` keywords, float cards `D`, string cards `S` (a long
//! string continued on `CONTINUE` cards whole), logical cards `#TRUE#` / `#FALSE#`. Structural
//! cards, commentary cards and the cards shmim writes about the frame (its number and times) are
//! not keywords and are passed over. Reported and left out: names longer than a stream keyword's
//! 15 bytes or with characters outside printable ASCII, strings longer than 15 bytes or with
//! characters outside printable ASCII (a FITS header is ASCII; saving refuses the same strings),
//! cards with no value or a complex value, integers beyond 64 bits, a second card of a name
//! already loaded (the first one counts, as astropy reads it). Comments are made printable as
//! when saving and cut to 79 bytes.

use shmim_core::{Keyword, Value};
use shmim_layout::{KEYWORD_MAX_COMMENT, KEYWORD_MAX_STRING};

/// One header card as read: the name (without `HIERARCH`), the value as written (strings keep
/// their quotes), and the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCard {
    /// Keyword name.
    pub name: String,
    /// Value text.
    pub value: String,
    /// Comment.
    pub comment: String,
}

/// One header card to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// Keyword name (upper case; cfitsio writes `HIERARCH` when it is not a standard name).
    pub name: String,
    /// Value.
    pub value: CardValue,
    /// Comment.
    pub comment: String,
}

/// A card's value.
#[derive(Debug, Clone, PartialEq)]
pub enum CardValue {
    /// An integer.
    Int(i64),
    /// An unsigned integer (frame numbers).
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A logical `T` / `F`.
    Logical(bool),
}

/// Why a keyword (saving) or a card (loading) was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The name starts with `_`: a technical keyword, not saved (as milk does).
    Technical,
    /// FITS or shmim writes a card of that name itself.
    Reserved,
    /// No card can hold the name.
    UnusableName,
    /// Another keyword was already written under this card name.
    Duplicate(String),
    /// A NaN or infinite double.
    NonFinite,
    /// A string value with characters a card cannot hold.
    NotAscii,
    /// A card name longer than a stream keyword's 15 bytes.
    NameTooLong,
    /// A string longer than a stream keyword's 15 bytes.
    StringTooLong,
    /// A card without a value.
    NoValue,
    /// A complex value.
    Complex,
    /// A value that is not a valid FITS number.
    BadValue,
    /// Every keyword entry of the stream is in use.
    NoSlot,
    /// An earlier card of the same name was loaded.
    Repeated,
    /// A stream takes at most [`crate::MAX_KEYWORDS`] keywords from a file.
    Limit,
    /// FITS gives a card of this name a value of another type (what it holds, said), and the
    /// keyword's value does not convert to it (`OBJECT` a logical, `DATE-OBS` no date, …).
    WrongType(&'static str),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Technical => f.write_str("a name starting with '_' marks a technical keyword"),
            Self::Reserved => f.write_str("FITS or shmim writes a card of that name itself"),
            Self::UnusableName => f.write_str(
                "no FITS card can hold the name (printable ASCII without '=' or blanks at either end)",
            ),
            Self::Duplicate(card) => write!(f, "another keyword was already written as {card}"),
            Self::NonFinite => f.write_str("FITS has no literal for NaN or infinity"),
            Self::NotAscii => f.write_str("FITS strings hold printable ASCII only"),
            Self::NameTooLong => write!(f, "names of stream keywords hold at most {MAX_NAME} bytes"),
            Self::StringTooLong => {
                write!(f, "string keywords hold at most {MAX_STRING} bytes")
            }
            Self::NoValue => f.write_str("the card has no value"),
            Self::Complex => f.write_str("stream keywords cannot hold complex values"),
            Self::BadValue => f.write_str("the value is not a number a keyword can hold"),
            Self::NoSlot => f.write_str("every keyword entry of the stream is in use"),
            Self::Repeated => f.write_str("an earlier card of that name was loaded"),
            Self::Limit => write!(
                f,
                "a stream takes at most {} keywords from a file",
                crate::MAX_KEYWORDS
            ),
            Self::WrongType(what) => write!(f, "FITS gives a card of that name {what}"),
        }
    }
}

/// A keyword or card left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The keyword's (saving) or card's (loading) name.
    pub name: String,
    /// Why.
    pub reason: Skip,
}

/// A keyword written under another name than its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// The keyword's name.
    pub keyword: String,
    /// The card's name.
    pub card: String,
    /// Whether the card uses the `HIERARCH` convention.
    pub hierarch: bool,
}

/// What the keywords of a stream become.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeywordCards {
    /// Cards to write.
    pub cards: Vec<Card>,
    /// Keywords written under another name.
    pub renamed: Vec<Renamed>,
    /// Keywords left out.
    pub skipped: Vec<Skipped>,
}

/// Longest keyword name and string value of a stream (the fields hold a NUL too).
const MAX_NAME: usize = KEYWORD_MAX_STRING - 1;
const MAX_STRING: usize = KEYWORD_MAX_STRING - 1;
const MAX_COMMENT: usize = KEYWORD_MAX_COMMENT - 1;

/// Cards shmim writes about the frame it saved; not stream keywords.
pub const PROVENANCE: [&str; 8] = [
    "SHMNAME", "CNT0", "ATIME", "WRITETIM", "TIMESYS", "NFRAMES", "NMISSED", "DATE",
];

/// Card names FITS itself gives a structural meaning, which a keyword must not override (a
/// card of one of these names in the wrong HDU makes the file invalid), and [`PROVENANCE`]. With
/// the indexed families of [`RESERVED_INDEXED`], `HIERARCH …`, and `Z…` names of tile
/// compression ([`is_reserved`]). Names that only describe the data (`OBJECT`, `EXPTIME`,
/// `BUNIT`, the WCS cards…) are keywords like any other.
pub const RESERVED: [&str; 30] = [
    "SIMPLE", "BITPIX", "NAXIS", "EXTEND", "BZERO", "BSCALE", "BLANK", "END", "XTENSION", "PCOUNT",
    "GCOUNT", "GROUPS", "COMMENT", "HISTORY", "CONTINUE", "CHECKSUM", "DATASUM", "EXTNAME",
    "EXTVER", "EXTLEVEL", "INHERIT", "TFIELDS", "THEAP", "BLOCKED", "LONGSTRN", "ZIMAGE", "ZTABLE",
    "ZSIMPLE", "ZEXTEND", "ZBLOCKED",
];

/// Reserved names followed by an axis, column or parameter number (`NAXIS1`, `TFORM3`, …):
/// images' axes, binary and ASCII tables' columns, random groups' parameters.
pub const RESERVED_INDEXED: [&str; 13] = [
    "NAXIS", "TTYPE", "TFORM", "TUNIT", "TSCAL", "TZERO", "TNULL", "TDISP", "TDIM", "TBCOL",
    "PTYPE", "PSCAL", "PZERO",
];

/// The keywords of tile-compressed images and tables (FITS 4.0 §10), which cfitsio reads as
/// structure: `ZBITPIX`, `ZNAXISn`, `ZTILEn`, `ZCMPTYPE`, `ZNAMEn`, `ZVALn`, `ZQUANTIZ`, …
const COMPRESSION: [&str; 15] = [
    "ZBITPIX", "ZNAXIS", "ZTILE", "ZCMPTYPE", "ZNAME", "ZVAL", "ZMASKCMP", "ZQUANTIZ", "ZDITHER0",
    "ZTENSION", "ZPCOUNT", "ZGCOUNT", "ZHECKSUM", "ZDATASUM", "ZTHEAP",
];

/// Whether `card` (upper case) is a name FITS or shmim writes itself.
pub fn is_reserved(card: &str) -> bool {
    let indexed = |prefix: &str| {
        card.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    let family = |prefix: &str| card == prefix || indexed(prefix);
    card.starts_with("HIERARCH")
        || RESERVED.contains(&card)
        || PROVENANCE.contains(&card)
        || RESERVED_INDEXED.into_iter().any(indexed)
        || COMPRESSION.into_iter().any(family)
}

/// Whether `name` is a standard FITS keyword name (1–8 of `A-Z 0-9 - _`).
pub fn is_standard_name(name: &str) -> bool {
    (1..=8).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn printable(s: &str) -> bool {
    s.bytes().all(|b| (b' '..=b'~').contains(&b))
}

/// The card name for stream keyword `name`, or why there is none.
pub fn card_name(name: &str) -> Result<String, Skip> {
    if name.starts_with('_') {
        return Err(Skip::Technical);
    }
    if name.is_empty() || !printable(name) || name.contains('=') || name.trim() != name {
        return Err(Skip::UnusableName);
    }
    let card = name.to_ascii_uppercase();
    if is_reserved(&card) {
        return Err(Skip::Reserved);
    }
    Ok(card)
}

/// The cards of a stream's keywords (in entry order), with what was renamed or left out. Linear
/// in the keywords (a stream has up to 65535).
pub fn keyword_cards(keywords: &[Keyword]) -> KeywordCards {
    let mut out = KeywordCards::default();
    let mut written = std::collections::HashSet::new();
    for k in keywords {
        let skip = |reason| Skipped {
            name: k.name.clone(),
            reason,
        };
        let name = match card_name(&k.name) {
            Ok(n) => n,
            Err(reason) => {
                out.skipped.push(skip(reason));
                continue;
            }
        };
        if written.contains(&name) {
            out.skipped.push(skip(Skip::Duplicate(name)));
            continue;
        }
        let value = match &k.value {
            Value::Empty => continue,
            Value::Long(v) => CardValue::Int(*v),
            Value::Double(x) if x.is_finite() => CardValue::Float(*x),
            Value::Double(_) => {
                out.skipped.push(skip(Skip::NonFinite));
                continue;
            }
            Value::Str(s) if s == TRUE => CardValue::Logical(true),
            Value::Str(s) if s == FALSE => CardValue::Logical(false),
            Value::Str(s) if printable(s) => CardValue::Str(s.clone()),
            Value::Str(_) => {
                out.skipped.push(skip(Skip::NotAscii));
                continue;
            }
        };
        let value = match expected::conform(&name, value) {
            Ok(v) => v,
            Err(reason) => {
                out.skipped.push(skip(reason));
                continue;
            }
        };
        if name != k.name || !is_standard_name(&name) {
            out.renamed.push(Renamed {
                keyword: k.name.clone(),
                card: name.clone(),
                hierarch: !is_standard_name(&name),
            });
        }
        written.insert(name.clone());
        out.cards.push(Card {
            name,
            value,
            comment: printable_text(&k.comment),
        });
    }
    out
}

/// milk's string values for booleans.
const TRUE: &str = "#TRUE#";
const FALSE: &str = "#FALSE#";

/// `x` (finite) in the shortest text that reads back as `x`, in FITS syntax: a decimal point
/// always, and an upper-case `E` exponent.
pub fn float_text(x: f64) -> String {
    let text = format!("{x:?}");
    let (mantissa, exponent) = match text.split_once('e') {
        Some((m, e)) => (m.to_owned(), Some(e.to_owned())),
        None => (text, None),
    };
    let mantissa = if mantissa.contains('.') {
        mantissa
    } else {
        format!("{mantissa}.0")
    };
    match exponent {
        Some(e) => format!("{mantissa}E{e}"),
        None => mantissa,
    }
}

/// What one header card becomes when loaded.
#[derive(Debug, Clone, PartialEq)]
pub enum FromCard {
    /// A stream keyword.
    Keyword {
        /// Name.
        name: String,
        /// Value.
        value: Value,
        /// Comment.
        comment: String,
    },
    /// A structural, commentary or provenance card: not a keyword, not reported.
    PassedOver,
    /// A card that cannot be a keyword.
    Skipped(Skip),
}

/// The keyword a header card becomes.
pub fn keyword_from_card(card: &RawCard) -> FromCard {
    let name = card.name.as_str();
    if name.is_empty() || is_reserved(&name.to_ascii_uppercase()) {
        return FromCard::PassedOver;
    }
    if !printable(name) {
        return FromCard::Skipped(Skip::UnusableName);
    }
    if name.len() > MAX_NAME {
        return FromCard::Skipped(Skip::NameTooLong);
    }
    let value = match parse_value(&card.value) {
        Ok(v) => v,
        Err(skip) => return FromCard::Skipped(skip),
    };
    match &value {
        Value::Str(s) if !printable(s) => return FromCard::Skipped(Skip::NotAscii),
        Value::Str(s) if s.len() > MAX_STRING => return FromCard::Skipped(Skip::StringTooLong),
        _ => {}
    }
    FromCard::Keyword {
        name: name.to_owned(),
        value,
        comment: truncate(&printable_text(&card.comment), MAX_COMMENT).to_owned(),
    }
}

/// `s` with every character outside printable ASCII replaced by `?`.
fn printable_text(s: &str) -> String {
    s.chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect()
}

/// A card's value text (as cfitsio returns it) as a keyword value.
fn parse_value(text: &str) -> Result<Value, Skip> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Skip::NoValue);
    }
    if let Some(quoted) = text.strip_prefix('\'') {
        // 'it''s' → it's; trailing blanks of a FITS string are not significant.
        let inner = quoted.strip_suffix('\'').unwrap_or(quoted);
        return Ok(Value::Str(inner.replace("''", "'").trim_end().to_owned()));
    }
    match text {
        "T" => return Ok(Value::Str(TRUE.into())),
        "F" => return Ok(Value::Str(FALSE.into())),
        _ => {}
    }
    if text.starts_with('(') {
        return Err(Skip::Complex);
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let plain = text.strip_prefix('+').unwrap_or(text);
        return plain.parse().map(Value::Long).map_err(|_| Skip::BadValue);
    }
    text.replace(['D', 'd'], "E")
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .map(Value::Double)
        .ok_or(Skip::BadValue)
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

mod expected;
#[cfg(test)]
mod tests;
