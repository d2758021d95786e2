//! Header cards: write them (cfitsio formats the card, using the HIERARCH convention for names
//! longer than 8 characters or with other characters than `A-Z 0-9 - _`), update them in place,
//! and list them.

use std::ffi::{c_char, c_int};

use super::FitsFile;
use crate::cards::{Card, CardValue, RawCard};
use crate::error::Result;

/// cfitsio's `FLEN_KEYWORD`, `FLEN_VALUE`, `FLEN_COMMENT` and `FLEN_CARD` (NUL included).
const FLEN_KEYWORD: usize = 75;
const FLEN_VALUE: usize = 71;
const FLEN_COMMENT: usize = 73;
const FLEN_CARD: usize = 81;
/// A string value longer than this needs the long-string (`CONTINUE`) convention.
const MAX_SHORT_STRING: usize = 68;
/// The most bytes of a continued string kept when reading (longer ones become no keyword:
/// string keywords hold 15 bytes).
pub(crate) const LONGEST_STRING: usize = 4096;

/// The cards of a header, as read by [`FitsFile::cards`].
pub(crate) struct HeaderCards {
    /// The cards read (continued strings joined).
    pub(crate) cards: Vec<RawCard>,
    /// Header cards read, `CONTINUE` cards included.
    pub(crate) read: usize,
    /// Cards in the header.
    pub(crate) total: usize,
}

impl FitsFile {
    /// Appends `card` to the current header.
    pub(crate) fn write_card(&mut self, card: &Card) -> Result<()> {
        self.put(card, false)
    }

    /// Rewrites the card called `card.name` in place (appends it if there is none). Cards that
    /// keep their length keep their place: the data after the header never moves.
    pub(crate) fn update_card(&mut self, card: &Card) -> Result<()> {
        self.put(card, true)
    }

    fn put(&mut self, card: &Card, update: bool) -> Result<()> {
        let text = match &card.value {
            CardValue::Str(s) => return self.put_string(card, s, update),
            CardValue::Int(v) => v.to_string(),
            CardValue::UInt(v) => v.to_string(),
            CardValue::Float(x) => crate::cards::float_text(*x),
            CardValue::Logical(b) => if *b { "T" } else { "F" }.to_owned(),
        };
        self.put_raw(&card.name, &text, &card.comment, update)
    }

    /// A string card: cfitsio quotes it (doubling `'`), and continues one longer than a card
    /// holds on `CONTINUE` cards.
    fn put_string(&mut self, card: &Card, value: &str, update: bool) -> Result<()> {
        let (name, v, comment) = (
            self.c_string("header card", &card.name)?,
            self.c_string("header card", value)?,
            self.c_string("header card", &card.comment)?,
        );
        let long = value.len() > MAX_SHORT_STRING;
        if long && !update && !self.long_strings {
            // The convention's announcement, which readers (and fitsverify) expect before a
            // `CONTINUE` card.
            self.call("write LONGSTRN", |f, status| {
                // SAFETY: only the file pointer and the status cell.
                unsafe { fitsio_sys::ffplsw(f, status) };
            })?;
            self.long_strings = true;
        }
        let (n, v, c) = (name.as_ptr(), v.as_ptr(), comment.as_ptr());
        self.call("write a string card", |f, status| {
            // SAFETY: NUL-terminated name, value and comment, alive for the call.
            unsafe {
                match (update, long) {
                    (false, false) => fitsio_sys::ffpkys(f, n, v, c, status),
                    (false, true) => fitsio_sys::ffpkls(f, n, v, c, status),
                    (true, false) => fitsio_sys::ffukys(f, n, v, c, status),
                    (true, true) => fitsio_sys::ffukls(f, n, v, c, status),
                }
            };
        })
    }

