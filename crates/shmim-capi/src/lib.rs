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
//! | `cancel` | thread cancellation: the C shim the blocking calls wait in |
//!
//! Per call, the library checks what memory safety needs and nothing else: the `IMAGE`'s pointers
//! and the sizes in the header (which any process sharing the file may rewrite) must keep every
//! access inside the mapping. Programs may edit the header in place (milk reshapes streams), build
//! an `IMAGE` by hand for the slice helpers, or copy `IMAGE`s by value; the library follows.
//!
//! The blocking calls (`semwait`, `semtimedwait`, `sempost_loop`) are cancellation points that
//! block in C (`cancel`), and every other call runs with thread cancellation disabled, so
//! `pthread_cancel` of a thread blocked in the library ends that thread cleanly.
//!
//! Every deliberate difference from the legacy library, with its reason, is in the project's
//! `docs/c-api.md`; in short:
//! * `UpdateIm` publishes with release ordering and posts with a race-free bound; it also records
//!   the frame's metadata in the circular-buffer entry it copies into (shmim-core's rule).
//! * Files are created 0666 with `fchmod` (the process umask is never touched) and built under a
//!   temporary name, then renamed into place.
//! * A process-local image (`shared` = 0) is laid out as in the legacy library: `md`, the pixels
//!   and the keywords are separate `calloc` blocks (`kw` NULL without keywords), `memsize` 0,
//!   `semptr` NULL, so programs may free them themselves (milk: `free(array); free(md);
//!   free(kw)`) or with `closeIm`/`destroyIm` (which free all three, as legacy `destroyIm` does;
//!   doing both is a double free, as in legacy). Difference: `shmfd` is -1 (legacy 0, which a
//!   careless close would take for stdin).
//! * The stream's descriptor (`shmfd`) is opened `O_CLOEXEC` (legacy: inherited across `exec`);
//!   a program that wants a child process to inherit it clears the flag with `fcntl`.
//! * Bad arguments to a shared stream are errors (`INVALIDARG`, or -1/`EINVAL` for the wait
//!   functions) reported through the printError hook; the legacy library printed and carried on,
//!   or crashed. Shared stream names that could leave the stream directory are refused.
//! * A stream symlink is followed only to a target inside the stream directory.
//! * `destroyIm` removes the file the handle has open (found by `md->name` or the `IMAGE`'s name,
//!   checked by inode), never another one, and never destroys the semaphores.
//! * The wait functions refuse (-1, `EINVAL`, `FAILURE` reported) a semaphore whose glibc flag
//!   word is neither 0 nor 0x80, on which glibc would abort the process or use the wrong clock.
//! * GPU streams (`location` ≥ 0): this build has no CUDA; opening one fails (as a non-CUDA legacy
//!   build), creating one returns `NOTIMPL` (a non-CUDA legacy build made a stream with no pixel
//!   pointer).
//!
//! Cargo features `writehistory` and `dao-compat` build the legacy compile-time layout variants
//! (`IMAGESTRUCT_WRITEHISTORY`, `DAO_COMPAT`). Cost: `UpdateIm` with 10 semaphores takes about
//! 75 ns, at least 10× less than the legacy library side by side (PERFORMANCE.md).
#![allow(non_snake_case)]
#![deny(missing_docs)]

mod abi_check;
mod buffers;
mod cancel;
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
