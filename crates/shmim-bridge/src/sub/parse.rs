//! From a Zenoh sample to a checked message: a frame's header only (its pixels are copied once,
//! straight into the mirror), a description whole, and only if it is no longer than a
//! description can be and names the stream its key names.

use std::io::Read;

use zenoh::bytes::ZBytes;

use super::mailbox::Arrived;
use crate::wire::{self, KIND_FRAME, MAX_META_LEN, Message, StreamMeta, WireError};

/// A message that passed the decoder's checks.
pub enum Parsed {
    /// A frame (its pixels still in the sample).
    Frame(Arrived),
    /// A description.
    Meta(StreamMeta),
}

/// Decodes a sample that arrived on `key` at `received`.
pub fn parse(
    key: &str,
    payload: &ZBytes,
    received: shmim_core::Timespec,
) -> Result<Parsed, WireError> {
    let mut head = [0u8; wire::frame_header_len()];
    let n = read_prefix(payload, &mut head);
    if wire::peek_kind(&head[..n])? == KIND_FRAME {
        let h = wire::decode_frame_header(&head[..n], payload.len())?;
        return Ok(Parsed::Frame(Arrived {
            header: h,
            payload: payload.clone(),
            latency_ns: crate::clock::nanos_between(h.sent, received),
            replaced: 0,
        }));
    }
    // Before the copy out of Zenoh's buffers: junk the size of a frame costs nothing more.
    if payload.len() > MAX_META_LEN {
        return Err(WireError::TooLong {
            len: payload.len(),
            max: MAX_META_LEN,
        });
    }
    match wire::decode(&payload.to_bytes())? {
        Message::Meta(m) => named_after(key, m).map(Parsed::Meta),
        Message::Frame(..) => Err(WireError::Kind { found: KIND_FRAME }),
    }
}

/// A description on `key` must describe the stream the key names (its last chunk, unescaped):
/// the mirror is named after the key, and a description naming another stream is a mistake or
/// an attempt at another key's mirror.
fn named_after(key: &str, m: StreamMeta) -> Result<StreamMeta, WireError> {
    let expected = crate::keys::name_of_key(key);
    if expected.as_deref() == Some(m.name.as_str()) {
        return Ok(m);
    }
    Err(WireError::Invalid {
        field: "name",
        reason: format!(
            "the description names stream {:?}, but its key {key} names {}",
            m.name,
            expected.map_or_else(|| "no stream".to_owned(), |n| format!("{n:?}"))
        ),
    })
}

/// Copies up to `buf.len()` leading bytes of `payload`; returns how many.
fn read_prefix(payload: &ZBytes, buf: &mut [u8]) -> usize {
    let mut r = payload.reader();
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;

    fn meta(name: &str) -> ZBytes {
        ZBytes::from(wire::encode_meta(&StreamMeta {
            generation: 1,
            name: name.into(),
            layout: Layout {
                datatype: shmim_core::Datatype::U8,
                shape: vec![2],
                imagetype: 0,
                semaphores: 1,
                keyword_slots: 0,
                cb_size: 0,
            },
            keywords: vec![],
        }))
    }

    #[test]
    fn a_description_must_name_the_stream_its_key_names() {
        let t = shmim_core::Timespec::default();
        assert!(matches!(
            parse("shmim/cam", &meta("cam"), t),
            Ok(Parsed::Meta(_))
        ));
        assert!(matches!(
            parse("lab/%40raw", &meta("@raw"), t),
            Ok(Parsed::Meta(_))
        ));
        let err = parse("shmim/evil", &meta("cam"), t)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("names stream \"cam\""), "{err}");
        assert!(parse("shmim/a%zz", &meta("a"), t).is_err());
    }

    #[test]
    fn a_description_longer_than_any_can_be_is_refused_before_it_is_read() {
        let mut big = vec![0u8; MAX_META_LEN + 1];
        big[..8].copy_from_slice(b"SHMB\x01\x01\0\0");
        let err = parse(
            "shmim/x",
            &ZBytes::from(big),
            shmim_core::Timespec::default(),
        );
        assert!(matches!(err, Err(WireError::TooLong { .. })));
    }
}
