//! Writing messages (the publisher's side).

use shmim_core::{Keyword, Timespec, Value};

use super::{FrameHeader, HEADER_LEN, KIND_FRAME, KIND_META, MAGIC, StreamMeta, VERSION};

fn header(out: &mut Vec<u8>, kind: u8) {
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(&[0, 0]);
}

fn time(out: &mut Vec<u8>, t: Timespec) {
    out.extend_from_slice(&t.tv_sec.to_le_bytes());
    out.extend_from_slice(&t.tv_nsec.to_le_bytes());
}

/// A string known to fit (names, keyword fields are bounded before they get here); longer input
/// is cut at a character boundary so the message stays decodable.
fn short_str(out: &mut Vec<u8>, s: &str, max: usize) {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.push(end as u8);
    out.extend_from_slice(&s.as_bytes()[..end]);
}

fn keyword(out: &mut Vec<u8>, k: &Keyword) {
    out.extend_from_slice(&k.index.to_le_bytes());
    let kind = match &k.value {
        Value::Empty => b'N',
        Value::Long(_) => b'L',
        Value::Double(_) => b'D',
        Value::Str(_) => b'S',
    };
    out.push(kind);
    short_str(out, &k.name, super::decode::KEYWORD_NAME_MAX);
    match &k.value {
        Value::Empty => {}
        Value::Long(l) => out.extend_from_slice(&l.to_le_bytes()),
        Value::Double(d) => out.extend_from_slice(&d.to_bits().to_le_bytes()),
        Value::Str(s) => short_str(out, s, super::decode::KEYWORD_NAME_MAX),
    }
    short_str(out, &k.comment, super::decode::KEYWORD_COMMENT_MAX);
}

/// The stream description as one message.
pub fn encode_meta(m: &StreamMeta) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + m.keywords.len() * 48);
    header(&mut out, KIND_META);
    out.extend_from_slice(&m.generation.to_le_bytes());
    short_str(&mut out, &m.name, super::decode::NAME_MAX);
    let l = &m.layout;
    out.push(l.datatype.code());
    out.push(l.shape.len() as u8);
    for s in &l.shape {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.extend_from_slice(&l.imagetype.to_le_bytes());
    out.extend_from_slice(&l.semaphores.to_le_bytes());
    out.extend_from_slice(&l.keyword_slots.to_le_bytes());
    out.extend_from_slice(&l.cb_size.to_le_bytes());
    out.extend_from_slice(&(m.keywords.len() as u16).to_le_bytes());
    for k in &m.keywords {
        keyword(&mut out, k);
    }
    out
}

/// Bytes before the pixels of a frame message.
pub const fn frame_header_len() -> usize {
    HEADER_LEN + 8 * 3 + 16 * 3 + 8
}

/// Writes a frame's header into `out` (cleared first); the caller appends exactly `payload_len`
/// pixel bytes.
pub fn encode_frame_header(h: &FrameHeader, payload_len: u64, out: &mut Vec<u8>) {
    out.clear();
    header(out, KIND_FRAME);
    out.extend_from_slice(&h.generation.to_le_bytes());
    out.extend_from_slice(&h.cnt0.to_le_bytes());
    out.extend_from_slice(&h.cnt1.to_le_bytes());
    time(out, h.atime);
    time(out, h.writetime);
    time(out, h.sent);
    out.extend_from_slice(&payload_len.to_le_bytes());
    debug_assert_eq!(out.len(), frame_header_len());
}
