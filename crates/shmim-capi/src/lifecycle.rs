//! Creating, opening, closing and destroying streams; stream file names.

use std::ffi::{c_char, c_int, c_long, c_void};
use std::time::Duration;

use shmim_core::{Datatype, OpenOptions, Stream, StreamSpec};
use shmim_layout::{FILE_SUFFIX, IMAGE_NB_SEMAPHORE, ImageType, LOCATION_CPU, RegionSpec};

use crate::error_codes::*;
use crate::handle::{c_name, fill, fill_local, header, is_local, read_image, release};
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

/// Creates a stream with every parameter explicit: `location` -1 for CPU memory, `NBsem`
/// semaphores, `imagetype` flags. A shared stream replaces an existing one of the same name. A GPU
/// location (≥ 0) needs CUDA, which this build has not: `FILEEXISTS` if the file exists (as
/// legacy, checked first), else `NOTIMPL`, and nothing is created. A process-local image
/// (`shared` = 0) takes any non-empty name (cut to 79 bytes; it names no file) and ignores the
/// location, as legacy.
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
            let shared = match shared {
                1 => true,
                s if s > 1 => return Err(Failure::invalid(format!("shared is {s}, not 0 or 1"))),
                _ => false,
            };
            // SAFETY: forwarded to the caller.
            let args = unsafe { Creation::from_args(naxis, size, datatype, NBkw, imagetype) }?;
            if !shared {
                // SAFETY: forwarded to the caller.
                let name = unsafe { any_name(name) }?;
                // Process-local images have no semaphores and no circular buffer, and live in
                // CPU memory (legacy rules); separate `calloc` blocks, as the legacy library
                // (programs free them). Made under a placeholder name, then given its own.
                let stream = Stream::create_local("local", &args.spec().semaphores(0))?;
                // SAFETY: `image` is writable (caller contract).
                unsafe { fill_local(image, stream, name) }?;
                return Ok(IMAGESTREAMIO_SUCCESS);
            }
            // SAFETY: a C string (caller contract).
            let name = unsafe { c_name(name) }?;
            let nb_sem = count("NBsem", NBsem)?;
            if location < LOCATION_CPU {
                return Err(Failure::invalid(format!("location {location} is below -1")));
            }
            if location >= 0 {
                return Err(args.gpu_refused(name, nb_sem, CBsize, location));
            }
            let spec = args.spec().semaphores(nb_sem).circular_buffer(CBsize);
            let stream = Stream::create_legacy_mode(name, &spec)?;
            // SAFETY: `image` is writable (caller contract).
            unsafe { fill(image, stream, name, true) }?;
            Ok(IMAGESTREAMIO_SUCCESS)
        },
    )
}

/// A count argument that must fit the header's 16-bit field.
fn count(what: &str, n: c_int) -> Outcome<u16> {
    u16::try_from(n).map_err(|_| Failure::invalid(format!("{what} {n} is not 0..=65535")))
}

/// The geometry arguments of `createIm_gpu` (checked when the stream is made).
struct Creation {
    shape: Vec<u32>,
    datatype: Datatype,
    nb_kw: u16,
    imagetype: u64,
}

impl Creation {
    /// # Safety
    /// `size` must be NULL or hold `naxis` values.
    unsafe fn from_args(
        naxis: c_long,
        size: *const u32,
        datatype: u8,
        nb_kw: c_int,
        imagetype: u64,
    ) -> Outcome<Self> {
        let naxis = usize::try_from(naxis)
            .ok()
            .filter(|n| (1..=3).contains(n))
            .ok_or_else(|| Failure::invalid(format!("naxis {naxis} is not 1, 2 or 3")))?;
        if size.is_null() {
            return Err(Failure::invalid("NULL size array"));
        }
        // SAFETY: `size` holds `naxis` values (caller contract).
        let shape = unsafe { std::slice::from_raw_parts(size, naxis) }.to_vec();
        Ok(Self {
            shape,
            datatype: Datatype::try_from(datatype).map_err(|e| Failure::invalid(format!("{e}")))?,
            nb_kw: count("NBkw", nb_kw)?,
            imagetype,
        })
    }

    fn spec(&self) -> StreamSpec {
        StreamSpec::new(&self.shape, self.datatype)
            .keywords(self.nb_kw)
            .imagetype(self.imagetype)
    }

    /// Why a GPU stream is not created: `INVALIDARG` for a geometry no stream can have, then (as
    /// a legacy build) `FILEEXISTS` for an existing file, else `NOTIMPL`: this build has no CUDA,
    /// so there is no device memory for the stream's pixels.
    fn gpu_refused(&self, name: &str, nb_sem: u16, cb_size: u32, location: i8) -> Failure {
        let mut layout = RegionSpec::new(&self.shape, self.datatype)
            .with_keywords(self.nb_kw)
            .with_semaphores(nb_sem)
            .with_imagetype(self.imagetype)
            .with_circular_buffer(cb_size);
        layout.location = location;
        if let Err(e) = layout.regions() {
            return Failure::from(shmim_core::Error::Geometry(e));
        }
        let path = shmim_core::default_dir().join(format!("{name}{FILE_SUFFIX}"));
        if std::fs::metadata(&path).is_ok() {
            return Failure::new(
                IMAGESTREAMIO_FILEEXISTS,
                format!(
                    "{} exists; a GPU stream never replaces a file",
                    path.display()
                ),
            );
        }
        Failure::new(
            IMAGESTREAMIO_NOTIMPL,
            format!(
                "GPU stream {name:?} on device {location}: this build of libImageStreamIO has no \
                 CUDA support"
            ),
        )
    }
}

