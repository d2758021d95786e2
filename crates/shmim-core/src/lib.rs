//! The safe Rust API for ImageStreamIO shared-memory image streams.
//!
//! A stream is a file `DIR/NAME.im.shm` holding a frozen C header, keywords, semaphores and the
//! pixels of the current frame; shmim's files are byte-for-byte those of the legacy C library, so
//! C and Rust processes share streams freely. This crate makes the synchronisation protocol
//! (`docs/protocol.md`) impossible to misuse:
//!
//! * a frame is written through a [`WriteGuard`] and published by [`WriteGuard::commit`]; a guard
//!   dropped without commit leaves the frame visibly abandoned, never half-published;
//! * a [`Reader`] registers in a semaphore slot (released on drop) and copies frames out with
//!   [`Reader::read_into`], which never returns a torn frame: it returns the frame or a
//!   [`Error::Torn`] / [`Error::WriterStuck`] / [`Error::WriterDied`] error;
//! * every wait strategy returns each frame at most once, and notices within 100 ms that the
//!   stream was re-created ([`Error::Replaced`]) or deleted ([`Error::Removed`]);
//! * no `&[T]` into live shared pixels is ever handed out: reads are copies.
//!
//! ```
//! use std::time::Duration;
//! use shmim_core::{Datatype, Stream, StreamSpec};
//!
//! # fn main() -> shmim_core::Result<()> {
//! # let tmp = std::env::temp_dir().join(format!("shmim-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&tmp).unwrap();
//! // A writer creates a 4×4 f32 stream and publishes a frame.
//! let spec = StreamSpec::new(&[4, 4], Datatype::Float).dir(&tmp);
//! let mut stream = Stream::create("doc_example", &spec)?;
//! let frame: Vec<f32> = (0..16).map(|i| i as f32).collect();
//!
//! // A reader (usually another process) registers, waits for the next frame and copies it.
//! let reader_stream = Stream::open_in(&tmp, "doc_example")?;
//! let mut reader = reader_stream.reader()?;
//! let published = stream.write_frame(&frame)?;
//! let woke_at = reader.wait_timeout(Duration::from_secs(1))?;
//! let mut copy = vec![0f32; 16];
//! let got = reader.read_into(&mut copy)?;
//! assert_eq!((published, woke_at, got), (1, 1, 1));
//! assert_eq!(copy, frame);
//!
//! // Writing in place: the guard gives &mut pixels until commit.
//! let mut guard = stream.write()?;
//! guard.pixels_mut::<f32>()?.fill(2.5);
//! assert_eq!(guard.commit()?, 2);
//! # drop(reader);
//! # stream.destroy()?;
//! # std::fs::remove_dir_all(&tmp).unwrap();
//! # Ok(())
//! # }
//! ```
//!
//! # Decisions where the spec is silent
//! * Commit also fills the circular-buffer frame metadata (`CBFRAMEMD`: cnt0, cnt1, atime,
//!   writetime) of the slot it copies into; the legacy library leaves those entries zero.
//! * `ownerPID` keeps its legacy meaning (the stream's owner, set by milk's `shmimsetown*`) and is
//!   never written after create. The writer holding the flag is named by two shmim-private words
//!   of header padding, the claim PID and claim ticket (`docs/protocol.md`, "The fields involved"), which
//!   tell a dead writer ([`Error::WriterDied`]) from a live or legacy one. The last writer of a
//!   frame is in `semWritePID` ([`Stream::last_writer`]).
//! * A frame abandoned by one handle (a guard dropped without commit) can be resumed by the next
//!   write through any handle of the same process to the same file, even after the abandoning
//!   handle was dropped; other processes see a stuck writer until then. A recovery or forced
//!   take-over by a handle of the process consumes that record in the same step, and a forked
//!   child starts with none (it never resumes its parent's abandoned frames).
//!   A frame set aside on purpose ([`WriteGuard::hold`], for bindings whose write spans several
//!   calls) is that handle's alone until [`Stream::resume`] or until its [`HeldWrite`] is
//!   dropped (an abandon).
//! * Frame waits return only frames ([`Reader::wait`]…: a post without a new `cnt0` is consumed);
//!   the post waits ([`Reader::wait_post`]…) return for any post, as the legacy C waits do (milk's
//!   bare posts: `imsetsempost`, `sempost_loop`).
//! * A stream is its name in its directory: a reader whose stream's directory was renamed is told
//!   [`Error::Removed`], even while a writer still writes the mapped file.
//! * Liveness: a process is dead when `kill(pid, 0)` fails with `ESRCH`, or when it has exited
//!   without being reaped (its main thread a zombie and no other thread left: a process whose
//!   main thread alone exited is alive).
//! * A registered reader sets the `READY` bit of its `semctrl` slot and the `CONNECTED` bit of its
//!   `semstatus` slot, and clears both when it leaves; a fresh file keeps them 0, as legacy files do.
//! * Stream names: 1–79 bytes of UTF-8, no `/`, NUL or control characters, not starting with `.`
//!   or `-`.
//! * A writer and readers in one process: a [`WriteGuard`]'s `&mut` pixels are never memory
//!   another thread of this process reads. [`Reader`]s copy pixels from their own read-only
//!   mapping of the stream file (made on their first copy, or at open for a handle asked to
//!   prefault or lock its memory), which makes the case the cross-process one of the
//!   protocol (the seqlock's documented race, discarded by validation). Under the `strict`
//!   feature `pixels_mut`/`bytes_mut` lend a staging buffer that commit writes back with aligned
//!   8-byte atomic words, and every shared pixel access is such a word, so even a process-local
//!   stream shared by threads is race-free (Miri and ThreadSanitizer check it). Same methods in
//!   both builds: the feature is additive.
//! * Keyword writers ([`Stream::set_keyword`], [`Stream::clear_keyword`]) are serialised: an OFD
//!   lock on the keyword region across processes and open handles (a forked child locks a
//!   description of its own), a fork-proof lock within one process; legacy C writers take no
//!   lock.
//! * A new stream or segment file is built unnamed (`O_TMPFILE`) with its final permissions —
//!   the umask, or the directory's default ACL, as for any file created in place — and named
//!   only once complete, then renamed into place; without `O_TMPFILE`, under an unpredictable
//!   name (`.NAME.<64 random bits>.tmp`), owner-only until complete.
//! * [`Segment`]s use the owner-PID lock of `docs/segment-lock.md` (format version 2); within a
//!   process no two guards of one segment ever coexist, whatever the file says.
#![deny(missing_docs)]

