//! Creating a stream file: build it under a temporary name, then rename it into place.
//!
//! 1. Refuse what is not a stream's place (a directory, FIFO… at the final path).
//! 2. Create `.NAME.<64 random bits>.tmp` in the stream directory with
//!    `O_CREAT | O_EXCL | O_NOFOLLOW`, so a planted symlink is never followed, no existing file is
//!    reused, and no other process can predict the name. Mode `0600`: nobody else can open the
//!    file while it is incomplete (an opener keeps the access it got at `open`, whatever the mode
//!    becomes later).
//! 3. Reserve the space with `fallocate`: on a full tmpfs this fails now, cleanly, instead of
//!    raising SIGBUS on the first touch of a page later.
//! 4. Map, initialise (version string last), widen the mode to the final one with `fchmod`
//!    (`0666` filtered by the umask, or exactly the requested mode; the umask is read from
//!    `/proc/self/status`, never changed), then `rename(2)` onto `NAME.im.shm`. Readers opening
//!    by name see the old file or the complete new one, never a half-built one, and the new stream
//!    has a new inode, as with the legacy unlink-and-create. A spec that does not replace
//!    ([`StreamSpec::replace`]) renames with `RENAME_NOREPLACE` (or, on a file system without
//!    it, `link(2)` then unlink of the temporary name): the name is taken atomically or not at
//!    all.
//! 5. If a stream was replaced, tell its readers: clear the `READY` bit each registered reader
//!    set in its `semctrl` slot. Nothing is posted: a post means "a frame arrived", and none did
//!    (a legacy reader woken that way would process the old file's frame as new, and a
//!    parent/child handshake on the old file would break). Rust readers notice the cleared bit
//!    (or the new inode) within 100 ms by themselves; C waiters keep legacy timing: a timed wait
//!    ends with `ETIMEDOUT` at its deadline, then `ImageStreamIO_check_image_inode` says
//!    `IMAGESTREAMIO_INODE`.
//!
//! On any error the temporary file is removed: nothing partial is left behind.

use std::fs::File;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FallocateFlags, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::init::initialise;
use crate::mapping::Mapping;
use crate::name::validate_name;
use crate::open::{OpenOptions, map_file, open_path};
use crate::spec::StreamSpec;
use crate::validate::validate;

/// Creates (or atomically replaces) the stream `name` as `spec` says.
pub(crate) fn create(
    name: &str,
    spec: &StreamSpec,
    dir: &Path,
    legacy_mode: bool,
) -> Result<Mapping> {
    let name = validate_name(name)?;
    let regions = spec.region_spec().regions()?;
    let path = dir.join(format!("{name}{}", shmim_layout::FILE_SUFFIX));
    if !spec.replace && std::fs::symlink_metadata(&path).is_ok() {
        // Early, to save building a file that cannot be published (the rename decides).
        return Err(Error::Occupied {
            path,
            kind: NOT_REPLACED,
        });
    }
    let replaced = existing_stream(&path, spec.location)?;

    let tmp = TempFile::create(dir, name)?;
    reserve(&tmp.file, regions.file_size)
        .map_err(|e| Error::io("fallocate", &tmp.path, e.into()))?;
    let ino = rustix::fs::fstat(&tmp.file)
        .map_err(|e| Error::io("fstat", &tmp.path, e.into()))?
        .st_ino;

    // Geometry from the region arithmetic; checked again by `validate` once initialised.
    let map = map_file(&tmp.file, &tmp.path, regions.file_size, spec.prefault)?;
    let geo = provisional_geometry(name, spec, regions)?;
    let mapping = Mapping::from_file(
        map,
        tmp.file
            .try_clone()
            .map_err(|e| Error::io("dup", &tmp.path, e))?,
        path.clone(),
        ino,
        geo,
    );
    initialise(&mapping, name, spec, true, ino)?;
    let mut header = vec![0u8; shmim_layout::IMAGE_METADATA_SIZE];
    mapping.copy_out(0, &mut header);
    debug_assert!(validate(&header, regions.file_size).is_ok());

    let mode = spec
        .mode
        .or(legacy_mode.then_some(shmim_layout::LEGACY_FILE_MODE));
    tmp.publish(&path, mode, spec.replace)?;
    if let Some(old) = replaced {
        notify_replaced(&old);
    }
    Ok(mapping)
}

/// What [`Error::Occupied`] says is at the path of a create that may not replace it.
const NOT_REPLACED: &str = "file, and the create was asked not to replace one";

