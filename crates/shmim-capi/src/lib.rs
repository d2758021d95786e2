//! `libImageStreamIO`: the legacy ImageStreamIO C API, on shmim.
//!
//! A C program written against ImageStreamIO 2.00 compiles against this crate's headers
//! (`include/`, installed by `cargo xtask install`) and links with `-lImageStreamIO` unchanged:
//! the same functions, the same `IMAGE` struct with the same pointers into the same files. Behind
//! them, streams are created, opened, validated and published by `shmim-core` and `shmim-sync`,
//! so C writers get shmim's ordering (protocol.md) and bounded semaphore posts.
//!
//! | module | C API group |
//! |---|---|
//! | [`image_struct`] | `ImageStruct.h`: structs and constants (the cbindgen source) |
//! | [`error_codes`] | `ImageStreamIOError.h`: the `IMAGESTREAMIO_*` codes |
//! | `init` | `init_ImageStreamIO`, the printError hook |
//! | `types` | datatype sizes, names and FITS codes |
//! | `lifecycle` | create, open, close, destroy, file names |
//! | `semaphores` | post, register, wait, flush |
//! | `update` | `UpdateIm`: publishing a frame |
//! | `buffers` | slices and circular-buffer pointers |
//! | `inode` | replacement checks and relink |
//!
//! Deliberate differences from the legacy library, all invisible in the file format:
//! * `UpdateIm` publishes with release ordering and posts with a race-free bound; it also
//!   records the frame's metadata in the circular-buffer entry it copies into (shmim-core's rule).
//! * Files are created 0666 with `fchmod` (the process umask is never touched) and built under a
//!   temporary name, then renamed into place.
//! * A process-local image (`shared` = 0) is laid out as in the legacy library: `md`, the pixels
//!   and the keywords are separate `calloc` blocks (`kw` NULL without keywords), `memsize` 0,
//!   `semptr` NULL, so programs may free them themselves (milk: `free(array); free(md);
//!   free(kw)`) or with `closeIm`/`destroyIm` (which free all three, as legacy `destroyIm` does;
//!   doing both is a double free, as in legacy). Difference: `shmfd` is -1 (legacy 0, which a
//!   careless close would take for stdin). Calls on a local image validate its 384-byte header
//!   alone; the semaphore and inode functions refuse it (no semaphores, no file).
//! * The stream's descriptor (`shmfd`) is opened `O_CLOEXEC` (legacy: inherited across `exec`);
//!   a program that wants a child process to inherit it clears the flag with `fcntl`.
//! * Bad arguments are errors (`INVALIDARG`, or -1/`EINVAL` for the wait functions) reported
//!   through the printError hook; the legacy library printed and carried on, or crashed. Every
//!   call re-validates the header the `IMAGE` points to, so a scribbled-over header is refused
//!   (`FAILURE`) rather than trusted.
//! * A stream symlink is followed only to a target inside the stream directory.
//! * The header's `md->name` and `md->inode` are whatever the last writer of the file put there:
//!   `destroyIm` removes `DIR/<md->name>.im.shm` only when `md->name` is a valid stream name and
//!   that file is the one the handle has open (`fstat`); legacy: whatever path the name formed.
//!   A header that no longer validates still has its file removed when it is the one the handle
//!   has open (found by `md->name`, else the `IMAGE`'s name), and `destroyIm` returns `FAILURE`.
//! * The wait functions refuse (-1, `EINVAL`, `FAILURE` reported) a semaphore whose glibc flag
//!   word is neither 0 nor 0x80, on which glibc would abort the process or use the wrong clock.
//! * GPU streams (`location` ≥ 0) are created and opened, but this build has no CUDA: their
//!   pixel pointer is NULL and `get_image_d_ptr` reports `NOTIMPL`.
//!
//! Cost: `UpdateIm` on a 64×64 stream with 10 semaphores and no waiting reader takes about
//! 2 100 instructions (≈ 0.2 µs on the CI machine), half of it validating the header; the legacy
//! library spent ≈ 1.2 µs in `getpid` calls alone.
#![allow(non_snake_case)]
#![deny(missing_docs)]

mod abi_check;
mod buffers;
pub mod error_codes;
mod handle;
pub mod image_struct;
mod init;
mod inode;
mod lifecycle;
mod report;
mod semaphores;
mod types;
mod update;

pub use buffers::*;
pub use init::*;
pub use inode::*;
pub use lifecycle::*;
pub use semaphores::*;
pub use types::*;
pub use update::*;
