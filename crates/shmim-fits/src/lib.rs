//! FITS files from ImageStreamIO streams and back, the way astronomers keep their data: save a
//! frame (or the next frames, as a cube), load an image into a stream, log a stream to disk as a
//! series of cubes. Files are written and read by cfitsio, built from the source bundled in
//! `fitsio-sys` (no system package needed).
//!
//! * [`save()`] — the current frame (a consistent read), or the next `n` frames as a cube (a
//!   registered reader waiting on the stream; frames missed are counted);
//! * [`load()`] — a FITS image into a new stream, or as the next frame of an existing stream of
//!   the same shape and type;
//! * [`log()`] — cubes of `n` frames, paced by the writer, each with a per-frame table.
//!
//! # Axis order
//! FITS `NAXIS1` is the fastest-varying axis, as a stream's `size[0]` is: a stream of
//! `size = [W, H]` is saved as `NAXIS1 = W`, `NAXIS2 = H`, and a FITS image loads into a stream of
//! `size = [NAXIS1, NAXIS2, …]`. Pixels keep their order in memory; nothing is transposed. (numpy
//! and astropy show the same data with the axes reversed, `shape == (H, W)`, as they do for any
//! FITS file.) A cube adds one last axis counting frames.
//!
//! # Types
//! The ten integer and float datatypes map to FITS images as the table of [`types`] says; the
//! unsigned ones through `BZERO`, as the FITS standard prescribes. Complex and half-precision
//! pixels have no FITS image type and are refused with [`Error::Unsupported`].
//!
//! # Header cards
//! Stream keywords become cards and cards keywords by the rules of [`cards`]. A saved file also
//! carries cards about the frame: `SHMNAME` (the stream), `CNT0` (its frame number), `ATIME` and
//! `WRITETIM` (its acquisition and publish times, ISO 8601 to the nanosecond, with
//! `TIMESYS = 'TAI'`: streams keep `CLOCK_TAI` times) and `DATE`; a cube also `NFRAMES`, `NMISSED`
//! and the `FRAMES` table ([`cube`]).
#![deny(missing_docs)]

mod backlog;
pub mod cards;
mod cfitsio;
mod cpu;
pub mod cube;
mod disk;
mod encode;
mod error;
mod frame;
mod load;
mod log;
mod output;
mod save;
mod take;
pub mod time;
pub mod types;

pub use cpu::LoggerThread;
pub use cube::{CubeReport, TABLE_NAME};
pub use error::{Error, Result};
pub use frame::Stamp;
pub use load::{LoadReport, MAX_CARDS, MAX_KEYWORDS, load};
pub use log::{LogObserver, LogOptions, LogProgress, LogReport, log};
pub use save::{SaveOptions, SaveReport, Stop, save};
pub use types::FITS_DATATYPES;
