//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

use shmim_layout::{Datatype, LayoutError};

use crate::validate::Invalid;

/// Everything that can go wrong with a stream, with the fields a user needs to act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream name cannot be used.
    #[error("invalid stream name {name:?}: {reason}")]
    InvalidName {
        /// The name as given (lossy).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The requested geometry cannot describe a stream.
    #[error("invalid stream geometry: {0}")]
    Geometry(#[from] LayoutError),
    /// A system call on a stream file failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing (`open`, `fallocate`, `mmap`, …).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No stream by that name.
    #[error("no stream at {}", path.display())]
    NotFound {
        /// Where we looked.
        path: PathBuf,
    },
    /// The stream exists but we may not open it.
    #[error("permission denied opening {} (ask its owner for read-write access)", path.display())]
    PermissionDenied {
        /// The file.
        path: PathBuf,
    },
    /// The path is not a regular file (a directory, FIFO, device…).
    #[error("{} is a {kind}, not a stream file", path.display())]
    NotRegularFile {
        /// The file.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// A symbolic link leads out of the stream directory and following it was not allowed.
    #[error("{} is a symlink to {}, outside the stream directory (refused)", path.display(), target.display())]
    SymlinkOutsideDir {
        /// The link.
        path: PathBuf,
        /// Where it leads.
        target: PathBuf,
    },
    /// A file exists where a stream is to be created and is not one shmim may replace.
    #[error("{} exists and is a {kind}; refusing to replace it", path.display())]
    Occupied {
        /// The path.
        path: PathBuf,
        /// What is there.
        kind: &'static str,
    },
    /// The file is not a valid ImageStreamIO 2.00 stream.
    #[error("{} is not a valid stream: {check}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The check that failed.
        check: Invalid,
    },
    /// The pixel type asked for is not the stream's datatype.
    #[error("stream holds {stream} pixels, not {requested}")]
    TypeMismatch {
        /// The stream's datatype.
        stream: Datatype,
        /// The type asked for.
        requested: Datatype,
    },
    /// A buffer does not hold exactly one frame (or slice).
    #[error("buffer holds {found} elements, the frame has {expected}")]
    LengthMismatch {
        /// Elements of the frame or slice.
        expected: u64,
        /// Elements of the buffer.
        found: usize,
    },
    /// An index (slice, circular-buffer slot, keyword, semaphore) is out of range.
    #[error("{what} index {index} out of range (0..{count})")]
    IndexOutOfRange {
        /// What is indexed.
        what: &'static str,
        /// The index given.
        index: u64,
        /// How many there are.
        count: u64,
    },
    /// Another writer holds the write flag.
    #[error(
        "another writer holds the write flag (claimed by PID {writer}; 0: no shmim claim, e.g. a legacy writer)"
    )]
    WriterBusy {
        /// The claim PID: the shmim writer holding the flag (0: none claims it, e.g. a legacy
        /// writer, which claims nothing).
        writer: i32,
    },
    /// The write flag stayed set for the whole timeout and its holder is alive, unknown, or
    /// claims nothing.
    #[error(
        "writer stuck: write flag set for {waited:?} (claimed by PID {writer}; 0: no shmim claim, e.g. a legacy writer)"
    )]
    WriterStuck {
        /// The claim PID (0: none, e.g. a legacy writer).
        writer: i32,
        /// How long we waited.
        waited: Duration,
    },
    /// The write flag is set, its claimant no longer runs (exited, or a zombie), and the flag is
    /// still the one it took: [`crate::Stream::recover_writer`] can take it over.
    #[error("writer died mid-frame (claim PID {writer} no longer runs); recover_writer takes over")]
    WriterDied {
        /// The dead writer's PID.
        writer: i32,
    },
    /// A [`crate::HeldWrite`] was given to another handle than the one that held it.
    #[error(
        "the held frame of stream {name} belongs to another handle: resume it through the handle that held it"
    )]
    HeldElsewhere {
        /// The stream of the held frame.
        name: String,
    },
    /// The frame kept changing under every copy until the timeout.
    #[error("no consistent copy within {waited:?}: the frame kept changing")]
    Torn {
        /// How long we tried.
        waited: Duration,
    },
    /// Nothing arrived within the timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Every reader slot (semaphore) of the stream is taken by a live process.
    #[error("all {slots} reader slots of {name} are taken by live processes")]
    NoFreeSlot {
        /// The stream.
        name: String,
        /// How many slots it has.
        slots: u16,
    },
    /// The stream was re-created under the same name; reopen it to follow.
    #[error("stream {name} was replaced by a new file; reopen it")]
    Replaced {
        /// The stream.
        name: String,
    },
    /// Nothing is at the path the stream was opened by any more: the file was deleted and nothing
    /// replaced it, or its directory was renamed or removed. A stream is its name in its
    /// directory: even if a writer still writes the mapped file, nobody can find it by name.
    #[error("stream {name} was removed ({} no longer exists)", path.display())]
    Removed {
        /// The stream.
        name: String,
        /// The path it was opened by.
        path: PathBuf,
    },
    /// A semaphore operation failed.
    #[error(transparent)]
    Semaphore(#[from] shmim_sync::semaphore::SemError),
    /// The pixels of a GPU stream are not in the file.
    #[error("stream {name} keeps its pixels on GPU {location}; they are not in the file")]
    GpuStream {
        /// The stream.
        name: String,
        /// The device.
        location: i8,
    },
    /// A keyword name, comment or value does not fit its field.
    #[error("keyword {what} {value:?} too long: at most {max} bytes")]
    KeywordTooLong {
        /// `name`, `comment` or `string value`.
        what: &'static str,
        /// The text given.
        value: String,
        /// The limit.
        max: usize,
    },
    /// A keyword name, comment or value holds a NUL byte, which C readers take for its end.
    #[error("keyword {what} {value:?} holds a NUL byte at {at}: C reads the text as ending there")]
    KeywordNul {
        /// `name`, `comment` or `string value`.
        what: &'static str,
        /// The text given.
        value: String,
        /// Byte index of the NUL.
        at: usize,
    },
    /// A shared segment's file does not hold this segment type.
    #[error("{} is not the segment expected: {check}", path.display())]
    Segment {
        /// The file.
        path: PathBuf,
        /// What does not match.
        check: SegmentMismatch,
    },
    /// The segment lock failed.
    #[error(transparent)]
    Lock(#[from] shmim_sync::lock::LockError),
    /// Another open handle (another process, or another `open` of this one) kept the keyword
    /// writers' lock of the stream for the whole wait: it is stopped or hung mid-write.
    #[error(
        "the keyword lock of {} stayed taken for {waited:?} (is a keyword writer stopped?)",
        path.display()
    )]
    KeywordsLocked {
        /// The stream file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// Every keyword entry is in use.
    #[error("all {count} keyword entries are in use")]
    KeywordsFull {
        /// Keyword entries of the stream.
        count: u16,
    },
}

