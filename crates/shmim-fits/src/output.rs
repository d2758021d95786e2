//! Files are written under a temporary name in their directory and renamed into place, so a
//! reader of the final name never sees half a file; the temporary file is removed on any error.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::{CWD, RenameFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// A file being written: its temporary path, removed on drop unless [`Self::commit`]ted.
pub(crate) struct Output {
    tmp: PathBuf,
    dest: PathBuf,
    overwrite: bool,
    armed: bool,
}

impl Output {
    /// Plans `dest`; [`Error::Exists`] now if it exists and `overwrite` is off.
    pub(crate) fn new(dest: &Path, overwrite: bool) -> Result<Self> {
        static SEQ: Mutex<u64> = Mutex::new(0);
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
        let n = {
            let mut seq = SEQ.lock().unwrap_or_else(|p| p.into_inner());
            *seq += 1;
            *seq
        };
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
        let tmp = dest.with_file_name(tmp_name);
        // A leftover of a crashed process that had our PID: ours to reuse.
        let _ = std::fs::remove_file(&tmp);
        Ok(Self {
            tmp,
            dest: dest.to_path_buf(),
            overwrite,
            armed: true,
        })
    }

    /// Where to write.
    pub(crate) fn tmp(&self) -> &Path {
        &self.tmp
    }

    /// The final path.
    pub(crate) fn dest(&self) -> &Path {
        &self.dest
    }

    /// Renames the finished file into place (never over a file that appeared meanwhile, unless
    /// overwriting).
    pub(crate) fn commit(mut self) -> Result<PathBuf> {
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
        Ok(self.dest.clone())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
