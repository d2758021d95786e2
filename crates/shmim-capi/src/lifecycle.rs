//! Creating, opening, closing and destroying streams; stream file names.

use std::ffi::{c_char, c_int, c_long, c_void};

use shmim_core::{Datatype, Stream, StreamSpec};
use shmim_layout::{IMAGE_NB_SEMAPHORE, ImageType, LOCATION_CPU};

use crate::error_codes::*;
use crate::handle::{c_name, fill, fill_local, is_local, read_image, release, view};
use crate::image_struct::*;
use crate::report::{Failure, Outcome, boundary};

/// Creates the stream `name` with `naxis` axes of `size[]`, datatype `datatype`, `NBkw`
/// keywords and `CBsize` circular-buffer frames, in the stream directory (`shared` = 1) or in
/// process memory (`shared` = 0); 10 semaphores, `MATH_DATA`, CPU memory.
///
/// # Safety
/// `image` must be writable; `name` a C string; `size` must hold `naxis` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_createIm(
    image: *mut IMAGE,
    name: *const c_char,
    naxis: c_long,
    size: *mut u32,
    datatype: u8,
    shared: c_int,
    NBkw: c_int,
    CBsize: c_int,
) -> errno_t {
    let Ok(cb) = u32::try_from(CBsize) else {
        return boundary(
            c"ImageStreamIO_createIm",
            |c| c,
            || Err(Failure::invalid(format!("CBsize {CBsize} is negative"))),
        );
    };
    // SAFETY: forwarded to the caller.
    unsafe {
        ImageStreamIO_createIm_gpu(
            image,
            name,
            naxis,
            size,
            datatype,
            LOCATION_CPU,
            shared,
            c_int::from(IMAGE_NB_SEMAPHORE),
            NBkw,
            ImageType::MATH_DATA,
            cb,
        )
    }
}

/// Creates a stream with every parameter explicit: `location` -1 for CPU memory (≥ 0: a GPU
/// device, whose pixels are not in the file), `NBsem` semaphores, `imagetype` flags. A shared
/// stream replaces an existing one of the same name (a GPU stream refuses to: `FILEEXISTS`).
///
/// # Safety
/// `image` must be writable; `name` a C string; `size` must hold `naxis` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_createIm_gpu(
    image: *mut IMAGE,
    name: *const c_char,
    naxis: c_long,
    size: *mut u32,
    datatype: u8,
    location: i8,
    shared: c_int,
    NBsem: c_int,
    NBkw: c_int,
    imagetype: u64,
    CBsize: u32,
) -> errno_t {
    boundary(
        c"ImageStreamIO_createIm_gpu",
        |c| c,
        || {
            if image.is_null() {
                return Err(Failure::invalid("NULL IMAGE pointer"));
            }
            // SAFETY: a C string (caller contract).
            let name = unsafe { c_name(name) }?;
            let naxis = usize::try_from(naxis)
                .ok()
                .filter(|n| (1..=3).contains(n))
                .ok_or_else(|| Failure::invalid(format!("naxis {naxis} is not 1, 2 or 3")))?;
            if size.is_null() {
                return Err(Failure::invalid("NULL size array"));
            }
            // SAFETY: `size` holds `naxis` values (caller contract).
            let shape = unsafe { std::slice::from_raw_parts(size, naxis) }.to_vec();
            let datatype =
                Datatype::try_from(datatype).map_err(|e| Failure::invalid(format!("{e}")))?;
            let shared = match shared {
                1 => true,
                s if s > 1 => return Err(Failure::invalid(format!("shared is {s}, not 0 or 1"))),
                _ => false,
            };
            let count = |what: &str, n: c_int| {
                u16::try_from(n)
                    .map_err(|_| Failure::invalid(format!("{what} {n} is not 0..=65535")))
            };
            let mut spec = StreamSpec::new(&shape, datatype)
                .keywords(count("NBkw", NBkw)?)
                .imagetype(imagetype);
            if location < LOCATION_CPU {
                return Err(Failure::invalid(format!("location {location} is below -1")));
            }
            let stream = if shared {
                spec = spec
                    .semaphores(count("NBsem", NBsem)?)
                    .circular_buffer(CBsize);
                if location >= 0 {
                    spec = spec.gpu(location);
                }
                Stream::create_legacy_mode(name, &spec)?
            } else {
                // Process-local images have no semaphores and no circular buffer (legacy rule);
                // separate `calloc` blocks, as the legacy library (programs free them).
                spec = spec.semaphores(0);
                let stream = Stream::create_local(name, &spec)?;
                // SAFETY: `image` is writable (caller contract).
                unsafe { fill_local(image, stream, name) }?;
                return Ok(IMAGESTREAMIO_SUCCESS);
            };
            // SAFETY: `image` is writable (caller contract).
            unsafe { fill(image, stream, name, true) }?;
            Ok(IMAGESTREAMIO_SUCCESS)
        },
    )
}

