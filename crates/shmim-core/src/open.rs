//! Opening a stream file: resolve, check, map — validating before trusting.
//!
//! * A symlink named like a stream is followed (legacy setups alias streams that way), but only
//!   to a target inside the stream directory unless [`OpenOptions::follow_outside`] says
//!   otherwise; the handle keeps the link's name.
//! * The file must be a regular file (opened `O_NONBLOCK`, so a FIFO cannot block us).
//! * The header is read with `pread` into our own buffer and validated there
//!   ([`crate::validate::validate`]); only then is the file mapped, with the validated length.
//! * A legacy creator sizes the file and writes the version string last: while version or size do
//!   not match yet, open retries for a short while ([`OpenOptions::retry`]).

use std::fs::File;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::OFlags;
use shmim_layout::IMAGE_METADATA_SIZE;

use crate::error::{Error, Result};
use crate::mapping::Mapping;
use crate::validate::{Invalid, validate};

/// How to open a stream.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Follow a symlink that leads outside the stream directory (default: refuse).
    pub follow_outside: bool,
    /// How long to retry while the file looks half-created (default 200 ms).
    pub retry: Duration,
    /// Prefault the mapping (`MAP_POPULATE`), and the readers' own mapping of the pixels (made at
    /// once instead of on the first read).
    pub prefault: bool,
    /// Lock the mapping in RAM (`mlock`), and the readers' own mapping of the pixels, so frames
    /// never page-fault. Needs `RLIMIT_MEMLOCK` for the pixels twice (two mappings of the same
    /// pages count twice) plus the rest of the file.
    pub lock_memory: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            follow_outside: false,
            retry: Duration::from_millis(200),
            prefault: false,
            lock_memory: false,
        }
    }
}

/// Opens and maps the stream file at `path`; `dir` is the stream directory symlinks must stay in
/// (`None`: the path's own directory).
pub(crate) fn open_path(path: &Path, dir: Option<&Path>, opts: &OpenOptions) -> Result<Mapping> {
    check_link(path, dir, opts)?;
    // Kind first (following links): opening a directory read-write fails with a less useful error.
    // The fstat below re-checks the file we actually opened.
    let kind = std::fs::metadata(path)
        .map_err(|e| Error::io("open", path, e))?
        .file_type();
    if !kind.is_file() {
        return Err(Error::NotRegularFile {
            path: path.into(),
            kind: kind_of(&kind),
        });
    }
    let fd = rustix::fs::open(
        path,
        OFlags::RDWR | OFlags::CLOEXEC | OFlags::NONBLOCK,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| Error::io("open", path, e.into()))?;
    let file = File::from(fd);
    let deadline = crate::consistent::deadline_after(Instant::now(), opts.retry);
    loop {
        let meta = file.metadata().map_err(|e| Error::io("fstat", path, e))?;
        if !meta.file_type().is_file() {
            return Err(Error::NotRegularFile {
                path: path.into(),
                kind: kind_of(&meta.file_type()),
            });
        }
        let len = meta.len();
        let mut header = vec![0u8; IMAGE_METADATA_SIZE.min(len as usize)];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| Error::io("read", path, e))?;
        match validate(&header, len) {
            Ok(geo) => {
                let map = map_file(&file, path, len, opts.prefault)?;
                if opts.lock_memory {
                    map.lock().map_err(|e| Error::io("mlock", path, e))?;
                }
                let ino = std::os::unix::fs::MetadataExt::ino(&meta);
                let mapping = Mapping::from_file(map, file, path.to_path_buf(), ino, geo);
                if opts.prefault || opts.lock_memory {
                    mapping.prepare_readers(opts.lock_memory)?;
                }
                return Ok(mapping);
            }
            Err(check) if check.maybe_in_progress() && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(check) => {
                return Err(Error::Invalid {
                    path: path.into(),
                    check,
                });
            }
        }
    }
}

/// Refuses a symlink that leads out of the stream directory (unless allowed).
fn check_link(path: &Path, dir: Option<&Path>, opts: &OpenOptions) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io("open", path, e))?;
    if !meta.file_type().is_symlink() || opts.follow_outside {
        return Ok(());
    }
    let target = std::fs::canonicalize(path).map_err(|e| Error::io("open", path, e))?;
    let dir = dir.or_else(|| path.parent()).unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).map_err(|e| Error::io("open", dir, e))?;
    if target.starts_with(&dir) {
        Ok(())
    } else {
        Err(Error::SymlinkOutsideDir {
            path: path.into(),
            target,
        })
    }
}

/// Maps `len` bytes of `file` shared, read-write.
pub(crate) fn map_file(
    file: &File,
    path: &Path,
    len: u64,
    prefault: bool,
) -> Result<memmap2::MmapRaw> {
    let len = usize::try_from(len).map_err(|_| Error::Invalid {
        path: path.into(),
        check: Invalid::FileSize {
            expected: len,
            found: len,
        },
    })?;
    let mut o = memmap2::MmapOptions::new();
    o.len(len);
    if prefault {
        o.populate();
    }
    o.map_raw(file).map_err(|e| Error::io("mmap", path, e))
}

/// A name for what a path is, for error messages.
pub(crate) fn kind_of(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "device"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "regular file"
    } else {
        "special file"
    }
}
