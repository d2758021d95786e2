//! milk's TCP stream transport (`imnetwtransmit` / `imnetwreceive`, milk-org/milk
//! `src/COREMOD_memory/stream_TCP.c`), for migrating milk installations stream by stream.
//!
//! The protocol, as milk implements it (all integers in the host's byte order, little-endian on
//! every machine milk runs on):
//!
//! 1. The transmitter connects to the receiver's port (the receiver listens and accepts one
//!    connection; no handshake, no version).
//! 2. The transmitter sends its raw `IMAGE_METADATA` once: the whole C struct, 384 bytes in the
//!    default build, 400 with `IMAGESTRUCT_WRITEHISTORY`, 4496 with `DAO_COMPAT`. Both ends must be
//!    built alike ([`HeaderVariant`]). The receiver uses `name`, `naxis`, `size`, `datatype`,
//!    `shared` and `NBkw` (the same offsets in every variant) to find or create its stream.
//! 3. Per frame: the pixels of one slice, `typesize × size[0] × size[1]` bytes; then the frame
//!    trailer, `{magic = 0x12341234ff, cnt0, cnt1}` as three 64-bit integers in current milk,
//!    `{cnt0, cnt1}` in older milk ([`record::Trailer`]; `cnt1` is the slice index); then the
//!    transmitter's `NBkw` raw 128-byte `IMAGE_KEYWORD` entries.
//!
//! milk never reconnects and its receiver needs the transmitter to start second. Here
//! `milk-recv` serves each connection on its own thread, the newest valid one taking over (an
//! idle or half-open connection cannot keep the next transmitter out), and `milk-send`
//! reconnects until the receiver is there, so start order does not matter. What milk accepts blindly is checked: the
//! header is validated like a stream file's, the magic of every record (a wrong one ends the
//! connection: the byte stream has no way to resynchronise), the slice index, the frame size
//! against `--max-bytes`, and keyword entries are parsed, never copied raw into the stream (and
//! never under the bridge's own names, `SHMIM_MIRROR` and `BR_*`, which would forge the mark).
//! A 1-D stream is refused: milk's frame size uses `size[1]`, which is 0 for one axis, so milk
//! would carry no pixels at all.

pub mod connection;
pub mod header;
pub mod record;
pub mod recv;
pub mod send;

use std::path::PathBuf;

use clap::Args;

pub use header::HeaderVariant;
pub use record::Trailer;
pub use recv::RecvArgs;
pub use send::SendArgs;

/// What both milk verbs need to know of the local side and of the milk peer's build.
#[derive(Debug, Clone, Args)]
pub struct MilkArgs {
    /// Stream directory (default: $MILK_SHM_DIR, else /milk/shm, else /tmp).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The milk peer's build of IMAGE_METADATA (sets the header's size).
    #[arg(long, value_enum, default_value_t = HeaderVariant::Default)]
    pub header: HeaderVariant,
    /// The frame trailer of the milk peer (older milk has no magic).
    #[arg(long, value_enum, default_value_t = Trailer::Magic)]
    pub trailer: Trailer,
}
