//! Has the stream been replaced? Inode checks, compatibility, and the legacy relink.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error_codes::*;
use crate::handle::release;
use crate::handle::{header, image_name, live, read_image};
use crate::image_struct::IMAGE;
use crate::lifecycle::open;
use crate::report::{Failure, Outcome, boundary};

fn stream_path(name: &str) -> PathBuf {
    shmim_core::default_dir().join(format!("{name}{}", shmim_layout::FILE_SUFFIX))
}

/// `SUCCESS` if the file at `path` has inode `ino`, `INODE` if it has another, `FAILURE` if
/// it cannot be looked at.
fn compare(path: &Path, ino: u64) -> Outcome<errno_t> {
    match std::fs::metadata(path) {
        Ok(m) if m.ino() == ino => Ok(IMAGESTREAMIO_SUCCESS),
        Ok(_) => Ok(IMAGESTREAMIO_INODE),
        Err(e) => Err(Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!("stat {}: {e}", path.display()),
        )),
    }
}

/// `md->name` (up to its NUL) and `md->inode` of an `IMAGE`'s header.
///
/// # Safety
/// `im`'s header, if [`header`] accepts it, must be readable for the call.
unsafe fn name_and_inode(im: &IMAGE) -> Outcome<(Vec<u8>, u64)> {
    let md = header(im)?;
    // SAFETY: fields of the accepted header (caller contract); a byte array has no invalid
    // values, and a name torn by a concurrent writer only fails the checks below.
    let (name, inode) = unsafe {
        (
            std::ptr::addr_of!((*md).name).read_volatile(),
            live(&raw mut (*md).inode),
        )
    };
    let name = name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok((name, inode))
}

/// `SUCCESS` if the file `DIR/<md->name>.im.shm` still has the inode the stream was created
/// with, `INODE` if it was replaced, `FAILURE` if it cannot be checked (or `md->name` is not a
/// valid stream name).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_check_image_inode(image: *mut IMAGE) -> errno_t {
    boundary(
        c"ImageStreamIO_check_image_inode",
        |c| c,
        || {
            // SAFETY: forwarded to the caller.
            let (name, inode) = unsafe { name_and_inode(&read_image(image)?) }?;
            // The header is shared with every process that can write the file: its name must
            // not take the check out of the directory.
            let name = shmim_core::validate_name_bytes(&name)
                .map_err(|e| Failure::new(IMAGESTREAMIO_FAILURE, format!("md->name: {e}")))?;
            compare(&stream_path(name), inode)
        },
    )
}

/// Like [`ImageStreamIO_check_image_inode`] for the name the handle was opened by, after
/// resolving symlinks: `INODE` when the name now leads to another stream.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_check_image_endpoint_inode(image: *mut IMAGE) -> errno_t {
    boundary(
        c"ImageStreamIO_check_image_endpoint_inode",
        |c| c,
        || {
            // SAFETY: forwarded to the caller.
            unsafe { endpoint(&read_image(image)?) }
        },
    )
}

/// # Safety
/// As for [`name_and_inode`].
unsafe fn endpoint(im: &IMAGE) -> Outcome<errno_t> {
    // SAFETY: forwarded to the caller.
    let (_, inode) = unsafe { name_and_inode(im) }?;
    let link = stream_path(&image_name(im));
    let target = std::fs::canonicalize(&link).map_err(|e| {
        Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!("resolve {}: {e}", link.display()),
        )
    })?;
    compare(&target, inode)
}

