//! The bridge's own wire format, version 1: what one Zenoh sample carries.
//!
//! Every message is little-endian and starts with the same 8 bytes:
//!
//! ```text
//! offset size  field
//!      0    4  magic  b"SHMB"
//!      4    1  version (1)
//!      5    1  kind: 1 = stream description (Meta), 2 = frame
//!      6    2  reserved, 0 (ignored by version-1 readers)
//! ```
//!
//! The body of each kind is in `docs/bridge.md`, field by field. Decoding is a pure function over
//! `&[u8]` ([`decode`]): every length is checked against what remains, every count against its
//! limit, names and shapes are validated as a local stream would be, and nothing but integers,
//! floats and UTF-8 strings is ever built from the bytes (no serde, nothing executable). A message
//! that fails any check is a [`WireError`]; the caller counts it and drops it.

mod cursor;
mod decode;
mod encode;

use shmim_core::{Keyword, Timespec};

use crate::layout::Layout;

pub use decode::{MAX_META_LEN, decode, decode_frame_header, peek_kind};
pub use encode::{encode_frame_header, encode_meta, frame_header_len};

/// `b"SHMB"`: the first four bytes of every message.
pub const MAGIC: [u8; 4] = *b"SHMB";
/// The version this code writes and reads.
pub const VERSION: u8 = 1;
/// Kind byte of a stream description.
pub const KIND_META: u8 = 1;
/// Kind byte of a frame.
pub const KIND_FRAME: u8 = 2;
/// Bytes of the common header.
pub const HEADER_LEN: usize = 8;

/// A stream's description: everything needed to create its mirror, and its keywords.
///
/// Sent by the publisher's queryable to late joiners, and as a sample whenever the source is
/// (re)opened or a keyword changes.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamMeta {
    /// Identifies one incarnation of the source stream (its inode and creation time mixed): a
    /// re-created source has a new generation, and frames name the generation they belong to.
    pub generation: u64,
    /// The source stream's name.
    pub name: String,
    /// Shape, type and the rest of the file layout.
    pub layout: Layout,
    /// The used keyword entries (`cnt` is not sent and decodes as 0).
    pub keywords: Vec<Keyword>,
}

/// What travels with each frame besides its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The [`StreamMeta::generation`] this frame belongs to.
    pub generation: u64,
    /// Source `cnt0` of this frame.
    pub cnt0: u64,
    /// Source `cnt1` (slice index of cubes).
    pub cnt1: u64,
    /// Source `atime` (acquisition time).
    pub atime: Timespec,
    /// Source `writetime` (publish time at the source).
    pub writetime: Timespec,
    /// When the publisher handed the frame to Zenoh (CLOCK_TAI of the publishing host).
    pub sent: Timespec,
}

/// A decoded message; a frame borrows its pixels from the sample.
#[derive(Debug, PartialEq)]
pub enum Message<'a> {
    /// A stream description.
    Meta(StreamMeta),
    /// A frame: header and exactly one frame of pixel bytes.
    Frame(FrameHeader, &'a [u8]),
}

/// Why a message was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The message ends before a field.
    #[error("truncated: {what} needs {needed} bytes at offset {at}, {left} left")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Offset of the field.
        at: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the message.
        left: usize,
    },
    /// Not a bridge message.
    #[error("bad magic {found:02x?} (expected \"SHMB\"): not a shmim bridge message")]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// A version this build does not read.
    #[error("wire version {found} is not supported (this build reads version {VERSION})")]
    Version {
        /// The version byte.
        found: u8,
    },
    /// An unknown kind byte.
    #[error("unknown message kind {found}")]
    Kind {
        /// The kind byte.
        found: u8,
    },
    /// Bytes left over after the last field.
    #[error("{extra} unexpected bytes after the message")]
    Trailing {
        /// How many.
        extra: usize,
    },
    /// A field holds a value no stream can have.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A description longer than any stream's can be (checked before the sample is copied).
    #[error("a {len}-byte description is longer than any description can be ({max} bytes)")]
    TooLong {
        /// Bytes of the message.
        len: usize,
        /// The longest possible description.
        max: usize,
    },
    /// A frame whose pixel bytes disagree with the length it declares.
    #[error("frame carries {found} pixel bytes, its header says {declared}")]
    PayloadLength {
        /// Declared length.
        declared: u64,
        /// Bytes present.
        found: usize,
    },
}
