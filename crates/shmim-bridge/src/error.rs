//! The bridge's errors: what failed and what to do about it.

use std::path::PathBuf;

/// A failure of a bridge verb.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// A stream operation failed.
    #[error(transparent)]
    Stream(#[from] shmim_core::Error),
    /// The Zenoh configuration could not be built.
    #[error("zenoh configuration: {what}: {reason}")]
    Config {
        /// The setting or file.
        what: String,
        /// Zenoh's reason.
        reason: String,
    },
    /// The Zenoh session could not be opened (e.g. the listen port is taken).
    #[error(
        "cannot open the zenoh session: {reason} (is another bridge listening there? pass --listen/--connect)"
    )]
    Session {
        /// Zenoh's reason.
        reason: String,
    },
    /// A Zenoh declaration or query failed.
    #[error("zenoh {what}: {reason}")]
    Zenoh {
        /// What was being done.
        what: String,
        /// Zenoh's reason.
        reason: String,
    },
    /// Bad arguments.
    #[error("{0}")]
    Usage(String),
    /// A local stream is in the way and is not one this bridge created.
    #[error(
        "{path}: a local stream that no bridge created is in the way; remove it or mirror under another name (--as)"
    )]
    NotOurs {
        /// The stream file.
        path: PathBuf,
    },
    /// The stream at the mirror's path is the mirror of another source.
    #[error(
        "{path} is the mirror of another source ({comment}); mirror this one under another name (--as) or elsewhere (--dir)"
    )]
    OtherSource {
        /// The stream file.
        path: PathBuf,
        /// Its mark's comment, naming its source.
        comment: String,
    },
    /// Another bridge process writes this mirror (it holds the mirror's lock).
    #[error(
        "another bridge writes {path} (it holds the mirror's lock); standing by until it is gone"
    )]
    Busy {
        /// The stream file.
        path: PathBuf,
    },
    /// The mirror's file would exceed `--max-bytes`.
    #[error(
        "{name}: a mirror file of {bytes} bytes (frames, circular buffer, keywords, semaphores) exceeds --max-bytes {max}"
    )]
    TooLarge {
        /// The stream.
        name: String,
        /// Bytes of its file.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The mirrors together would exceed `--max-total-bytes`.
    #[error(
        "{name}: a mirror file of {bytes} bytes does not fit: the mirrors already take {used} bytes of --max-total-bytes {max}"
    )]
    OverBudget {
        /// The stream.
        name: String,
        /// Bytes of its file.
        bytes: u64,
        /// Bytes already taken.
        used: u64,
        /// The limit.
        max: u64,
    },
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A milk TCP peer sent something this bridge cannot accept.
    #[error("milk TCP: {0}")]
    Milk(String),
}

impl BridgeError {
    /// A Zenoh failure while doing `what`.
    pub fn zenoh(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Self::Zenoh {
            what: what.into(),
            reason: e.to_string(),
        }
    }

    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

/// The bridge's result type.
pub type Result<T> = std::result::Result<T, BridgeError>;