/// If the name the handle was opened by now leads to a new stream compatible with the mapped
/// one ([`ImageStreamIO_new_image_compatible`]), closes the old mapping and opens the new one in
/// its place. `SUCCESS` when nothing was needed or the relink worked, `FAILURE` otherwise (the
/// handle then still maps the old stream).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library; no copy of it may be used
/// after a relink (its mapping is closed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_autorelink_if_need_if_can(image: *mut IMAGE) -> errno_t {
    boundary(
        c"ImageStreamIO_autorelink_if_need_if_can",
        |c| c,
        || {
            // SAFETY: forwarded to the caller.
            let im = unsafe { read_image(image) }?;
            // SAFETY: forwarded to the caller.
            if unsafe { endpoint(&im) }? == IMAGESTREAMIO_SUCCESS {
                return Ok(IMAGESTREAMIO_SUCCESS);
            }
            // The nested open and closes are the internal ones: their failures become this
            // call's one report.
            let name = crate::report::c_string(&image_name(&im));
            let mut fresh = std::mem::MaybeUninit::<IMAGE>::zeroed();
            let fresh = fresh.as_mut_ptr();
            // SAFETY: `fresh` is a writable IMAGE; `name` a C string.
            unsafe { open(fresh, name.as_ptr()) }.map_err(|f| {
                Failure::new(
                    IMAGESTREAMIO_FAILURE,
                    format!("cannot open the new {}: {f}", name.to_string_lossy()),
                )
            })?;
            // SAFETY: both handles are open.
            let ok = unsafe { compatible(image, fresh) };
            if !matches!(ok, Ok(true)) {
                // SAFETY: `fresh` was opened above and is not used afterwards.
                let _ = unsafe { release(fresh) };
                return Err(Failure::new(
                    IMAGESTREAMIO_FAILURE,
                    "the new stream does not fit the old handle (type, size, semaphores, keywords, buffer)",
                ));
            }
            // SAFETY: `image` is open (caller contract) and replaced right after.
            let _ = unsafe { release(image) };
            // SAFETY: both point to valid IMAGEs; `fresh` is moved into the caller's handle.
            unsafe { image.write(fresh.read()) };
            Ok(IMAGESTREAMIO_SUCCESS)
        },
    )
}

/// `SUCCESS` if a frame of `source_image` fits `new_image`: same datatype, location, number of
/// semaphores, axes and sizes; at least as many keywords and circular-buffer frames. `FAILURE`
/// otherwise.
///
/// # Safety
/// Both must be NULL or open `IMAGE`s filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_new_image_compatible(
    source_image: *mut IMAGE,
    new_image: *mut IMAGE,
) -> errno_t {
    boundary(
        c"ImageStreamIO_new_image_compatible",
        |c| c,
        || {
            // SAFETY: forwarded to the caller.
            if unsafe { compatible(source_image, new_image) }? {
                Ok(IMAGESTREAMIO_SUCCESS)
            } else {
                Err(Failure::new(
                    IMAGESTREAMIO_FAILURE,
                    "images differ in type, location, semaphores, shape, keywords or buffer size",
                ))
            }
        },
    )
}

/// The header fields two images must agree on, read once.
struct Shape {
    datatype: u8,
    location: i8,
    nb_sem: u16,
    naxis: u8,
    size: [u32; 3],
    nb_kw: u16,
    cb_size: u32,
}

impl Shape {
    /// # Safety
    /// `image` is NULL or a readable `IMAGE` whose `md` is NULL or a readable header.
    unsafe fn of(image: *const IMAGE) -> Outcome<Self> {
        // SAFETY: forwarded to the caller.
        let md = header(&unsafe { read_image(image) }?)?;
        // SAFETY: each read is of a field of a readable header (caller contract), aligned
        // (`header`).
        unsafe {
            Ok(Self {
                datatype: live(&raw mut (*md).datatype),
                location: live((&raw mut (*md).location).cast::<u8>()) as i8,
                nb_sem: live(&raw mut (*md).sem),
                naxis: live(&raw mut (*md).naxis),
                size: [0, 1, 2].map(|a| live(&raw mut (*md).size[a])),
                nb_kw: live(&raw mut (*md).NBkw),
                cb_size: live(&raw mut (*md).CBsize),
            })
        }
    }
}

/// The legacy rule, on the headers as they are: same datatype, location, semaphores, axes and
/// used axis lengths; at least as many keywords and circular-buffer frames in `dst`.
///
/// # Safety
/// As for [`ImageStreamIO_new_image_compatible`].
unsafe fn compatible(src: *const IMAGE, dst: *const IMAGE) -> Outcome<bool> {
    // SAFETY: forwarded to the caller.
    let (a, b) = unsafe { (Shape::of(src)?, Shape::of(dst)?) };
    let axes = usize::from(a.naxis.min(3));
    Ok(a.datatype == b.datatype
        && a.location == b.location
        && a.nb_sem == b.nb_sem
        && a.naxis == b.naxis
        && a.size[0] == b.size[0]
        && (1..axes).all(|i| a.size[i] == b.size[i])
        && a.nb_kw <= b.nb_kw
        && a.cb_size <= b.cb_size)
}
