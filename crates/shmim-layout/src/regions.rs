//! File-region arithmetic: where every part of a stream file lives, exactly as ImageStreamIO
//! computes it.
//!
//! Regions follow each other in a fixed order; each one's length is rounded up to a multiple of 8
//! (`ROUND_UP_8`) before the next starts. The file size is the end of the last region, and the
//! legacy `openIm` requires the file to be exactly that long. Every step is checked: a header with
//! absurd dimensions yields a [`LayoutError`], never a wrapped offset.

use crate::{
    Datatype, IMAGE_METADATA_SIZE, IMAGE_NB_PROCTRACE, IMAGE_NB_SEMAPHORE, ImageKeyword,
    ImageMetadata, ImageType, LOCATION_CPU, MAX_NELEMENT, SemSlot, StreamProcTrace, Timespec,
    round_up_8,
};

/// Why a geometry cannot describe a stream file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// `naxis` is not 1, 2 or 3.
    #[error("naxis is {0}, must be 1, 2 or 3")]
    Naxis(u8),
    /// A used axis has length 0.
    #[error("axis {axis} has length 0 (every used axis needs at least one element)")]
    ZeroAxis {
        /// Index of the axis (0-based).
        axis: usize,
    },
    /// The datatype code is not a pixel type.
    #[error("datatype code {0} is not a pixel type (1..=13)")]
    Datatype(u8),
    /// `location` below -1.
    #[error("location {0} is invalid (-1 = CPU, 0.. = GPU device)")]
    Location(i8),
    /// The image type is a plain circular buffer but the image is not a cube.
    #[error("imagetype {imagetype:#x} is a circular buffer, which needs 3 axes, not {naxis}")]
    CircularBufferAxes {
        /// The image type.
        imagetype: u64,
        /// The number of axes given.
        naxis: u8,
    },
    /// More elements than any stream may hold (legacy limit 10¹⁰).
    #[error("{nelement} elements exceed the limit of {MAX_NELEMENT}")]
    TooManyElements {
        /// The product of the axis lengths (saturated).
        nelement: u64,
    },
    /// A size or offset does not fit in 64 bits.
    #[error("the size of the {region} region overflows")]
    Overflow {
        /// The region whose arithmetic overflowed.
        region: &'static str,
    },
}

/// The inputs of the region arithmetic: what a creator chooses, or what a header says.
///
/// Fields are raw header values so that a corrupt header can be fed in as it is; [`Self::regions`]
/// rejects what does not make sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionSpec {
    /// Number of axes (1..=3).
    pub naxis: u8,
    /// Axis lengths; entries past `naxis` are ignored except `size[2]` for the temporal arrays.
    pub size: [u32; 3],
    /// Datatype code.
    pub datatype: u8,
    /// -1 for CPU (pixels in the file), ≥ 0 for a GPU device (no pixels in the file).
    pub location: i8,
    /// Number of keywords.
    pub nb_kw: u16,
    /// Number of semaphores.
    pub nb_sem: u16,
    /// Number of proc-trace entries.
    pub nb_proctrace: u16,
    /// Image type bits.
    pub imagetype: u64,
    /// Circular-buffer frames.
    pub cb_size: u32,
}

/// One region of the file: byte offset and exact length (the next region starts at
/// `offset + ROUND_UP_8(len)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    /// Offset from the start of the file.
    pub offset: u64,
    /// Length in bytes, before rounding.
    pub len: u64,
}

impl Region {
    /// One past the last byte used.
    pub const fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// Where everything lives in a stream file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regions {
    /// Elements of one frame.
    pub nelement: u64,
    /// Bytes of one frame (`imdatamemsize`).
    pub imdatamemsize: u64,
    /// `IMAGE_METADATA`.
    pub metadata: Region,
    /// Pixels (empty for a GPU stream).
    pub data: Region,
    /// `IMAGE_KEYWORD` × NBkw.
    pub keywords: Region,
    /// `sem_t` × sem.
    pub semaphores: Region,
    /// The log semaphore.
    pub semlog: Region,
    /// `pid_t` × sem: reader registrations.
    pub sem_read_pid: Region,
    /// `pid_t` × sem: last poster of each semaphore.
    pub sem_write_pid: Region,
    /// `u32` × sem: control bits.
    pub semctrl: Region,
    /// `u32` × sem: status bits.
    pub semstatus: Region,
    /// `STREAM_PROC_TRACE` × NBproctrace.
    pub proctrace: Region,
    /// Per-slice `atime` array (temporal circular buffers only, else empty).
    pub atime_array: Region,
    /// Per-slice `writetime` array (temporal circular buffers only, else empty).
    pub writetime_array: Region,
    /// Per-slice `cnt` array (temporal circular buffers only, else empty).
    pub cnt_array: Region,
    /// `CBFRAMEMD` × CBsize.
    pub cb_md: Region,
    /// Circular-buffer frames: imdatamemsize × CBsize.
    pub cb_data: Region,
    /// `FRAMEWRITEMD` × 100 (write-history variant only, else empty).
    pub write_history: Region,
    /// Total file size.
    pub file_size: u64,
}