/// The segment file is not a shmim segment of this type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentMismatch {
    /// The file does not start with the segment magic.
    #[error("not a shmim segment (bad magic)")]
    Magic,
    /// The file is a segment of another format version.
    #[error(
        "segment format version {found}, this shmim reads version {} only{}",
        crate::segment::SEGMENT_VERSION,
        if *found == 1 {
            " (version 1 kept a robust pthread mutex in the file, which let the file steer the \
             unlocking process's memory): re-create the segment"
        } else {
            ""
        }
    )]
    Version {
        /// The version in the file.
        found: u32,
    },
    /// The file is a segment of another size (another struct, or another version of it).
    #[error("holds {found} bytes of data, the type has {expected}")]
    Size {
        /// `size_of::<T>()`.
        expected: u64,
        /// What the file says.
        found: u64,
    },
    /// The file length disagrees with its header.
    #[error("file is {found} bytes, expected {expected}")]
    FileSize {
        /// Header plus data.
        expected: u64,
        /// Actual.
        found: u64,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`, with the common cases given their own variant.
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        match source.kind() {
            std::io::ErrorKind::NotFound if op == "open" => Self::NotFound { path: path.into() },
            std::io::ErrorKind::PermissionDenied if op == "open" => {
                Self::PermissionDenied { path: path.into() }
            }
            _ => Self::Io {
                op,
                path: path.into(),
                source,
            },
        }
    }
}
