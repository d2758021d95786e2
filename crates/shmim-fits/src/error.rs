//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

use shmim_core::Datatype;

/// Everything that can go wrong saving, loading or logging, with what a user needs to act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream side failed (open, read, create, write…).
    #[error(transparent)]
    Stream(#[from] shmim_core::Error),
    /// cfitsio reported an error.
    #[error("FITS {op} {}: {message} (cfitsio status {status})", path.display())]
    Fits {
        /// What we asked cfitsio to do.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// cfitsio's status code (0 when the check was ours).
        status: i32,
        /// cfitsio's explanation.
        message: String,
    },
    /// The pixels have no FITS image type.
    #[error(
        "{what} holds {datatype} pixels, which no FITS image type can hold (FITS images are 8/16/32/64-bit integers or 32/64-bit floats; complex and half-precision pixels have no BITPIX)"
    )]
    Unsupported {
        /// The stream's datatype.
        datatype: Datatype,
        /// The stream or file.
        what: String,
    },
    /// A file system operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A finished file could not be flushed to disk or renamed into place: it is kept, whole,
    /// where it was written, and the error says where (its frames are not lost).
    #[error("{op} {}: {source}; the finished file is kept at {}", dest.display(), kept.display())]
    NotCommitted {
        /// What failed (`flush to disk`, `rename`).
        op: &'static str,
        /// The final path it was meant for.
        dest: PathBuf,
        /// Where the file is.
        kept: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The output file exists and overwriting was not asked for.
    #[error("{} exists (pass --overwrite to replace it)", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A path cfitsio cannot take.
    #[error("cannot use {} as a FITS file name: {reason}", path.display())]
    BadPath {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// The file holds no image a stream can take.
    #[error("{} holds no image a stream can take: {reason}", path.display())]
    NoImage {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The file is compressed; cfitsio would inflate it in memory, whatever size it claims.
    #[error("{} is a {format} compressed file: decompress it first (shmim reads FITS files as they are)", path.display())]
    Compressed {
        /// The file.
        path: PathBuf,
        /// The compression.
        format: &'static str,
    },
    /// Another process created the stream while a file was being loaded into a new one.
    #[error(
        "stream {name} was created by another process while the file was loaded; it was left as it is (load again to fill it)"
    )]
    StreamAppeared {
        /// The stream.
        name: String,
    },
    /// The file ends before the data its header declares.
    #[error("{} is truncated: its header declares data up to byte {expected}, the file has {found} bytes", path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the declared data ends.
        expected: u64,
        /// The file's length.
        found: u64,
    },
    /// The image is larger than this process can hold in memory.
    #[error("{} holds a {bytes}-byte image, more than this process can allocate", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Bytes of the image.
        bytes: u64,
    },
    /// A cube would grow past the largest file cfitsio can address.
    #[error("{} would grow past {limit} bytes after {frames} frames: ask for fewer frames", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Frames written.
        frames: u64,
        /// The limit ([`crate::cube::MAX_FILE_BYTES`]).
        limit: u64,
    },
    /// An existing stream has another shape or type than the file.
    #[error(
        "stream {name} is {stream_type} {stream_shape:?}, the file is {file_type} {file_shape:?} (pass --replace to re-create the stream)"
    )]
    Incompatible {
        /// The stream.
        name: String,
        /// Its datatype.
        stream_type: Datatype,
        /// Its shape.
        stream_shape: Vec<u32>,
        /// The file's datatype.
        file_type: Datatype,
        /// The file's shape.
        file_shape: Vec<u32>,
    },
    /// A logger's thread cannot run on the CPU asked for.
    #[error("cannot run the logger's {thread} on CPU {cpu}: {reason}")]
    Cpu {
        /// Which thread.
        thread: crate::cpu::LoggerThread,
        /// The CPU asked for.
        cpu: usize,
        /// Why not.
        reason: String,
    },
    /// No frame came in time.
    #[error(
        "no new frame of {name} within {waited:?} ({frames} frames taken so far; is a writer running?)"
    )]
    NoFrame {
        /// The stream.
        name: String,
        /// How long we waited for the next one.
        waited: Duration,
        /// Frames taken before.
        frames: u64,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