/// Opens the existing stream `name` (a symlink named like a stream is followed; the `IMAGE` keeps
/// the link's name, `md->name` the target's).
///
/// # Safety
/// `image` must be writable; `name` a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_openIm(image: *mut IMAGE, name: *const c_char) -> errno_t {
    boundary(
        c"ImageStreamIO_openIm",
        |c| c,
        || {
            // SAFETY: forwarded to the caller.
            unsafe { open(image, name) }
        },
    )
}

/// [`ImageStreamIO_openIm`] with the arguments swapped (legacy name).
///
/// # Safety
/// As for [`ImageStreamIO_openIm`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_read_sharedmem_image_toIMAGE(
    name: *const c_char,
    image: *mut IMAGE,
) -> errno_t {
    boundary(
        c"ImageStreamIO_read_sharedmem_image_toIMAGE",
        |c| c,
        || {
            // SAFETY: forwarded to the caller.
            unsafe { open(image, name) }
        },
    )
}

/// # Safety
/// As for [`ImageStreamIO_openIm`].
unsafe fn open(image: *mut IMAGE, name: *const c_char) -> Outcome<errno_t> {
    if image.is_null() {
        return Err(Failure::invalid("NULL IMAGE pointer"));
    }
    let opened = (|| {
        // SAFETY: a C string (caller contract).
        let name = unsafe { c_name(name) }?;
        let stream = Stream::open(name)?;
        // SAFETY: `image` is writable (caller contract).
        unsafe { fill(image, stream, name, false) }
    })();
    if opened.is_err() {
        // As the legacy library: a failed open leaves the handle marked unused.
        // SAFETY: `image` is writable (caller contract).
        unsafe { std::ptr::addr_of_mut!((*image).used).write(0) };
    }
    opened.map(|()| IMAGESTREAMIO_SUCCESS)
}

/// Unmaps the stream and closes its file descriptor; the file stays. A process-local image is
/// freed.
///
/// # Safety
/// `image` must be NULL or an `IMAGE` filled by this library whose stream is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_closeIm(image: *mut IMAGE) -> errno_t {
    boundary(
        c"ImageStreamIO_closeIm",
        |c| c,
        || {
            if image.is_null() {
                return Err(Failure::invalid("NULL IMAGE pointer"));
            }
            // SAFETY: forwarded to the caller.
            unsafe { release(image) }?;
            Ok(IMAGESTREAMIO_SUCCESS)
        },
    )
}

/// Destroys the stream's semaphores, removes its file `DIR/<md->name>.im.shm` (if it is still the
/// file this handle has open, and `md->name` a valid stream name) and closes it; frees a
/// process-local image. Nothing to do for a handle that is not open.
///
/// # Safety
/// As for [`ImageStreamIO_closeIm`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_destroyIm(image: *mut IMAGE) -> errno_t {
    boundary(
        c"ImageStreamIO_destroyIm",
        |c| c,
        || {
            // SAFETY: forwarded to the caller.
            let im = unsafe { read_image(image) }?;
            if im.used != 1 || im.md.is_null() {
                return Ok(IMAGESTREAMIO_SUCCESS);
            }
            let mut removed = Ok(());
            if !is_local(&im) {
                // SAFETY: an open handle (caller contract).
                removed = match unsafe { view(&im) } {
                    Ok(v) => {
                        for i in 0..v.geometry().nb_sem {
                            if let Ok(sem) = v.semaphore(i) {
                                // SAFETY: a semaphore initialised at creation; glibc's
                                // sem_destroy only checks it.
                                unsafe { libc::sem_destroy(sem.as_ptr()) };
                            }
                        }
                        // SAFETY: as above.
                        unsafe { libc::sem_destroy(v.semlog().as_ptr()) };
                        remove_if_ours(&v.geometry().name, im.shmfd)
                    }
                    // The header no longer validates (semaphores are not touched), but the file
                    // this handle has open is still ours to remove: looked up by `md->name` if
                    // it is still a valid name, else by the `IMAGE`'s own name (the one it was
                    // created or opened by), and removed only if it is the inode of `shmfd`.
                    // The validation error is the result.
                    Err(invalid) => {
                        // SAFETY: an open handle (caller contract).
                        let md_name = unsafe { raw_md_name(&im) };
                        let image_name = crate::handle::image_name(&im);
                        for name in md_name.iter().chain([&image_name]) {
                            let _ = remove_if_ours(name, im.shmfd);
                        }
                        Err(invalid)
                    }
                };
            }
            // SAFETY: forwarded to the caller.
            unsafe { release(image) }?;
            removed.map(|()| IMAGESTREAMIO_SUCCESS)
        },
    )
}

