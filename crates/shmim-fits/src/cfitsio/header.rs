//! Header cards: write them (cfitsio formats the card, using the HIERARCH convention for names
//! longer than 8 characters or with other characters than `A-Z 0-9 - _`), update them in place,
//! and list them.

use std::ffi::{c_char, c_int};

use super::FitsFile;
use super::file::c_text;
use crate::cards::{Card, CardValue, RawCard};
use crate::error::Result;

/// cfitsio's `FLEN_KEYWORD`, `FLEN_VALUE`, `FLEN_COMMENT` and `FLEN_CARD` (NUL included).
const FLEN_KEYWORD: usize = 75;
const FLEN_VALUE: usize = 71;
const FLEN_COMMENT: usize = 73;
const FLEN_CARD: usize = 81;
/// A string value longer than this needs the long-string (`CONTINUE`) convention.
const MAX_SHORT_STRING: usize = 68;

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

    /// Every card of the current header, in order (`END` excluded).
    pub(crate) fn cards(&mut self) -> Result<Vec<RawCard>> {
        let (mut count, mut more): (c_int, c_int) = (0, 0);
        self.call("count header cards", |f, status| {
            // SAFETY: two valid out cells.
            unsafe { fitsio_sys::ffghsp(f, &mut count, &mut more, status) };
        })?;
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for i in 1..=count {
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
            out.push(RawCard {
                name: c_text(&name),
                value: c_text(&value),
                comment: c_text(&comment),
            });
        }
        Ok(out)
    }
}
