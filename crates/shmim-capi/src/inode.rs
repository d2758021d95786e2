//! Has the stream been replaced? Inode checks, compatibility, and the legacy relink.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use shmim_core::legacy::View;

use crate::error_codes::*;
use crate::handle::{image_name, open_target, open_view, read_image, view};
use crate::image_struct::IMAGE;
use crate::lifecycle::{ImageStreamIO_closeIm, ImageStreamIO_openIm};
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
            let v = unsafe { open_view(image) }?;
            // The header is shared with every process that can write the file: its name must
            // not take the check out of the directory.
            let name = &v.geometry().name;
            shmim_core::validate_name(name)
                .map_err(|e| Failure::new(IMAGESTREAMIO_FAILURE, format!("md->name: {e}")))?;
            compare(&stream_path(name), v.inode())
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
            let im = unsafe { read_image(image) }?;
            // SAFETY: forwarded to the caller.
            let v = unsafe { view(&im) }?;
            endpoint(&im, &v)
        },
    )
}

fn endpoint(im: &IMAGE, v: &View) -> Outcome<errno_t> {
    let link = stream_path(&image_name(im));
    let target = std::fs::canonicalize(&link).map_err(|e| {
        Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!("resolve {}: {e}", link.display()),
        )
    })?;
    compare(&target, v.inode())
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
            {
                // SAFETY: forwarded to the caller.
                let v = unsafe { view(&im) }?;
                if endpoint(&im, &v)? == IMAGESTREAMIO_SUCCESS {
                    return Ok(IMAGESTREAMIO_SUCCESS);
                }
            }
            let name = crate::report::c_string(&image_name(&im));
            let mut fresh = std::mem::MaybeUninit::<IMAGE>::zeroed();
            // SAFETY: `fresh` is a writable IMAGE; `name` a C string.
            let rc = unsafe { ImageStreamIO_openIm(fresh.as_mut_ptr(), name.as_ptr()) };
            if rc != IMAGESTREAMIO_SUCCESS {
                return Err(Failure::new(
                    IMAGESTREAMIO_FAILURE,
                    format!("cannot open the new {}: error {rc}", name.to_string_lossy()),
                ));
            }
            let fresh = fresh.as_mut_ptr();
            // SAFETY: both handles are open.
            let ok = unsafe { compatible(image, fresh) };
            if !matches!(ok, Ok(true)) {
                // SAFETY: `fresh` was opened above and is not used afterwards.
                unsafe { ImageStreamIO_closeIm(fresh) };
                return Err(Failure::new(
                    IMAGESTREAMIO_FAILURE,
                    "the new stream does not fit the old handle (type, size, semaphores, keywords, buffer)",
                ));
            }
            // SAFETY: `image` is open (caller contract) and replaced right after.
            unsafe { ImageStreamIO_closeIm(image) };
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

/// # Safety
/// As for [`ImageStreamIO_new_image_compatible`].
unsafe fn compatible(src: *const IMAGE, dst: *const IMAGE) -> Outcome<bool> {
    // SAFETY: forwarded to the caller.
    let (a, b) = unsafe { (open_target(src)?, open_target(dst)?) };
    let (a, b) = (a.geometry(), b.geometry());
    Ok(a.datatype == b.datatype
        && a.location == b.location
        && a.nb_sem == b.nb_sem
        && a.naxis == b.naxis
        && a.shape() == b.shape()
        && a.nb_kw <= b.nb_kw
        && a.cb_size <= b.cb_size)
}
