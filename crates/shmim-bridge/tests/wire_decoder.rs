//! The wire decoder against valid, truncated, mutated and hostile messages: every message either
//! decodes to what was encoded or is refused with a typed error; nothing panics.

#[path = "../../shmim-layout/tests/support/splitmix.rs"]
mod splitmix;

use shmim_bridge::layout::Layout;
use shmim_bridge::wire::{
    FrameHeader, Message, StreamMeta, WireError, decode, encode_frame_header, encode_meta,
    frame_header_len,
};
use shmim_core::{Datatype, Keyword, Timespec, Value};
use splitmix::Rng;

fn meta() -> StreamMeta {
    StreamMeta {
        generation: 0x1234_5678_9abc_def0,
        name: "wfs_cam".into(),
        layout: Layout {
            datatype: Datatype::Float,
            shape: vec![64, 48],
            imagetype: shmim_core::ImageType::MATH_DATA,
            semaphores: 10,
            keyword_slots: 4,
            cb_size: 0,
        },
        keywords: vec![
            kw(0, "EXPTIME", Value::Double(0.5), "exposure [s]"),
            kw(1, "GAIN", Value::Long(-3), ""),
            kw(3, "MODE", Value::Str("fast".into()), "readout"),
        ],
    }
}

fn kw(index: u16, name: &str, value: Value, comment: &str) -> Keyword {
    Keyword {
        index,
        name: name.into(),
        value,
        comment: comment.into(),
        cnt: 0,
    }
}

fn frame(pixels: &[u8]) -> Vec<u8> {
    let h = FrameHeader {
        generation: 7,
        cnt0: 41,
        cnt1: 2,
        atime: Timespec {
            tv_sec: 10,
            tv_nsec: 5,
        },
        writetime: Timespec {
            tv_sec: 11,
            tv_nsec: 6,
        },
        sent: Timespec {
            tv_sec: 12,
            tv_nsec: 7,
        },
    };
    let mut out = Vec::new();
    encode_frame_header(&h, pixels.len() as u64, &mut out);
    out.extend_from_slice(pixels);
    out
}

#[test]
fn stream_description_round_trips() {
    let m = meta();
    assert_eq!(decode(&encode_meta(&m)), Ok(Message::Meta(m)));
}

#[test]
fn frame_round_trips_with_its_source_counters_and_times() {
    let pixels: Vec<u8> = (0..=255).collect();
    let bytes = frame(&pixels);
    assert_eq!(bytes.len(), frame_header_len() + 256);
    let Ok(Message::Frame(h, p)) = decode(&bytes) else {
        panic!("frame did not decode");
    };
    assert_eq!((h.generation, h.cnt0, h.cnt1), (7, 41, 2));
    assert_eq!(
        (h.atime.tv_sec, h.writetime.tv_nsec, h.sent.tv_sec),
        (10, 6, 12)
    );
    assert_eq!(p, &pixels[..]);
}