impl RegionSpec {
    /// A CPU stream of this shape with the legacy `createIm` defaults: 10 semaphores, 10 proc-trace
    /// entries, no keywords, imagetype `MATH_DATA`, no circular buffer. Axes beyond three are
    /// ignored here and refused by [`Self::regions`] through `naxis`.
    pub fn new(shape: &[u32], datatype: Datatype) -> Self {
        let mut size = [0u32; 3];
        for (s, d) in size.iter_mut().zip(shape) {
            *s = *d;
        }
        Self {
            naxis: u8::try_from(shape.len()).unwrap_or(u8::MAX),
            size,
            datatype: datatype.code(),
            location: LOCATION_CPU,
            nb_kw: 0,
            nb_sem: IMAGE_NB_SEMAPHORE,
            nb_proctrace: IMAGE_NB_PROCTRACE,
            imagetype: ImageType::MATH_DATA,
            cb_size: 0,
        }
    }

    /// With `n` semaphores.
    pub fn with_semaphores(mut self, n: u16) -> Self {
        self.nb_sem = n;
        self
    }

    /// With `n` keywords.
    pub fn with_keywords(mut self, n: u16) -> Self {
        self.nb_kw = n;
        self
    }

    /// With image type bits.
    pub fn with_imagetype(mut self, imagetype: u64) -> Self {
        self.imagetype = imagetype;
        self
    }

    /// With `n` circular-buffer frames.
    pub fn with_circular_buffer(mut self, n: u32) -> Self {
        self.cb_size = n;
        self
    }

    /// The geometry a header declares.
    pub fn from_metadata(md: &ImageMetadata) -> Self {
        Self {
            naxis: md.naxis,
            size: md.size,
            datatype: md.datatype,
            location: md.location,
            nb_kw: md.nb_kw,
            nb_sem: md.sem,
            nb_proctrace: md.nb_proctrace,
            imagetype: md.imagetype,
            cb_size: md.cb_size,
        }
    }

    /// The datatype, if valid.
    pub fn datatype(&self) -> Result<Datatype, LayoutError> {
        Datatype::try_from(self.datatype).map_err(|_| LayoutError::Datatype(self.datatype))
    }

    /// Elements of one frame: the product of the used axis lengths, checked.
    pub fn nelement(&self) -> Result<u64, LayoutError> {
        if !(1..=3).contains(&self.naxis) {
            return Err(LayoutError::Naxis(self.naxis));
        }
        let mut n: u64 = 1;
        for (axis, &len) in self.size[..self.naxis as usize].iter().enumerate() {
            if len == 0 {
                return Err(LayoutError::ZeroAxis { axis });
            }
            // Three u32 factors can reach 2^96: checked.
            n = n
                .checked_mul(u64::from(len))
                .ok_or(LayoutError::Overflow { region: "nelement" })?;
        }
        if n > MAX_NELEMENT {
            return Err(LayoutError::TooManyElements { nelement: n });
        }
        Ok(n)
    }

