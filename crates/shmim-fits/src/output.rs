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

/// A file being written: its temporary path, removed (with its private directory) on drop unless
/// [`Self::commit`]ted.
pub(crate) struct Output {
    private: PathBuf,
    tmp: PathBuf,
    dest: PathBuf,
    overwrite: bool,
    armed: bool,
}

impl Output {
    /// Plans `dest` and creates its private directory; [`Error::Exists`] now if `dest` exists
    /// and `overwrite` is off.
    pub(crate) fn new(dest: &Path, overwrite: bool) -> Result<Self> {
        Self::with_inner(dest, overwrite, INNER)
    }

    /// Like [`Self::new`], the file to write being `inner` in the private directory.
    pub(crate) fn with_inner(dest: &Path, overwrite: bool, inner: &str) -> Result<Self> {
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
    /// appeared meanwhile, unless overwriting).
    pub(crate) fn commit(mut self) -> Result<PathBuf> {
        std::fs::File::open(&self.tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io("flush to disk", &self.tmp, e))?;
        let flags = if self.overwrite {
            RenameFlags::empty()
        } else {
            RenameFlags::NOREPLACE
        };
        match rustix::fs::renameat_with(CWD, &self.tmp, CWD, &self.dest, flags) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                return Err(Error::Exists {
                    path: self.dest.clone(),
                });
            }
            // A file system without RENAME_NOREPLACE: we checked the name when we started.
            Err(Errno::INVAL) if !self.overwrite => std::fs::rename(&self.tmp, &self.dest)
                .map_err(|e| Error::io("rename", &self.dest, e))?,
            Err(e) => return Err(Error::io("rename", &self.dest, e.into())),
        }
        self.armed = false;
        let _ = std::fs::remove_dir(&self.private);
        // The rename itself, on disk (best effort: the file is in place either way).
        if let Some(parent) = self.private.parent() {
            let _ = std::fs::File::open(parent).and_then(|d| d.sync_all());
        }
        Ok(self.dest.clone())
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