/// Tells the readers of a replaced stream: clear `READY` in every `semctrl` slot. No post (see the
/// module docs): waiters find out by looking.
fn notify_replaced(old: &Mapping) {
    for i in 0..old.geometry().nb_sem {
        if let Ok(ctrl) = old.semctrl(i) {
            let mut v = ctrl.peek();
            while v & shmim_layout::SEMCTRL_READY != 0 {
                match ctrl.replace(v, v & !shmim_layout::SEMCTRL_READY) {
                    Ok(_) => break,
                    Err(actual) => v = actual,
                }
            }
        }
    }
}

/// The geometry of a stream about to be created (same fields `validate` derives from a header).
pub(crate) fn provisional_geometry(
    name: &str,
    spec: &StreamSpec,
    regions: shmim_layout::Regions,
) -> Result<crate::validate::Geometry> {
    let r = spec.region_spec();
    Ok(crate::validate::Geometry {
        name: name.to_owned(),
        datatype: spec.datatype,
        naxis: r.naxis,
        size: r.size,
        imagetype: r.imagetype,
        location: r.location,
        nb_sem: r.nb_sem,
        nb_kw: r.nb_kw,
        nb_proctrace: r.nb_proctrace,
        cb_size: r.cb_size,
        regions,
    })
}

/// What is at the final path now: a stream whose readers must be told, nothing, or an error.
fn existing_stream(path: &Path, location: i8) -> Result<Option<Mapping>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("lstat", path, e)),
    };
    let ft = meta.file_type();
    if ft.is_dir() || ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device()
    {
        return Err(Error::Occupied {
            path: path.into(),
            kind: crate::open::kind_of(&ft),
        });
    }
    if location >= 0 {
        return Err(Error::Occupied {
            path: path.into(),
            kind: "file (a GPU stream never replaces one)",
        });
    }
    if ft.is_symlink() {
        // Replacing the link replaces the alias, not the stream it points to: nobody to tell.
        return Ok(None);
    }
    // Best effort: a file we cannot open or validate has no readers we could wake.
    let opts = OpenOptions {
        retry: std::time::Duration::ZERO,
        ..OpenOptions::default()
    };
    Ok(open_path(path, path.parent(), &opts).ok())
}

/// `fallocate`, or `ftruncate` where the file system cannot reserve (then a full disk shows up
/// later, as it would with the legacy library).
pub(crate) fn reserve(file: &File, len: u64) -> rustix::io::Result<()> {
    match rustix::fs::fallocate(file, FallocateFlags::empty(), 0, len) {
        Err(Errno::OPNOTSUPP) => rustix::fs::ftruncate(file, len),
        other => other,
    }
}

/// A temporary stream file, removed on drop unless published.
///
/// Born owner-only and under an unpredictable name: until [`Self::publish`] widens its mode and
/// renames it into place, nobody else can open it (an opener keeps the access it was granted at
/// `open` time, so a mode widened *before* the file is complete would let a process that raced
/// the creation keep a descriptor to a stream later made private).
pub(crate) struct TempFile {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    armed: bool,
}

/// The mode a temporary file is created with: owner read and write only (further filtered by the
/// umask, which can only make it narrower).
const TEMPORARY_MODE: u32 = 0o600;

impl TempFile {
    /// Creates `.NAME.<random>.tmp` in `dir`: `O_CREAT | O_EXCL | O_NOFOLLOW`, mode
    /// [`TEMPORARY_MODE`]. Starts with a dot and does not end in `.im.shm`, so listings skip it.
    pub(crate) fn create(dir: &Path, name: &str) -> Result<Self> {
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let (fd, path) = loop {
            let path = dir.join(format!(".{name}.{}.tmp", random_suffix(dir)?));
            match rustix::fs::open(&path, flags, Mode::from_raw_mode(TEMPORARY_MODE)) {
                Ok(fd) => {
                    #[cfg(test)]
                    tests::observe_fresh_temporary(&path, &fd);
                    break (fd, path);
                }
                // Someone holds this name (64 random bits: planted, or a leftover): draw again.
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(Error::io("create", &path, e.into())),
            }
        };
        Ok(Self {
            file: File::from(fd),
            path,
            armed: true,
        })
    }

    /// Gives the complete file its final mode — exactly `mode`, or `0666` filtered by the umask
    /// when `None` — then renames it onto `path` (over what is there only if `replace`; else
    /// [`Error::Occupied`]). Widening happens here, once nothing is left to write, so no one can
    /// open the file before it is complete and at its final mode.
    pub(crate) fn publish(mut self, path: &Path, mode: Option<u32>, replace: bool) -> Result<()> {
        let mode = match mode {
            Some(m) => m,
            None => 0o666 & !process_umask(),
        };
        rustix::fs::fchmod(&self.file, Mode::from_raw_mode(mode))
            .map_err(|e| Error::io("fchmod", &self.path, e.into()))?;
        if replace {
            rustix::fs::rename(&self.path, path)
                .map_err(|e| Error::io("rename", path, e.into()))?;
        } else {
            rename_no_replace(&self.path, path)?;
        }
        self.armed = false;
        Ok(())
    }
}

