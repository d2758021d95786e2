//! The error codes of `ImageStreamIOError.h`: what every `errno_t` function returns.
//!
//! This file is the source cbindgen turns into `include/ImageStreamIOError.h` (the `errno_t`
//! typedef itself is written by hand in that header, guarded like the C11 Annex K one).

/// The return type of the library's status functions: `int`.
#[allow(non_camel_case_types)]
pub type errno_t = libc::c_int;

/// Success.
pub const IMAGESTREAMIO_SUCCESS: errno_t = 0;
/// A generic failure.
pub const IMAGESTREAMIO_FAILURE: errno_t = 1;
/// An argument out of range or otherwise invalid (a NULL pointer, a bad index, a bad geometry).
pub const IMAGESTREAMIO_INVALIDARG: errno_t = 10;
/// A feature this build does not support (GPU streams without CUDA).
pub const IMAGESTREAMIO_NOTIMPL: errno_t = 20;
/// Memory allocation failed.
pub const IMAGESTREAMIO_BADALLOC: errno_t = 30;
/// Opening (or creating) a stream file failed.
pub const IMAGESTREAMIO_FILEOPEN: errno_t = 40;
/// Sizing a stream file failed.
pub const IMAGESTREAMIO_FILESEEK: errno_t = 42;
/// Writing a stream file failed (e.g. no space left to reserve it).
pub const IMAGESTREAMIO_FILEWRITE: errno_t = 44;
/// A file exists where a GPU stream was to be created.
pub const IMAGESTREAMIO_FILEEXISTS: errno_t = 46;
/// The stream file was replaced (its inode changed) or its inode could not be read.
pub const IMAGESTREAMIO_INODE: errno_t = 48;
/// Mapping or unmapping the stream file failed.
pub const IMAGESTREAMIO_MMAP: errno_t = 50;
/// Initialising a semaphore failed.
pub const IMAGESTREAMIO_SEMINIT: errno_t = 60;
/// The file is not an ImageStreamIO 2.00 stream (wrong version string).
pub const IMAGESTREAMIO_VERSION: errno_t = 100;
