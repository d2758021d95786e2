//! Creating a stream file: build it under a temporary name, then rename it into place.
//!
//! 1. Refuse what is not a stream's place (a directory, FIFO… at the final path).
//! 2. Create `.NAME.PID.N.tmp` in the stream directory with `O_CREAT | O_EXCL | O_NOFOLLOW`, so a
//!    planted symlink is never followed and no existing file is reused. Mode: `0666` filtered by
//!    the umask, or exactly the requested mode via `fchmod` (the umask is never changed).
//! 3. Reserve the space with `fallocate`: on a full tmpfs this fails now, cleanly, instead of
//!    raising SIGBUS on the first touch of a page later.
//! 4. Map, initialise (version string last), then `rename(2)` onto `NAME.im.shm`. Readers opening
//!    by name see the old file or the complete new one, never a half-built one, and the new stream
//!    has a new inode, as with the legacy unlink-and-create.
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
use std::sync::Mutex;

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
    let replaced = existing_stream(&path, spec.location)?;

    let tmp = TempFile::create(
        dir,
        name,
        spec.mode
            .or(legacy_mode.then_some(shmim_layout::LEGACY_FILE_MODE)),
    )?;
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

    rustix::fs::rename(&tmp.path, &path).map_err(|e| Error::io("rename", &path, e.into()))?;
    tmp.disarm();
    if let Some(old) = replaced {
        notify_replaced(&old);
    }
    Ok(mapping)
}

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

/// A temporary stream file, removed on drop unless disarmed.
pub(crate) struct TempFile {
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    armed: bool,
}

impl TempFile {
    pub(crate) fn create(dir: &Path, name: &str, mode: Option<u32>) -> Result<Self> {
        static SEQ: Mutex<u32> = Mutex::new(0);
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let (fd, path) = loop {
            let n = {
                let mut seq = SEQ.lock().unwrap_or_else(|p| p.into_inner());
                *seq = seq.wrapping_add(1);
                *seq
            };
            // Starts with a dot and does not end in `.im.shm`: listings skip it.
            let path = dir.join(format!(".{name}.{}.{n}.tmp", shmim_sync::pid::current()));
            match rustix::fs::open(&path, flags, Mode::from_raw_mode(0o666)) {
                Ok(fd) => break (fd, path),
                // A leftover of a crashed creator with our PID and counter: take the next name.
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(Error::io("create", &path, e.into())),
            }
        };
        let tmp = Self {
            file: File::from(fd),
            path,
            armed: true,
        };
        if let Some(mode) = mode {
            rustix::fs::fchmod(&tmp.file, Mode::from_raw_mode(mode))
                .map_err(|e| Error::io("fchmod", &tmp.path, e.into()))?;
        }
        Ok(tmp)
    }

    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