/// `md->name` read raw (lossy, up to its first NUL), if the mapping holds a whole header.
///
/// # Safety
/// `im.md` must be valid for reads of `im.memsize` bytes (an open shared handle).
unsafe fn raw_md_name(im: &IMAGE) -> Option<String> {
    if im.md.is_null() || im.memsize < size_of::<IMAGE_METADATA>() as u64 {
        return None;
    }
    // SAFETY: the header is readable (checked length, caller contract); a byte array has no
    // invalid values. Another process may write it meanwhile: a torn name is merely a name
    // that does not match the inode check.
    let name = unsafe { std::ptr::addr_of!((*im.md).name).read_volatile() };
    let bytes: Vec<u8> = name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Removes `DIR/name.im.shm` if it is still the file open as `fd` (same device and inode; a
/// stream re-created by someone else meanwhile is left alone). `name` is `md->name`, which any
/// process that can write the file controls, as it does `md->inode`: a name that is not a valid
/// stream name (it could lead out of the directory) removes nothing and is a `FAILURE`.
fn remove_if_ours(name: &str, fd: c_int) -> Outcome<()> {
    use std::os::unix::fs::MetadataExt;
    shmim_core::validate_name(name).map_err(|e| {
        Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!("md->name: {e}; no file removed"),
        )
    })?;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is writable for one `struct stat`; fstat only writes it (and fails on a bad
    // descriptor, which is reported).
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return Err(Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!(
                "fstat of the stream's descriptor: {}; no file removed",
                std::io::Error::last_os_error()
            ),
        ));
    }
    // SAFETY: fstat succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    let path = shmim_core::default_dir().join(format!("{name}{}", shmim_layout::FILE_SUFFIX));
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_file() && m.ino() == st.st_ino && m.dev() == st.st_dev => {
            std::fs::remove_file(&path).map_err(|e| {
                Failure::new(
                    IMAGESTREAMIO_FAILURE,
                    format!("unlink {}: {e}", path.display()),
                )
            })
        }
        _ => Ok(()),
    }
}

/// Writes `DIR/name.im.shm` into `file_name` (`ssz` bytes); `FAILURE` if it does not fit, with
/// as much of the path as fits, NUL-terminated, in the buffer (legacy `snprintf`; nothing for
/// `ssz` 0).
///
/// # Safety
/// `file_name` must be writable for `ssz` bytes; `name` a C string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_filename(
    file_name: *mut c_char,
    ssz: usize,
    name: *const c_char,
) -> errno_t {
    boundary(
        c"ImageStreamIO_filename",
        |c| c,
        || {
            if file_name.is_null() || name.is_null() {
                return Err(Failure::invalid("NULL file name buffer or stream name"));
            }
            // SAFETY: a C string (caller contract).
            let name = unsafe { std::ffi::CStr::from_ptr(name) }.to_bytes();
            let mut path = shmim_core::default_dir()
                .as_os_str()
                .as_encoded_bytes()
                .to_vec();
            path.push(b'/');
            path.extend_from_slice(name);
            path.extend_from_slice(shmim_layout::FILE_SUFFIX.as_bytes());
            if path.len() >= ssz {
                // As legacy `snprintf`: a truncated, NUL-terminated path when there is room for
                // anything at all, and still FAILURE.
                if ssz > 0 {
                    // SAFETY: `file_name` is writable for `ssz` bytes (caller contract); we write
                    // `ssz - 1` < `path.len()` bytes of our vector and one NUL, no overlap.
                    unsafe {
                        std::ptr::copy_nonoverlapping(path.as_ptr(), file_name.cast(), ssz - 1);
                        file_name.add(ssz - 1).write(0);
                    }
                }
                return Err(Failure::new(
                    IMAGESTREAMIO_FAILURE,
                    format!("file name needs {} bytes, buffer has {ssz}", path.len() + 1),
                ));
            }
            path.push(0);
            // SAFETY: `file_name` is writable for `ssz` > `path.len()` bytes (caller contract) and
            // cannot overlap our vector.
            unsafe { std::ptr::copy_nonoverlapping(path.as_ptr(), file_name.cast(), path.len()) };
            Ok(IMAGESTREAMIO_SUCCESS)
        },
    )
}

/// The pixel pointer: `array.raw` for a CPU stream; NULL (with `NOTIMPL` reported) for a GPU
/// stream, as this build has no CUDA support.
///
/// # Safety
/// `image` must be NULL or a readable `IMAGE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_get_image_d_ptr(image: *mut IMAGE) -> *mut c_void {
    boundary(
        c"ImageStreamIO_get_image_d_ptr",
        |_| std::ptr::null_mut(),
        || {
            // SAFETY: forwarded to the caller.
            let im = unsafe { read_image(image) }?;
            // SAFETY: `raw` is the union's untyped member; every member is a pointer.
            let raw = unsafe { im.array.raw };
            if !raw.is_null() {
                return Ok(raw);
            }
            Err(Failure::new(
                IMAGESTREAMIO_NOTIMPL,
                "GPU stream: this build of libImageStreamIO has no CUDA support",
            ))
        },
    )
}