/// Renames `from` onto `to` unless something is at `to` ([`Error::Occupied`] then), atomically.
fn rename_no_replace(from: &Path, to: &Path) -> Result<()> {
    use rustix::fs::{CWD, RenameFlags};
    let occupied = || Error::Occupied {
        path: to.into(),
        kind: NOT_REPLACED,
    };
    match rustix::fs::renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(Errno::EXIST) => Err(occupied()),
        // A file system without RENAME_NOREPLACE: a hard link is just as exclusive (it fails if
        // the name exists); the temporary name goes after. Same directory, same file system.
        Err(Errno::INVAL) => match rustix::fs::link(from, to) {
            Ok(()) => {
                let _ = std::fs::remove_file(from);
                Ok(())
            }
            Err(Errno::EXIST) => Err(occupied()),
            Err(e) => Err(Error::io("link", to, e.into())),
        },
        Err(e) => Err(Error::io("rename", to, e.into())),
    }
}

/// 64 random bits as 16 hex digits: another process cannot guess the temporary name and
/// open or plant it in advance.
fn random_suffix(dir: &Path) -> Result<String> {
    let mut bytes = [0u8; 8];
    let mut filled = 0;
    while filled < bytes.len() {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(e) => return Err(Error::io("getrandom", dir, e.into())),
        }
    }
    Ok(format!("{:016x}", u64::from_ne_bytes(bytes)))
}

/// The process umask, read without changing it (`umask(2)` can only set it, and setting it would
/// race with other threads creating files): the `Umask:` line of `/proc/self/status` (Linux ≥
/// 4.7). If that cannot be read, `0o077`: the stream is then owner-only, never wider than asked.
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
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::fd::AsFd;

    thread_local! {
        /// `(path, mode)` of every temporary file at the moment it came into existence.
        static SEEN: RefCell<Vec<(PathBuf, u32)>> = const { RefCell::new(Vec::new()) };
    }

    /// Called by `TempFile::create` right after the `open` that created the file: the first
    /// moment another process can open it by name.
    pub(super) fn observe_fresh_temporary(path: &Path, fd: &impl AsFd) {
        let mode = rustix::fs::fstat(fd).expect("fstat").st_mode & 0o7777;
        SEEN.with(|s| s.borrow_mut().push((path.to_owned(), mode)));
    }

    const CHILD: &str = "SHMIM_CREATE_MODE_CHILD";

    #[test]
    fn a_temporary_stream_file_is_never_open_to_others_before_it_is_complete() {
        if std::env::var_os(CHILD).is_none() {
            // The umask is process-wide: run under umask 0 in a child of our own.
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "create::tests::a_temporary_stream_file_is_never_open_to_others_before_it_is_complete"])
                .args(["--nocapture", "--test-threads=1"])
                .env(CHILD, "1")
                .status()
                .unwrap();
            assert!(status.success(), "the child under umask 0 passed");
            return;
        }
        rustix::process::umask(Mode::empty());
        let dir = std::env::temp_dir().join(format!("shmim-create-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (requested, final_mode) in [
            (Some(0o600), 0o600),
            (Some(0o640), 0o640),
            (Some(0o666), 0o666),
            (None, 0o666),
        ] {
            SEEN.with(|s| s.borrow_mut().clear());
            let mut spec = StreamSpec::new(&[4], shmim_layout::Datatype::U8).dir(&dir);
            if let Some(m) = requested {
                spec = spec.mode(m);
            }
            let map = create("modes", &spec, &dir, false).unwrap();
            let seen = SEEN.with(|s| s.borrow().clone());
            assert_eq!(seen.len(), 1, "one temporary file");
            let (tmp, mode) = &seen[0];
            let tmp_name = tmp.file_name().unwrap().to_str().unwrap();
            let suffix = tmp_name
                .strip_prefix(".modes.")
                .and_then(|s| s.strip_suffix(".tmp"))
                .unwrap_or_else(|| panic!("{tmp_name}: .NAME.<random>.tmp"));
            assert!(
                suffix.len() == 16 && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
                "{tmp_name}: 64 random bits, no PID or counter to guess"
            );
            assert_eq!(
                mode & 0o077,
                0,
                "{tmp:?} was created with mode {mode:o} for a stream asked {requested:?}: \
                 others could open it before it was complete"
            );
            let (file, _, _) = map.file().unwrap();
            let now = rustix::fs::fstat(file).unwrap().st_mode & 0o7777;
            assert_eq!(now, final_mode, "the stream gets the mode asked for");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
