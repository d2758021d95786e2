//! A stream or segment file while it is being built: nobody else can open it until it is complete
//! and has its final permissions, then it is renamed into place in one step.
//!
//! # Unnamed, with the final permissions from the start
//! The file is created with `O_TMPFILE` in the target's directory: it has no name, so no other
//! process can open it by path while it is built (`/proc/PID/fd` of this process aside, which
//! only its owner and root may use: they could open the finished stream anyway). Being created by
//! `open(2)` with the final mode (`0666`, or the mode asked for), it gets its permissions
//! exactly as a file created in place would: the umask filters the mode, or, in a directory with
//! a **default ACL**, the inherited ACL does (POSIX then ignores the umask) — a stream created in
//! `setfacl -d -m g:daemon:rw DIR` is writable by `daemon`, whose readers need write access for
//! the semaphores. A mode asked for is then set exactly with `fchmod`. When complete, the file
//! gets a name — linked (`linkat` through `/proc/self/fd`) as `.NAME.<64 random bits>.tmp`, which
//! starts with a dot and does not end in `.im.shm`, so listings skip it — and `rename(2)` moves it
//! onto the target: openers see the old file or the complete new one, and a replaced stream gets
//! a new inode, as with the legacy unlink-and-create.
//!
//! # Where `O_TMPFILE` is not available
//! (A file system that does not support it, or no `/proc` to link it through.) The file is then
//! created *named* `.NAME.<random>.tmp` with `O_CREAT | O_EXCL | O_NOFOLLOW` (a planted symlink is
//! never followed, no existing file is reused, nobody can predict the name) and mode `0600`, and
//! is widened to its final mode with `fchmod` only once complete: an opener keeps the access it
//! got at `open`, so a file open to others while incomplete would let a process that raced the
//! creation keep a descriptor to a stream later made private. The default mode is then
//! `0666` filtered by the umask (read from `/proc/self/status`, never changed); a directory's
//! default ACL is not inherited on this path (`fchmod` sets the ACL mask from the mode).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// The mode the fallback creates a named temporary file with: owner read and write only (further
/// filtered by the umask, which can only make it narrower).
const NAMED_TEMPORARY_MODE: u32 = 0o600;

/// The mode of a file created without a mode asked for, before the umask or a default ACL.
const DEFAULT_MODE: u32 = 0o666;

/// A file being built; removed on drop unless published.
pub(crate) struct TempFile {
    pub(crate) file: File,
    /// Where it will be published (named in error messages meanwhile).
    pub(crate) path: PathBuf,
    /// The stream or segment name (for the temporary name).
    name: String,
    /// The exact mode asked for, if any.
    mode: Option<u32>,
    /// The name the fallback created it under, removed on drop unless published; `None` for an
    /// unnamed (`O_TMPFILE`) file.
    named: Option<PathBuf>,
}

impl TempFile {
    /// Starts the file that will become `target` (stream or segment `name`): unnamed, with its
    /// final permissions, or named and owner-only where that is not possible (module docs).
    /// `mode`: the exact mode asked for; `None` for the default.
    pub(crate) fn create(target: &Path, name: &str, mode: Option<u32>) -> Result<Self> {
        let dir = target.parent().unwrap_or(Path::new("."));
        #[cfg(test)]
        let forced = tests::force_named();
        #[cfg(not(test))]
        let forced = false;
        let unnamed = if forced {
            Err(Errno::OPNOTSUPP)
        } else {
            create_unnamed(dir, mode.unwrap_or(DEFAULT_MODE))
        };
        let (file, named) = match unnamed {
            Ok(file) => (file, None),
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::NOENT) => {
                let (file, named) = create_named(dir, name)?;
                (file, Some(named))
            }
            Err(e) => return Err(Error::io("create", target, e.into())),
        };
        Ok(Self {
            file,
            path: target.to_owned(),
            name: name.to_owned(),
            mode,
            named,
        })
    }

    /// Gives the complete file its final mode where it does not have it yet, then puts it at its
    /// target in one step: a `rename` over what is there if `replace`; otherwise the name is
    /// taken atomically or not at all ([`Error::Occupied`]): an unnamed file is linked straight
    /// onto the target (`linkat` fails if the name exists), a named one renamed with
    /// `RENAME_NOREPLACE`.
    pub(crate) fn publish(mut self, replace: bool) -> Result<()> {
        let final_mode = match (self.mode, &self.named) {
            (Some(m), _) => Some(m),
            // Unnamed and no mode asked for: it was born with its final permissions.
            (None, None) => None,
            (None, Some(_)) => Some(DEFAULT_MODE & !process_umask()),
        };
        if let Some(m) = final_mode {
            rustix::fs::fchmod(&self.file, Mode::from_raw_mode(m))
                .map_err(|e| Error::io("fchmod", &self.path, e.into()))?;
        }
        if !replace && self.named.is_none() {
            let fd = format!("/proc/self/fd/{}", self.file.as_raw_fd());
            return match rustix::fs::linkat(CWD, &fd, CWD, &self.path, AtFlags::SYMLINK_FOLLOW) {
                Ok(()) => Ok(()),
                Err(Errno::EXIST) => Err(occupied(&self.path)),
                Err(e) => Err(Error::io("linkat", &self.path, e.into())),
            };
        }
        let named = match &self.named {
            Some(named) => named.clone(),
            None => {
                let named = self.link()?;
                self.named = Some(named.clone());
                named
            }
        };
        if replace {
            rustix::fs::rename(&named, &self.path)
                .map_err(|e| Error::io("rename", &self.path, e.into()))?;
        } else {
            rename_no_replace(&named, &self.path)?;
        }
        self.named = None;
        Ok(())
    }

    /// Gives the unnamed, complete file a temporary name in its directory.
    fn link(&self) -> Result<PathBuf> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let fd = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        loop {
            let named = temporary_name(dir, &self.name)?;
            match rustix::fs::linkat(CWD, &fd, CWD, &named, AtFlags::SYMLINK_FOLLOW) {
                Ok(()) => {
                    #[cfg(test)]
                    tests::observe_named(&named, &self.file);
                    return Ok(named);
                }
                // Someone holds this name (64 random bits: planted, or a leftover): draw again.
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(Error::io("linkat", &named, e.into())),
            }
        }
    }
}

