//! The ImageStreamIO 2.00 stream format as data.
//!
//! A stream is a file `DIR/NAME.im.shm` that C programs built against the legacy `ImageStruct.h`
//! (x86_64 Linux, glibc, default build) map and dereference directly. Every struct here is
//! byte-for-byte the C struct: fields in file order, legacy integer widths (`write` is a `u8`,
//! `cnt0` a `u64`), and the C compiler's padding spelled out as explicit `_pad*` fields so that
//! the structs are [`bytemuck::Pod`] and can be copied out of a mapping as plain bytes.
//!
//! The offset of every field is asserted at compile time against the reference table of the
//! format (`docs/format.md`); a single moved byte fails the build.
//!
//! This crate does no I/O and has no `unsafe` beyond the one `Pod` impl of the keyword value union
//! (bytemuck cannot derive `Pod` for unions). Shared fields are plain integers here on purpose:
//! the layout is frozen, and atomic access is `shmim-sync`'s job (atomic views built from a
//! pointer to the field).
//!
//! ```
//! use shmim_layout::{Datatype, RegionSpec, ImageMetadata};
//! let spec = RegionSpec::new(&[512, 512], Datatype::Float).with_semaphores(10);
//! let regions = spec.regions().unwrap();
//! assert_eq!(regions.imdatamemsize, 512 * 512 * 4); // 1_050_112-byte file in the default build
//! assert_eq!(regions.data.offset, core::mem::size_of::<ImageMetadata>() as u64);
//! ```
#![no_std]
#![deny(missing_docs)]

mod circbuf;
mod consts;
mod cstr;
pub mod datatype;
mod imagetype;
mod keyword;
mod metadata;
mod proctrace;
mod regions;
mod semaphore;
mod timespec;

pub use circbuf::{CbFrameMd, FrameWriteMd};
pub use consts::*;
pub use cstr::{CStrError, read_cstr, write_cstr};
pub use datatype::{ComplexF32, ComplexF64, Datatype, DatatypeError};
pub use imagetype::{ImageType, ZAxis};
pub use keyword::{ImageKeyword, KeywordType, KeywordTypeError, KeywordValue};
pub use metadata::{CLAIM_PID_OFFSET, CLAIM_TICKET_OFFSET, IMAGE_METADATA_SIZE, ImageMetadata};
pub use proctrace::StreamProcTrace;
pub use regions::{LayoutError, Region, RegionSpec, Regions};
pub use semaphore::SemSlot;
pub use timespec::Timespec;
