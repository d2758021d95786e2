//! Reading messages (the subscriber's side): a pure function over untrusted bytes.

use shmim_core::{Datatype, Keyword, Timespec, Value};
use shmim_layout::RegionSpec;

use super::cursor::Cursor;
use super::{
    FrameHeader, HEADER_LEN, KIND_FRAME, KIND_META, MAGIC, Message, StreamMeta, VERSION, WireError,
};
use crate::layout::Layout;

/// Longest stream name (the C `name` field holds 79 bytes and a NUL).
pub(super) const NAME_MAX: usize = shmim_layout::IMAGE_NAME_LEN - 1;
/// Longest keyword name or string value.
pub(super) const KEYWORD_NAME_MAX: usize = shmim_layout::KEYWORD_MAX_STRING - 1;
/// Longest keyword comment.
pub(super) const KEYWORD_COMMENT_MAX: usize = shmim_layout::KEYWORD_MAX_COMMENT - 1;

/// Bytes of the largest description any stream can have: the fixed fields with a 79-byte name
/// and three axes, then 65 535 keywords, each at its longest (a string value, a 15-byte name and
/// value, a 79-byte comment). A longer sample is refused before it is copied out of Zenoh.
pub const MAX_META_LEN: usize = {
    let fixed = HEADER_LEN + 8 + (1 + NAME_MAX) + 1 + 1 + 3 * 4 + 8 + 2 + 2 + 4 + 2;
    let keyword =
        2 + 1 + (1 + KEYWORD_NAME_MAX) + (1 + KEYWORD_NAME_MAX) + (1 + KEYWORD_COMMENT_MAX);
    fixed + u16::MAX as usize * keyword
};

/// Decodes one message, or says why it is not acceptable.
pub fn decode(buf: &[u8]) -> Result<Message<'_>, WireError> {
    match peek_kind(buf)? {
        KIND_META if buf.len() > MAX_META_LEN => Err(WireError::TooLong {
            len: buf.len(),
            max: MAX_META_LEN,
        }),
        KIND_META => {
            let mut c = Cursor::new(buf);
            c.take("header", HEADER_LEN)?;
            let m = meta(&mut c)?;
            c.finish()?;
            Ok(Message::Meta(m))
        }
        _ => {
            let h = decode_frame_header(buf, buf.len())?;
            Ok(Message::Frame(h, &buf[super::frame_header_len()..]))
        }
    }
}

/// Checks the common header and returns the kind byte ([`KIND_META`] or [`KIND_FRAME`]).
pub fn peek_kind(head: &[u8]) -> Result<u8, WireError> {
    let mut c = Cursor::new(head);
    let head: [u8; HEADER_LEN] = c.array("header")?;
    let magic = [head[0], head[1], head[2], head[3]];
    if magic != MAGIC {
        return Err(WireError::BadMagic { found: magic });
    }
    if head[4] != VERSION {
        return Err(WireError::Version { found: head[4] });
    }
    match head[5] {
        k @ (KIND_META | KIND_FRAME) => Ok(k),
        found => Err(WireError::Kind { found }),
    }
}

/// Decodes a frame's header from the first bytes of a message of `total_len` bytes (the pixels
/// need not be in `head`: a large sample is copied once, straight into the mirror).
pub fn decode_frame_header(head: &[u8], total_len: usize) -> Result<FrameHeader, WireError> {
    if peek_kind(head)? != KIND_FRAME {
        return Err(WireError::Kind { found: KIND_META });
    }
    let mut c = Cursor::new(head);
    c.take("header", HEADER_LEN)?;
    let h = FrameHeader {
        generation: c.u64("generation")?,
        cnt0: c.u64("cnt0")?,
        cnt1: c.u64("cnt1")?,
        atime: time(&mut c, "atime")?,
        writetime: time(&mut c, "writetime")?,
        sent: time(&mut c, "send time")?,
    };
    let declared = c.u64("payload length")?;
    let found = total_len.saturating_sub(super::frame_header_len());
    if declared != found as u64 {
        return Err(WireError::PayloadLength { declared, found });
    }
    Ok(h)
}

fn invalid(field: &'static str, reason: impl ToString) -> WireError {
    WireError::Invalid {
        field,
        reason: reason.to_string(),
    }
}

fn meta(c: &mut Cursor<'_>) -> Result<StreamMeta, WireError> {
    let generation = c.u64("generation")?;
    let name = c.short_str("name", NAME_MAX)?;
    shmim_core::validate_name(&name).map_err(|e| invalid("name", e))?;
    let code = c.u8("datatype")?;
    let datatype = Datatype::try_from(code).map_err(|e| invalid("datatype", e))?;
    let naxis = c.u8("naxis")?;
    if !(1..=3).contains(&naxis) {
        return Err(invalid("naxis", format!("{naxis}, expected 1 to 3")));
    }
    let shape = (0..naxis)
        .map(|_| c.u32("size"))
        .collect::<Result<Vec<_>, _>>()?;
    let imagetype = c.u64("imagetype")?;
    let semaphores = c.u16("semaphores")?;
    let keyword_slots = c.u16("keyword slots")?;
    let cb_size = c.u32("circular-buffer size")?;
    // The layout a local stream of this description would have: refuses zero axes, element
    // counts over the legacy limit, a circular-buffer imagetype without three axes, overflow.
    RegionSpec::new(&shape, datatype)
        .with_keywords(keyword_slots)
        .with_semaphores(semaphores)
        .with_imagetype(imagetype)
        .with_circular_buffer(cb_size)
        .regions()
        .map_err(|e| invalid("shape", e))?;
    let count = c.u16("keyword count")?;
    if count > keyword_slots {
        return Err(invalid(
            "keyword count",
            format!("{count} keywords for {keyword_slots} entries"),
        ));
    }
    let mut keywords: Vec<Keyword> = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let k = keyword(c)?;
        if k.index >= keyword_slots {
            return Err(invalid(
                "keyword index",
                format!("{} of {keyword_slots} entries", k.index),
            ));
        }
        if keywords.iter().any(|o| o.index == k.index) {
            return Err(invalid("keyword index", format!("{} twice", k.index)));
        }
        keywords.push(k);
    }
    Ok(StreamMeta {
        generation,
        name,
        layout: Layout {
            datatype,
            shape,
            imagetype,
            semaphores,
            keyword_slots,
            cb_size,
        },
        keywords,
    })
}

fn keyword(c: &mut Cursor<'_>) -> Result<Keyword, WireError> {
    let index = c.u16("keyword index")?;
    let kind = c.u8("keyword type")?;
    let name = c.short_str("keyword name", KEYWORD_NAME_MAX)?;
    let value = match kind {
        b'N' => Value::Empty,
        b'L' => Value::Long(c.i64("keyword value")?),
        b'D' => Value::Double(f64::from_bits(c.u64("keyword value")?)),
        b'S' => Value::Str(c.short_str("keyword value", KEYWORD_NAME_MAX)?),
        other => return Err(invalid("keyword type", format!("{other:#04x}"))),
    };
    let comment = c.short_str("keyword comment", KEYWORD_COMMENT_MAX)?;
    Ok(Keyword {
        index,
        name,
        value,
        comment,
        cnt: 0,
    })
}

fn time(c: &mut Cursor<'_>, what: &'static str) -> Result<Timespec, WireError> {
    let t = Timespec {
        tv_sec: c.i64(what)?,
        tv_nsec: c.i64(what)?,
    };
    if !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(invalid(what, format!("{} nanoseconds", t.tv_nsec)));
    }
    Ok(t)
}