/// The error of a create that was asked not to replace an existing file.
fn occupied(path: &Path) -> Error {
    Error::Occupied {
        path: path.into(),
        kind: crate::create::NOT_REPLACED,
    }
}

/// Renames `from` onto `to` unless something is at `to` ([`Error::Occupied`] then), atomically.
fn rename_no_replace(from: &Path, to: &Path) -> Result<()> {
    use rustix::fs::RenameFlags;
    match rustix::fs::renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::EXIST) => Err(occupied(to)),
        // A file system without RENAME_NOREPLACE: a hard link is just as exclusive (it fails if
        // the name exists); the temporary name goes after. Same directory, same file system.
        Err(Errno::INVAL) => match rustix::fs::link(from, to) {
            Ok(()) => {
                let _ = std::fs::remove_file(from);
                Ok(())
            }
            Err(Errno::EXIST) => Err(occupied(to)),
            Err(e) => Err(Error::io("link", to, e.into())),
        },
        Err(e) => Err(Error::io("rename", to, e.into())),
    }
}

/// `open(dir, O_TMPFILE)` with `mode`, where a link through `/proc/self/fd` can name it later.
fn create_unnamed(dir: &Path, mode: u32) -> rustix::io::Result<File> {
    if rustix::fs::stat("/proc/self/fd").is_err() {
        return Err(Errno::NOENT);
    }
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    rustix::fs::open(dir, flags, Mode::from_raw_mode(mode)).map(File::from)
}

/// Creates `.NAME.<random>.tmp` in `dir`: `O_CREAT | O_EXCL | O_NOFOLLOW`, owner-only.
fn create_named(dir: &Path, name: &str) -> Result<(File, PathBuf)> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    loop {
        let path = temporary_name(dir, name)?;
        match rustix::fs::open(&path, flags, Mode::from_raw_mode(NAMED_TEMPORARY_MODE)) {
            Ok(fd) => {
                let file = File::from(fd);
                #[cfg(test)]
                tests::observe_named(&path, &file);
                return Ok((file, path));
            }
            // Someone holds this name (64 random bits: planted, or a leftover): draw again.
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(Error::io("create", &path, e.into())),
        }
    }
}

/// `.NAME.<64 random bits as 16 hex digits>.tmp` in `dir`: another process cannot guess it and
/// open or plant it in advance.
fn temporary_name(dir: &Path, name: &str) -> Result<PathBuf> {
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(Error::io("getrandom", dir, e.into())),
        }
    }
    Ok(dir.join(format!(".{name}.{:016x}.tmp", u64::from_ne_bytes(bytes))))
}

/// The process umask, read without changing it (`umask(2)` can only set it, and setting it would
/// race with other threads creating files): the `Umask:` line of `/proc/self/status` (Linux ≥
/// 4.7). If that cannot be read, `0o077`: the file is then owner-only, never wider than asked.
fn process_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
            u32::from_str_radix(line.trim(), 8).ok()
        })
        .unwrap_or(0o077)
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // An unnamed file vanishes with its descriptor; a named one is removed.
        if let Some(named) = &self.named {
            let _ = std::fs::remove_file(named);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};

    thread_local! {
        /// What every temporary file looked like the moment it first had a name (the first
        /// moment another process can open it by path).
        static NAMED: RefCell<Vec<Named>> = const { RefCell::new(Vec::new()) };
        /// Take the fallback path (a file system without `O_TMPFILE`).
        static FORCE_NAMED: Cell<bool> = const { Cell::new(false) };
    }

    /// A temporary file the moment it first had a name.
    #[derive(Debug, Clone)]
    pub(crate) struct Named {
        pub(crate) path: PathBuf,
        pub(crate) mode: u32,
        /// Its first bytes (a stream's header) and its size then.
        pub(crate) head: Vec<u8>,
        pub(crate) len: u64,
    }

    pub(super) fn force_named() -> bool {
        FORCE_NAMED.with(Cell::get)
    }

    /// Called right after the file got its first name.
    pub(super) fn observe_named(path: &Path, file: &File) {
        use std::os::unix::fs::FileExt;
        let st = rustix::fs::fstat(file).expect("fstat");
        let mut head = vec![0u8; shmim_layout::IMAGE_METADATA_SIZE];
        let n = file.read_at(&mut head, 0).expect("pread");
        head.truncate(n);
        NAMED.with(|s| {
            s.borrow_mut().push(Named {
                path: path.to_owned(),
                mode: st.st_mode & 0o7777,
                head,
                len: st.st_size as u64,
            })
        });
    }

    /// Runs `f` with the fallback forced on or off, returning what was observed.
    pub(crate) fn observing<R>(named_fallback: bool, f: impl FnOnce() -> R) -> (R, Vec<Named>) {
        NAMED.with(|s| s.borrow_mut().clear());
        FORCE_NAMED.with(|c| c.set(named_fallback));
        let r = f();
        FORCE_NAMED.with(|c| c.set(false));
        (r, NAMED.with(|s| s.take()))
    }
}