    /// Computes every region and the file size.
    pub fn regions(&self) -> Result<Regions, LayoutError> {
        let datatype = self.datatype()?;
        let nelement = self.nelement()?;
        if self.location < LOCATION_CPU {
            return Err(LayoutError::Location(self.location));
        }
        if ImageType(self.imagetype).needs_three_axes() && self.naxis != 3 {
            return Err(LayoutError::CircularBufferAxes {
                imagetype: self.imagetype,
                naxis: self.naxis,
            });
        }
        let imdatamemsize =
            nelement
                .checked_mul(datatype.size() as u64)
                .ok_or(LayoutError::Overflow {
                    region: "pixel data",
                })?;
        let sem = u64::from(self.nb_sem);
        let temporal_slices = if ImageType(self.imagetype).has_temporal_arrays() {
            u64::from(self.size[2])
        } else {
            0
        };
        let cb = u64::from(self.cb_size);
        let mut cursor = Cursor(0);
        let metadata = cursor.take("metadata", IMAGE_METADATA_SIZE as u64, 1)?;
        let data_len = if self.location == LOCATION_CPU {
            imdatamemsize
        } else {
            0
        };
        let data = cursor.take("pixel data", data_len, 1)?;
        let keywords = cursor.take("keywords", sz::<ImageKeyword>(), u64::from(self.nb_kw))?;
        let semaphores = cursor.take("semaphores", sz::<SemSlot>(), sem)?;
        let semlog = cursor.take("log semaphore", sz::<SemSlot>(), 1)?;
        let sem_read_pid = cursor.take("semReadPID", 4, sem)?;
        let sem_write_pid = cursor.take("semWritePID", 4, sem)?;
        let semctrl = cursor.take("semctrl", 4, sem)?;
        let semstatus = cursor.take("semstatus", 4, sem)?;
        let proctrace = cursor.take(
            "proc trace",
            sz::<StreamProcTrace>(),
            u64::from(self.nb_proctrace),
        )?;
        let atime_array = cursor.take("atime array", sz::<Timespec>(), temporal_slices)?;
        let writetime_array = cursor.take("writetime array", sz::<Timespec>(), temporal_slices)?;
        let cnt_array = cursor.take("cnt array", 8, temporal_slices)?;
        let cb_md = cursor.take("circular-buffer metadata", sz::<crate::CbFrameMd>(), cb)?;
        let cb_data = cursor.take("circular-buffer frames", imdatamemsize, cb)?;
        let write_history = if cfg!(feature = "writehistory") {
            cursor.take(
                "write history",
                sz::<crate::FrameWriteMd>(),
                crate::FRAMEWRITEMD_SIZE as u64,
            )?
        } else {
            cursor.take("write history", 0, 0)?
        };
        Ok(Regions {
            nelement,
            imdatamemsize,
            metadata,
            data,
            keywords,
            semaphores,
            semlog,
            sem_read_pid,
            sem_write_pid,
            semctrl,
            semstatus,
            proctrace,
            atime_array,
            writetime_array,
            cnt_array,
            cb_md,
            cb_data,
            write_history,
            file_size: cursor.0,
        })
    }
}

impl Regions {
    /// Every region with its name, in file order (for tools and tests).
    pub fn named(&self) -> [(&'static str, Region); 17] {
        [
            ("metadata", self.metadata),
            ("data", self.data),
            ("keywords", self.keywords),
            ("semaphores", self.semaphores),
            ("semlog", self.semlog),
            ("semReadPID", self.sem_read_pid),
            ("semWritePID", self.sem_write_pid),
            ("semctrl", self.semctrl),
            ("semstatus", self.semstatus),
            ("proctrace", self.proctrace),
            ("atime array", self.atime_array),
            ("writetime array", self.writetime_array),
            ("cnt array", self.cnt_array),
            ("CB metadata", self.cb_md),
            ("CB frames", self.cb_data),
            ("write history", self.write_history),
            (
                "end",
                Region {
                    offset: self.file_size,
                    len: 0,
                },
            ),
        ]
    }
}

const fn sz<T>() -> u64 {
    core::mem::size_of::<T>() as u64
}

/// The running end of the file while regions are laid out.
struct Cursor(u64);

impl Cursor {
    /// Lays out `count` items of `item` bytes at the cursor, then moves past the rounded length.
    fn take(&mut self, region: &'static str, item: u64, count: u64) -> Result<Region, LayoutError> {
        let overflow = LayoutError::Overflow { region };
        let len = item.checked_mul(count).ok_or(overflow)?;
        let step = round_up_8(len).ok_or(overflow)?;
        let r = Region {
            offset: self.0,
            len,
        };
        self.0 = self.0.checked_add(step).ok_or(overflow)?;
        Ok(r)
    }
}