/// A process-local image's name: any bytes up to the NUL, but not none.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string.
unsafe fn any_name<'a>(name: *const c_char) -> Outcome<&'a [u8]> {
    if name.is_null() {
        return Err(Failure::invalid("NULL image name"));
    }
    // SAFETY: a NUL-terminated C string (caller contract).
    let bytes = unsafe { std::ffi::CStr::from_ptr(name) }.to_bytes();
    if bytes.is_empty() {
        return Err(Failure::invalid("empty image name"));
    }
    Ok(bytes)
}

/// Opens the existing stream `name` (a symlink named like a stream is followed; the `IMAGE` keeps
/// the link's name, `md->name` the target's). Fails at once on a missing or invalid file (no
/// retry while a creator might still be writing it), and on a GPU stream (no CUDA in this build:
/// no pixel pointer to give). A successful open leaves `used` and `createcnt` as they were, as
/// legacy; a failed one sets `used` to 0.
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

/// [`ImageStreamIO_openIm`] without reporting (for the caller's boundary).
///
/// # Safety
/// As for [`ImageStreamIO_openIm`].
pub(crate) unsafe fn open(image: *mut IMAGE, name: *const c_char) -> Outcome<errno_t> {
    if image.is_null() {
        return Err(Failure::invalid("NULL IMAGE pointer"));
    }
    let opened = (|| {
        // SAFETY: a C string (caller contract).
        let name = unsafe { c_name(name) }?;
        let at_once = OpenOptions {
            retry: Duration::ZERO,
            ..OpenOptions::default()
        };
        let stream = Stream::open_with(shmim_core::default_dir(), name, &at_once)?;
        let location = stream.geometry().location;
        if location >= 0 {
            return Err(Failure::new(
                IMAGESTREAMIO_FAILURE,
                format!(
                    "{name} is a GPU stream (device {location}): this build of libImageStreamIO \
                     has no CUDA support, so there is no pixel pointer to give"
                ),
            ));
        }
        // SAFETY: `image` is writable (caller contract).
        unsafe { fill(image, stream, name, false) }
    })();
    if opened.is_err() {
        // A failed open leaves the handle marked unused (legacy: when the file cannot be
        // opened; when it opens but is refused, legacy leaves `used` and a dangling `md`).
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

/// Removes the stream's file and closes the stream; frees a process-local image. As legacy, only
/// a handle marked used (by `createIm`, or by the program) is destroyed; any other returns
/// `SUCCESS` untouched (a handle from `openIm` is not marked). The file removed is the one the
/// handle has open, found as `DIR/<md->name>.im.shm` or by the `IMAGE`'s own name: a stream
/// re-created meanwhile under that name is left alone. The semaphores are not destroyed: other
/// processes still use them (and glibc's `sem_destroy` does nothing anyway).
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
            let removed = if is_local(&im) {
                Ok(())
            } else {
                // SAFETY: an open handle (caller contract).
                header(&im).and_then(|_| unsafe { remove_stream_file(&im) })
            };
            // SAFETY: forwarded to the caller.
            unsafe { release(image) }?;
            removed.map(|()| IMAGESTREAMIO_SUCCESS)
        },
    )
}

/// Unlinks the file a shared handle has open: `DIR/<md->name>.im.shm` or `DIR/<IMAGE name>.im.shm`,
/// whichever is still the inode of its descriptor. `md->name` is whatever the last writer of the
/// header put there: a name that is not a valid stream name (it could lead out of the directory)
/// is not used as a path. `FAILURE` if the file is still linked but by neither name.
///
/// # Safety
/// `im` is a shared handle whose header [`header`] accepted, mapped for the call.
unsafe fn remove_stream_file(im: &IMAGE) -> Outcome<()> {
    // SAFETY: a byte array inside the accepted header (caller contract); any value is valid. A
    // name torn by a concurrent writer is merely a name that does not match the inode check.
    let md_name = unsafe { std::ptr::addr_of!((*im.md).name).read_volatile() };
    let md_name: Vec<u8> = md_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    let st = fstat(im.shmfd)?;
    for name in [md_name, crate::handle::image_name(im).into_bytes()] {
        let Ok(name) = shmim_core::validate_name_bytes(&name) else {
            continue;
        };
        let path = shmim_core::default_dir().join(format!("{name}{FILE_SUFFIX}"));
        if is_inode(&path, &st) {
            return std::fs::remove_file(&path).map_err(|e| {
                Failure::new(
                    IMAGESTREAMIO_FAILURE,
                    format!("unlink {}: {e}", path.display()),
                )
            });
        }
    }
    if st.st_nlink == 0 {
        // Unlinked already: replaced by a new stream, or removed by someone else.
        return Ok(());
    }
    Err(Failure::new(
        IMAGESTREAMIO_FAILURE,
        "the stream file is still linked, but neither md->name nor the IMAGE's name leads to it \
         in the stream directory: not removed",
    ))
}

/// `fstat` of a stream's descriptor.
fn fstat(fd: c_int) -> Outcome<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is writable for one `struct stat`; fstat only writes it (and fails on a bad
    // descriptor, which is reported).
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return Err(Failure::new(
            IMAGESTREAMIO_FAILURE,
            format!(
                "fstat of the stream's descriptor {fd}: {}",
                std::io::Error::last_os_error()
            ),
        ));
    }
    // SAFETY: fstat succeeded, so it filled `st`.
    Ok(unsafe { st.assume_init() })
}

/// Whether `path` (not followed if a symlink) is the file `st` describes.
fn is_inode(path: &std::path::Path, st: &libc::stat) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.is_file() && m.ino() == st.st_ino && m.dev() == st.st_dev)
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
