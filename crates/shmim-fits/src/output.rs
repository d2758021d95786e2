//! Files are written under a temporary name and renamed into place, so a reader of the final name
//! never sees half a file; the temporary file is removed on any error.
//!
//! The temporary file lives in a private directory created next to the destination,
//! `.FILE.<64 random bits>.tmp/` (mode `0700`; `mkdir` never follows a symlink and fails on any
//! name that exists), under a short fixed name. cfitsio creates its file with `fopen`, which
//! would follow a symlink planted at a predictable name in a shared directory; in a directory
//! only we can write, with a name nobody can guess, there is nothing to plant. It also keeps the
//! temporary name short whatever the destination's (a 245-byte file name stays a valid name), and
//! a missing destination directory is reported as such, by our `mkdir`.
//!
//! Committing flushes the file to disk (`fsync`) before the rename and the directory after it, so
//! a crash or power cut leaves the old file or the complete new one under the final name.
//!
//! A commit that fails (`fsync` reports an I/O error, a full disk or quota on NFS; the rename is
//! refused) leaves a finished FITS file ([`OnFailure::Keep`]) where it was written, in its private
//! directory, and the error ([`Error::NotCommitted`]) says where: it is complete and its frames
//! are not thrown away (renaming a file that was not flushed over an older one would break the
//! guarantee above). Only a file that is worth nothing without its rename (a stream being built by
//! `load`: the FITS file it came from is still there) is removed ([`OnFailure::Remove`]).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::{CWD, RenameFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// The file cfitsio creates in the private directory (unless told another).
const INNER: &str = "f.fits";
/// Bytes of the destination's name kept in the private directory's name (a name is at most 255
/// bytes: `.`, this, `.`, 16 hex digits, `.tmp`).
const NAME_KEPT: usize = 200;

/// What a failed commit does with the finished file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnFailure {
    /// Keep it in its private directory (FITS files written: they hold frames).
    Keep,
    /// Remove it (a stream built by `load`: the source file is still there).
    Remove,
}

/// A file being written: its temporary path, removed (with its private directory) on drop unless
/// [`Self::commit`]ted (or kept by a commit that failed, [`OnFailure::Keep`]).
pub(crate) struct Output {
    private: PathBuf,
    tmp: PathBuf,
    dest: PathBuf,
    overwrite: bool,
    on_failure: OnFailure,
    armed: bool,
}

impl Output {
    /// Plans FITS file `dest` and creates its private directory; [`Error::Exists`] now if
    /// `dest` exists and `overwrite` is off. A failed commit keeps the file.
    pub(crate) fn new(dest: &Path, overwrite: bool) -> Result<Self> {
        Self::with_inner(dest, overwrite, INNER, OnFailure::Keep)
    }

    /// Like [`Self::new`], the file to write being `inner` in the private directory, and a
    /// failed commit doing `on_failure` with it.
    pub(crate) fn with_inner(
        dest: &Path,
        overwrite: bool,
        inner: &str,
        on_failure: OnFailure,
    ) -> Result<Self> {
        if dest.is_dir() {
            return Err(Error::BadPath {
                path: dest.to_path_buf(),
                reason: "it is a directory",
            });
        }
        if !overwrite && dest.symlink_metadata().is_ok() {
            return Err(Error::Exists {
                path: dest.to_path_buf(),
            });
        }
        let file_name = dest.file_name().ok_or_else(|| Error::BadPath {
            path: dest.to_path_buf(),
            reason: "it names no file",
        })?;
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let kept = &file_name.as_bytes()[..file_name.len().min(NAME_KEPT)];
        loop {
            let mut name = b".".to_vec();
            name.extend_from_slice(kept);
            name.extend_from_slice(format!(".{}.tmp", random_suffix(parent)?).as_bytes());
            let private = parent.join(OsString::from_vec(name));
            match std::fs::DirBuilder::new().mode(0o700).create(&private) {
                Ok(()) => {
                    return Ok(Self {
                        tmp: private.join(inner),
                        private,
                        dest: dest.to_path_buf(),
                        overwrite,
                        on_failure,
                        armed: true,
                    });
                }
                // Someone holds this name (64 random bits: planted, or a leftover): draw again.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(Error::io("create a temporary directory in", parent, e));
                }
            }
        }
    }

    /// The private directory the file is written in.
    pub(crate) fn private_dir(&self) -> &Path {
        &self.private
    }

    /// Where to write.
    pub(crate) fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// The final path.
    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes the finished file to disk and renames it into place (never over a file that
    /// appeared meanwhile, unless overwriting). On failure the file is kept or removed as
    /// [`OnFailure`] says; a kept one is [`Error::NotCommitted`], naming where it is.
    pub(crate) fn commit(mut self) -> Result<PathBuf> {
        self.flush_and_rename()
            .map_err(|(op, source)| match (self.on_failure, source.kind()) {
                (OnFailure::Keep, _) => {
                    self.armed = false;
                    Error::NotCommitted {
                        op,
                        dest: self.dest.clone(),
                        kept: self.tmp.clone(),
                        source,
                    }
                }
                (OnFailure::Remove, std::io::ErrorKind::AlreadyExists) => Error::Exists {
                    path: self.dest.clone(),
                },
                (OnFailure::Remove, _) => Error::io(op, &self.dest, source),
            })?;
        self.armed = false;
        let _ = std::fs::remove_dir(&self.private);
        // The rename itself, on disk (best effort: the file is in place either way).
        if let Some(parent) = self.private.parent() {
            let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
        }
        Ok(self.dest.clone())
    }

    /// The two steps of a commit; the one that failed, and why.
    fn flush_and_rename(&self) -> std::result::Result<(), (&'static str, std::io::Error)> {
        std::fs::File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| ("flush to disk", e))?;
        let flags = if self.overwrite {
            RenameFlags::empty()
        } else {
            RenameFlags::NOREPLACE
        };
        match rustix::fs::renameat_with(CWD, &self.tmp, CWD, &self.dest, flags) {
            Ok(()) => Ok(()),
            // A file system without RENAME_NOREPLACE: we checked the name when we started.
            Err(Errno::INVAL) if !self.overwrite => {
                std::fs::rename(&self.tmp, &self.dest).map_err(|e| ("rename", e))
            }
            Err(e) => Err(("rename", e.into())),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.tmp);
            let _ = std::fs::remove_dir(&self.private);
        }
    }
}

/// 64 random bits as 16 hex digits. (`getrandom(2)` fills a request of up to 256 bytes whole,
/// uninterrupted by signals, once the kernel's generator is seeded.)
fn random_suffix(dir: &Path) -> Result<String> {
    let mut bytes = [0u8; 8];
    match rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()) {
        Ok(8) => Ok(format!("{:016x}", u64::from_ne_bytes(bytes))),
        Ok(n) => Err(Error::io(
            "getrandom",
            dir,
            std::io::Error::other(format!("{n} of 8 random bytes")),
        )),
        Err(e) => Err(Error::io("getrandom", dir, e.into())),
    }
}