    /// A card whose value text we formatted ourselves (numbers: integers in full, floats in their
    /// shortest exact form; logicals).
    fn put_raw(&mut self, name: &str, value: &str, comment: &str, update: bool) -> Result<()> {
        let (cname, mut cvalue, ccomment) = (
            self.c_string("header card", name)?,
            self.c_string("header card", value)?.into_bytes_with_nul(),
            self.c_string("header card", comment)?,
        );
        cvalue.resize(cvalue.len().max(FLEN_VALUE), 0);
        let mut card = [0 as c_char; FLEN_CARD];
        self.call("format a card", |_, status| {
            // SAFETY: NUL-terminated inputs (`ffmkky` does not write to the value despite its
            // signature); `card` has the FLEN_CARD bytes it writes at most.
            unsafe {
                fitsio_sys::ffmkky(
                    cname.as_ptr(),
                    cvalue.as_mut_ptr().cast(),
                    ccomment.as_ptr(),
                    card.as_mut_ptr(),
                    status,
                )
            };
        })?;
        self.call("write a card", |f, status| {
            // SAFETY: `card` is NUL-terminated (ffmkky) and alive for the call.
            unsafe {
                if update {
                    fitsio_sys::ffucrd(f, cname.as_ptr(), card.as_ptr(), status)
                } else {
                    fitsio_sys::ffprec(f, card.as_ptr(), status)
                }
            };
        })
    }

    /// Appends the `DATE` card (the file's creation time, UTC).
    pub(crate) fn write_date(&mut self) -> Result<()> {
        self.call("write DATE", |f, status| {
            // SAFETY: only the file pointer and the status cell.
            unsafe { fitsio_sys::ffpdat(f, status) };
        })
    }

    /// The cards among the first `max` of the current header, in order (`END` excluded; a
    /// string value continued on `CONTINUE` cards whole, as one card), the number of header
    /// cards read (`CONTINUE` cards included: they count against `max` like any other) and how
    /// many cards the header has. Bytes outside printable ASCII read as U+FFFD.
    ///
    /// Reading is linear in the cards read: a continued string is gathered into one buffer,
    /// and kept only up to [`LONGEST_STRING`] bytes (the cards after that are read and counted,
    /// their text not kept).
    pub(crate) fn cards(&mut self, max: usize) -> Result<HeaderCards> {
        let (mut count, mut more): (c_int, c_int) = (0, 0);
        self.call("count header cards", |f, status| {
            // SAFETY: two valid out cells.
            unsafe { fitsio_sys::ffghsp(f, &mut count, &mut more, status) };
        })?;
        let total = usize::try_from(count).unwrap_or(0);
        let last = total.min(max);
        let mut cards: Vec<RawCard> = Vec::with_capacity(last);
        // `i`: the next card to read (1-based); `i - 1` cards read.
        let mut i = 1;
        while i <= last {
            let mut card = self.card(i)?;
            i += 1;
            if let Some(mut text) = continued(&card.value) {
                let mut joined = false;
                let mut ends_continued = true;
                while ends_continued && i <= last {
                    let next = self.card(i)?;
                    // `CONTINUE  'more&' / comment`: cfitsio gives everything after the name as
                    // the comment.
                    let Some((tail, comment)) = (next.name == "CONTINUE")
                        .then(|| split_string(next.comment.trim_start()))
                        .flatten()
                    else {
                        break;
                    };
                    i += 1;
                    joined = true;
                    let tail = match tail.trim_end().strip_suffix('&') {
                        Some(t) => t,
                        None => {
                            ends_continued = false;
                            tail.as_str()
                        }
                    };
                    if text.len() <= LONGEST_STRING {
                        text.push_str(tail);
                    }
                    if !comment.is_empty() {
                        card.comment = comment.to_owned();
                    }
                }
                if joined {
                    // A chain whose last part still ends with `&` keeps it, as an unjoined card.
                    if ends_continued {
                        text.push('&');
                    }
                    card.value = format!("'{}'", text.replace('\'', "''"));
                }
            }
            cards.push(card);
        }
        Ok(HeaderCards {
            cards,
            read: i - 1,
            total,
        })
    }