mod abandoned;
mod circular;
mod consistent;
mod create;
mod cube;
mod dir;
mod error;
mod init;
mod keywords;
#[doc(hidden)]
pub mod legacy;
mod list;
mod live_pixels;
mod mapping;
mod metadata;
mod name;
mod open;
mod pixel;
mod post;
mod proctrace;
mod reader;
mod segment;
mod spec;
mod stream;
mod temp_file;
pub mod validate;
mod watch;
mod writer;
mod writer_pixels;

pub use circular::{CbAnchor, CbCopy};
pub use cube::CbFrame;
pub use dir::default_dir;
pub use error::{Error, Result, SegmentMismatch};
pub use keywords::{Keyword, Value};
pub use list::{Listed, list};
#[doc(hidden)]
pub use live_pixels::LivePixels;
#[doc(hidden)]
pub use mapping::{RawStream, free_heap};
pub use metadata::Metadata;
pub use name::{validate_name, validate_name_bytes};
pub use open::OpenOptions;
pub use pixel::{Half, Pixel};
pub use post::Woken;
pub use reader::{DEFAULT_PURE_SPIN, Reader};
pub use segment::{SEGMENT_SUFFIX, SEGMENT_VERSION, Segment, SegmentGuard};
pub use shmim_layout::{ComplexF32, ComplexF64, Datatype, ImageType, Timespec};
pub use spec::StreamSpec;
pub use stream::Stream;
pub use watch::REPLACEMENT_CHECK_EVERY;
pub use writer::{HeldWrite, WriteGuard};
