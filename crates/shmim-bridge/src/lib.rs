//! Streams across machines: `shmim-bridge` mirrors ImageStreamIO streams over Zenoh, and speaks
//! milk's TCP stream protocol for migration.
//!
//! * [`publish`]: `pub NAME…` — local streams → Zenoh (frames, descriptions, a queryable for late
//!   joiners, a liveliness token).
//! * [`sub`]: `sub KEYEXPR` — Zenoh → local mirrors ([`mirror`]), `latest` or `every` mode.
//! * [`ls`]: the streams published on the network.
//! * [`milk`]: `milk-recv` / `milk-send`, byte-compatible with milk's `imnetwreceive` /
//!   `imnetwtransmit`.
//! * [`wire`]: the bridge's own versioned, little-endian message format.
//!
//! The design, the wire format field by field, the key-expression escaping rule and the mirror
//! keywords are in `docs/bridge.md`. Building `shmim` never compiles this crate: `shmim bridge …`
//! finds the `shmim-bridge` binary next to `shmim` or on `PATH`.
#![deny(missing_docs)]

pub mod bench;
pub mod clock;
pub mod error;
pub mod keys;
pub mod layout;
pub mod log;
pub mod ls;
pub mod milk;
pub mod mirror;
pub mod pool;
pub mod publish;
pub mod session;
pub mod source;
pub mod sub;
pub mod wire;

pub use error::{BridgeError, Result};