    /// Card `i` (1-based) of the current header.
    fn card(&mut self, i: usize) -> Result<RawCard> {
        let i = c_int::try_from(i).unwrap_or(c_int::MAX);
        let mut name = [0 as c_char; FLEN_KEYWORD];
        let mut value = [0 as c_char; FLEN_VALUE];
        let mut comment = [0 as c_char; FLEN_COMMENT];
        self.call("read a header card", |f, status| {
            // SAFETY: the three buffers have cfitsio's FLEN_* sizes, the most it writes.
            unsafe {
                fitsio_sys::ffgkyn(
                    f,
                    i,
                    name.as_mut_ptr(),
                    value.as_mut_ptr(),
                    comment.as_mut_ptr(),
                    status,
                )
            };
        })?;
        Ok(RawCard {
            name: c_ascii(&name),
            value: c_ascii(&value),
            comment: c_ascii(&comment),
        })
    }

    /// The value text of the first card called `name`, if there is one.
    pub(crate) fn card_value(&mut self, name: &str) -> Result<Option<String>> {
        let cname = self.c_string("read a header card", name)?;
        let mut value = [0 as c_char; FLEN_VALUE];
        let mut found = true;
        self.call("read a header card", |f, status| {
            // SAFETY: a NUL-terminated name; `value` has the FLEN_VALUE bytes cfitsio writes at
            // most; no comment asked for (null).
            unsafe {
                // Search from the top: `ffgkey` looks from the last card read onwards.
                fitsio_sys::ffmaky(f, 1, status);
                fitsio_sys::ffgkey(
                    f,
                    cname.as_ptr(),
                    value.as_mut_ptr(),
                    std::ptr::null_mut(),
                    status,
                );
            }
            if *status == KEY_NO_EXIST {
                found = false;
                *status = 0;
            }
        })?;
        Ok(found.then(|| c_ascii(&value)))
    }
}

/// cfitsio's status for a keyword that is not in the header.
const KEY_NO_EXIST: c_int = 202;

/// The text of a string value continued on the next card (the long-string convention: it ends
/// with `&`), without the `&`.
fn continued(value: &str) -> Option<String> {
    let (text, _) = split_string(value.trim_start())?;
    text.trim_end().strip_suffix('&').map(str::to_owned)
}

/// A quoted FITS string at the start of `text`: its content (`''` read as `'`) and what follows
/// the closing quote, trimmed.
fn split_string(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('\'')?.char_indices().peekable();
    let mut out = String::new();
    while let Some((at, c)) = chars.next() {
        if c != '\'' {
            out.push(c);
        } else if chars.peek().is_some_and(|&(_, n)| n == '\'') {
            out.push('\'');
            chars.next();
        } else {
            let rest = text[at + 2..].trim();
            let rest = rest.strip_prefix('/').map_or(rest, str::trim);
            return Some((out, rest));
        }
    }
    None
}

/// A NUL-terminated C buffer as text: printable ASCII as it is, any other byte as U+FFFD (FITS
/// headers are ASCII; a byte outside it is never guessed at), trailing blanks removed.
fn c_ascii(buf: &[c_char]) -> String {
    let bytes: &[u8] = bytemuck::cast_slice(buf);
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes[..end]
        .iter()
        .map(|&b| {
            if (b' '..=b'~').contains(&b) {
                char::from(b)
            } else {
                char::REPLACEMENT_CHARACTER
            }
        })
        .collect::<String>()
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings_are_split_from_their_comment() {
        assert_eq!(
            split_string("'it''s' / a comment"),
            Some(("it's".into(), "a comment"))
        );
        assert_eq!(split_string("'abc&'"), Some(("abc&".into(), "")));
        assert_eq!(split_string("'open"), None);
        assert_eq!(split_string("12"), None);
    }

    #[test]
    fn a_string_ending_with_an_ampersand_is_continued() {
        assert_eq!(continued("'abc&'"), Some("abc".into()));
        assert_eq!(continued("'abc&  ' / c"), Some("abc".into()));
        assert_eq!(continued("'abc'"), None);
        assert_eq!(continued("12"), None);
    }
}
