//! Creating a stream file: build it under a temporary name, then rename it into place.
//!
//! 1. Refuse what is not a stream's place (a directory, FIFO… at the final path).
//! 2. Start the file in the stream directory with nobody else able to open it until step 4
//!    ([`crate::temp_file`]): unnamed (`O_TMPFILE`) and with its final permissions from the start
//!    — `0666` filtered by the umask or inherited from the directory's default ACL, or exactly the
//!    mode asked for — or, where that is not possible, named `.NAME.<64 random bits>.tmp`
//!    (unpredictable, `O_EXCL | O_NOFOLLOW`) and owner-only until complete.
//! 3. Reserve the space with `fallocate`: on a full tmpfs this fails now, cleanly, instead of
//!    raising SIGBUS on the first touch of a page later.
//! 4. Map, initialise (version string last), then publish: final mode, a temporary name
//!    (starting with a dot, so listings skip it), and `rename(2)` onto `NAME.im.shm`. Readers
//!    opening by name see the old file or the complete new one, never a half-built one, and the
//!    new stream has a new inode, as with the legacy unlink-and-create. A spec that does not replace
//!    ([`StreamSpec::replace`]) takes the name atomically or not at all ([`TempFile::publish`]).
//! 5. If a stream was replaced, tell its readers: clear the `READY` bit each registered reader
//!    set in its `semctrl` slot. Nothing is posted: a post means "a frame arrived", and none did
//!    (a legacy reader woken that way would process the old file's frame as new, and a
//!    parent/child handshake on the old file would break). Rust readers notice the cleared bit
//!    (or the new inode) within 100 ms by themselves; C waiters keep legacy timing: a timed wait
//!    ends with `ETIMEDOUT` at its deadline, then `ImageStreamIO_check_image_inode` says
//!    `IMAGESTREAMIO_INODE`.
//!
//! On any error the file being built is removed: nothing partial is left behind.

use std::fs::File;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use rustix::fs::FallocateFlags;
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::init::initialise;
use crate::mapping::Mapping;
use crate::name::validate_name;
use crate::open::{OpenOptions, map_file, open_path};
use crate::spec::StreamSpec;
use crate::temp_file::TempFile;
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

    let mode = spec
        .mode
        .or(legacy_mode.then_some(shmim_layout::LEGACY_FILE_MODE));
    let tmp = TempFile::create(&path, name, mode)?;
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

    tmp.publish(spec.replace)?;
    if spec.prefault {
        mapping.prepare_readers(false)?;
    }
    if let Some(old) = replaced {
        notify_replaced(&old);
    }
    Ok(mapping)
}

/// What [`Error::Occupied`] says is at the path of a create that may not replace it.
pub(crate) const NOT_REPLACED: &str = "file, and the create was asked not to replace one";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temp_file::tests::{Named, observing};
    use rustix::fs::Mode;

    const CHILD: &str = "SHMIM_CREATE_MODE_CHILD";

    /// Checks what the stream file looked like the moment it first had a name: a temporary
    /// name nobody can guess, and either complete with its final mode (unnamed until then), or
    /// (the named fallback) owner-only.
    fn check_first_name(seen: &[Named], requested: Option<u32>, final_mode: u32, fallback: bool) {
        assert_eq!(seen.len(), 1, "one temporary name");
        let Named {
            path,
            mode,
            head,
            len,
        } = &seen[0];
        let tmp_name = path.file_name().unwrap().to_str().unwrap();
        let suffix = tmp_name
            .strip_prefix(".modes.")
            .and_then(|s| s.strip_suffix(".tmp"))
            .unwrap_or_else(|| panic!("{tmp_name}: .NAME.<random>.tmp"));
        assert!(
            suffix.len() == 16 && suffix.bytes().all(|b| b.is_ascii_hexdigit()),
            "{tmp_name}: 64 random bits, no PID or counter to guess"
        );
        if fallback {
            assert_eq!(
                mode & 0o077,
                0,
                "{path:?} was named with mode {mode:o} for a stream asked {requested:?}: \
                 others could open it before it was complete"
            );
        } else {
            assert_eq!(*mode, final_mode, "{path:?}: named with its final mode");
            assert!(
                validate(head, *len).is_ok(),
                "{path:?} was named before it was complete"
            );
        }
    }

    #[test]
    fn a_stream_file_is_never_open_to_others_before_it_is_complete() {
        if std::env::var_os(CHILD).is_none() {
            // The umask is process-wide: run under umask 0 in a child of our own.
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "create::tests::a_stream_file_is_never_open_to_others_before_it_is_complete",
                ])
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
        for fallback in [false, true] {
            for (requested, final_mode) in [
                (Some(0o600), 0o600),
                (Some(0o640), 0o640),
                (Some(0o666), 0o666),
                (None, 0o666),
            ] {
                let mut spec = StreamSpec::new(&[4], shmim_layout::Datatype::U8).dir(&dir);
                if let Some(m) = requested {
                    spec = spec.mode(m);
                }
                let (map, seen) = observing(fallback, || create("modes", &spec, &dir, false));
                let map = map.unwrap();
                check_first_name(&seen, requested, final_mode, fallback);
                let (file, _, _) = map.file().unwrap();
                let now = rustix::fs::fstat(file).unwrap().st_mode & 0o7777;
                assert_eq!(now, final_mode, "the stream gets the mode asked for");
            }
        }
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "modes.im.shm")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