#[test]
fn every_truncation_of_a_valid_message_is_refused() {
    for msg in [encode_meta(&meta()), frame(&[1, 2, 3, 4, 5, 6, 7, 8])] {
        for len in 0..msg.len() {
            assert!(
                decode(&msg[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
    }
}

#[test]
fn the_longest_possible_description_decodes_and_a_longer_one_is_refused_by_its_length() {
    let mut m = meta();
    m.name = "n".repeat(79);
    m.layout.shape = vec![2, 2, 2];
    m.layout.keyword_slots = u16::MAX;
    m.keywords = (0..u16::MAX)
        .map(|i| {
            kw(
                i,
                &"K".repeat(15),
                Value::Str("v".repeat(15)),
                &"c".repeat(79),
            )
        })
        .collect();
    let mut bytes = encode_meta(&m);
    assert_eq!(bytes.len(), shmim_bridge::wire::MAX_META_LEN);
    assert_eq!(decode(&bytes), Ok(Message::Meta(m)));
    bytes.push(0);
    assert_eq!(
        decode(&bytes),
        Err(WireError::TooLong {
            len: shmim_bridge::wire::MAX_META_LEN + 1,
            max: shmim_bridge::wire::MAX_META_LEN
        })
    );
}

#[test]
fn bytes_after_a_description_are_refused() {
    let mut msg = encode_meta(&meta());
    msg.push(0);
    assert_eq!(decode(&msg), Err(WireError::Trailing { extra: 1 }));
}

#[test]
fn frame_whose_payload_disagrees_with_its_length_is_refused() {
    let mut msg = frame(&[0; 16]);
    msg.extend_from_slice(&[0; 4]);
    assert_eq!(
        decode(&msg),
        Err(WireError::PayloadLength {
            declared: 16,
            found: 20
        })
    );
}

#[test]
fn other_magic_version_and_kind_are_refused() {
    let good = encode_meta(&meta());
    let mut m = good.clone();
    m[0] = b'X';
    assert!(matches!(decode(&m), Err(WireError::BadMagic { .. })));
    let mut v = good.clone();
    v[4] = 2;
    assert_eq!(decode(&v), Err(WireError::Version { found: 2 }));
    let mut k = good;
    k[5] = 9;
    assert_eq!(decode(&k), Err(WireError::Kind { found: 9 }));
}

#[test]
fn descriptions_no_stream_could_have_are_refused() {
    let bad = [
        StreamMeta {
            name: "../etc".into(),
            ..meta()
        },
        StreamMeta {
            name: String::new(),
            ..meta()
        },
        StreamMeta {
            layout: Layout {
                shape: vec![0, 4],
                ..meta().layout
            },
            ..meta()
        },
        StreamMeta {
            layout: Layout {
                shape: vec![u32::MAX, u32::MAX, u32::MAX],
                ..meta().layout
            },
            ..meta()
        },
        // A circular-buffer imagetype needs three axes.
        StreamMeta {
            layout: Layout {
                imagetype: 0x1,
                ..meta().layout
            },
            ..meta()
        },
        StreamMeta {
            keywords: vec![kw(9, "X", Value::Long(1), "")],
            ..meta()
        },
        StreamMeta {
            keywords: vec![
                kw(1, "X", Value::Long(1), ""),
                kw(1, "Y", Value::Long(2), ""),
            ],
            ..meta()
        },
    ];
    for m in bad {
        let bytes = encode_meta(&m);
        let got = decode(&bytes);
        assert!(
            matches!(got, Err(WireError::Invalid { .. })),
            "{m:?} gave {got:?}"
        );
    }
}

#[test]
fn unknown_datatype_and_nanoseconds_out_of_range_are_refused() {
    let mut m = encode_meta(&meta());
    // datatype byte: header 8, generation 8, name length 1 + 7 bytes.
    m[8 + 8 + 1 + 7] = 20;
    assert!(matches!(
        decode(&m),
        Err(WireError::Invalid {
            field: "datatype",
            ..
        })
    ));
    let mut f = frame(&[]);
    // atime nanoseconds: header 8, three u64 counters 24, atime seconds 8.
    f[8 + 24 + 8..8 + 24 + 16].copy_from_slice(&2_000_000_000i64.to_le_bytes());
    assert!(matches!(
        decode(&f),
        Err(WireError::Invalid { field: "atime", .. })
    ));
}

#[test]
fn random_mutations_never_panic_and_never_decode_a_different_frame_length() {
    let mut rng = Rng(0x5eed_b41d9e);
    let seeds = [encode_meta(&meta()), frame(&[0xab; 64])];
    for round in 0..20_000 {
        let mut msg = seeds[round % 2].clone();
        for _ in 0..=rng.below(6) {
            match rng.below(4) {
                0 if !msg.is_empty() => {
                    let i = rng.below(msg.len() as u64) as usize;
                    msg[i] = rng.next() as u8;
                }
                1 => msg.truncate(rng.below(msg.len() as u64 + 1) as usize),
                2 => msg.push(rng.next() as u8),
                _ if msg.len() > 8 => {
                    // Overwrite a length-looking byte with an extreme value.
                    let i = 8 + rng.below(msg.len() as u64 - 8) as usize;
                    msg[i] = rng.pick(&[0, 1, 0x7f, 0x80, 0xff]);
                }
                _ => {}
            }
        }
        if let Ok(Message::Frame(_, p)) = decode(&msg) {
            assert_eq!(msg.len(), frame_header_len() + p.len());
        }
    }
}

#[test]
fn random_bytes_are_refused_without_panicking() {
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let len = rng.below(200) as usize;
        let mut msg: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 6 && rng.below(2) == 0 {
            msg[..6].copy_from_slice(&[b'S', b'H', b'M', b'B', 1, 1 + rng.below(2) as u8]);
        }
        let _ = decode(&msg);
    }
}
