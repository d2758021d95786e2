//! The public structs and constants of `ImageStruct.h`, as C sees them.
//!
//! This file is the source cbindgen turns into `include/ImageStruct.h`: legacy names, legacy
//! field spelling, and the real C types (`struct timespec`, `pid_t`, `ino_t`, `sem_t`) so that
//! legacy code such as `clock_gettime(CLOCK_ISIO, &im.md->atime)` or `sem_wait(im.semptr[i])`
//! compiles unchanged. The C compiler's padding is left implicit (as in the legacy header); the
//! offsets are pinned to `shmim-layout`'s and to format.md's in `abi_check.rs`.
//!
//! Constants are literals because cbindgen copies them verbatim; `abi_check.rs` asserts each one
//! equals its `shmim-layout` counterpart. cbindgen 0.29 skips string constants, so the two
//! below (`IMAGESTRUCT_VERSION`, `SHAREDMEMDIR`) are repeated by hand in
//! `cbindgen/ImageStruct.toml`; a C test checks the header's values against files.
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]

use libc::{c_char, c_int, c_void, ino_t, pid_t, sem_t, timespec};

/// Version string of the stream format, written last into every new stream.
pub const IMAGESTRUCT_VERSION: &str = "2.00";
/// Bytes of a stream name field, NUL included.
pub const STRINGMAXLEN_IMAGE_NAME: usize = 80;
/// Bytes of a stream file path buffer.
pub const STRINGMAXLEN_FILE_NAME: usize = 200;
/// Bytes of a stream directory path buffer.
pub const STRINGMAXLEN_DIR_NAME: usize = 800;
/// Bytes of a semaphore file name buffer.
pub const STRINGMAXLEN_SEMFILENAME: usize = 200;
/// Bytes of a keyword name and of a keyword string value, NUL included.
pub const KEYWORD_MAX_STRING: usize = 16;
/// Bytes of a keyword comment, NUL included.
pub const KEYWORD_MAX_COMMENT: usize = 80;
/// Entries of the write-history region (legacy `IMAGESTRUCT_WRITEHISTORY` builds only).
pub const IMAGESTRUCT_FRAMEWRITEMDSIZE: u32 = 100;
/// Partial-packet entries (legacy `DAO_COMPAT` builds only).
pub const MAX_NB_PARTIAL_PACKET: u32 = 512;
/// Default stream directory when `MILK_SHM_DIR` is not set.
pub const SHAREDMEMDIR: &str = "/milk/shm";
/// A semaphore is posted only while its value is below this.
pub const SEMAPHORE_MAXVAL: u32 = 10;
/// Value of every semaphore of a new stream.
pub const SEMAPHORE_INITVAL: u32 = 0;
/// Semaphores of a stream created by `ImageStreamIO_createIm`.
pub const IMAGE_NB_SEMAPHORE: u32 = 10;
/// Proc-trace entries of every new stream.
pub const IMAGE_NB_PROCTRACE: u32 = 10;
/// GPU device placeholder.
pub const GPU_IMAGE_PLACEHOLDER: u32 = 0;

/// Datatype code of an uninitialised image.
pub const _DATATYPE_UNINITIALIZED: u8 = 0;
/// `uint8_t` pixels.
pub const _DATATYPE_UINT8: u8 = 1;
/// Bytes of a `_DATATYPE_UINT8` pixel.
pub const SIZEOF_DATATYPE_UINT8: u32 = 1;
/// `int8_t` pixels.
pub const _DATATYPE_INT8: u8 = 2;
/// Bytes of a `_DATATYPE_INT8` pixel.
pub const SIZEOF_DATATYPE_INT8: u32 = 1;
/// `uint16_t` pixels.
pub const _DATATYPE_UINT16: u8 = 3;
/// Bytes of a `_DATATYPE_UINT16` pixel.
pub const SIZEOF_DATATYPE_UINT16: u32 = 2;
/// `int16_t` pixels.
pub const _DATATYPE_INT16: u8 = 4;
/// Bytes of a `_DATATYPE_INT16` pixel.
pub const SIZEOF_DATATYPE_INT16: u32 = 2;
/// `uint32_t` pixels.
pub const _DATATYPE_UINT32: u8 = 5;
/// Bytes of a `_DATATYPE_UINT32` pixel.
pub const SIZEOF_DATATYPE_UINT32: u32 = 4;
/// `int32_t` pixels.
pub const _DATATYPE_INT32: u8 = 6;
/// Bytes of a `_DATATYPE_INT32` pixel.
pub const SIZEOF_DATATYPE_INT32: u32 = 4;
/// `uint64_t` pixels.
pub const _DATATYPE_UINT64: u8 = 7;
/// Bytes of a `_DATATYPE_UINT64` pixel.
pub const SIZEOF_DATATYPE_UINT64: u32 = 8;
/// `int64_t` pixels.
pub const _DATATYPE_INT64: u8 = 8;
/// Bytes of a `_DATATYPE_INT64` pixel.
pub const SIZEOF_DATATYPE_INT64: u32 = 8;
/// IEEE 754 binary32 pixels.
pub const _DATATYPE_FLOAT: u8 = 9;
/// Bytes of a `_DATATYPE_FLOAT` pixel.
pub const SIZEOF_DATATYPE_FLOAT: u32 = 4;
/// IEEE 754 binary64 pixels.
pub const _DATATYPE_DOUBLE: u8 = 10;
/// Bytes of a `_DATATYPE_DOUBLE` pixel.
pub const SIZEOF_DATATYPE_DOUBLE: u32 = 8;
/// `complex_float` pixels.
pub const _DATATYPE_COMPLEX_FLOAT: u8 = 11;
/// Bytes of a `_DATATYPE_COMPLEX_FLOAT` pixel.
pub const SIZEOF_DATATYPE_COMPLEX_FLOAT: u32 = 8;
/// `complex_double` pixels.
pub const _DATATYPE_COMPLEX_DOUBLE: u8 = 12;
/// Bytes of a `_DATATYPE_COMPLEX_DOUBLE` pixel.
pub const SIZEOF_DATATYPE_COMPLEX_DOUBLE: u32 = 16;
/// IEEE 754 binary16 pixels, stored as `uint16_t`.
pub const _DATATYPE_HALF: u8 = 13;
/// Bytes of a `_DATATYPE_HALF` pixel.
pub const SIZEOF_DATATYPE_HALF: u32 = 2;
/// Event records (reserved; not a stream pixel type).
pub const _DATATYPE_EVENT_UI8_UI8_UI16_UI8: u8 = 20;
/// Bytes of a `_DATATYPE_EVENT_UI8_UI8_UI16_UI8` record.
pub const SIZEOF_DATATYPE_EVENT_UI8_UI8_UI16_UI8: u32 = 5;
/// Default floating-point datatype.
pub const Dtype: u8 = 9;
/// Default complex datatype.
pub const CDtype: u8 = 11;

/// `semctrl[i]` bit: slot `i` belongs to a live stream (cleared when the stream is replaced).
pub const IMAGE_SEMAPHORE_CONTROL_READY: u32 = 0x1;
/// `semstatus[i]` bit: a reader is connected to slot `i`.
pub const IMAGE_SEMAPHORE_STATUS_CONNECTED: u32 = 0x1;
/// `semstatus[i]` bit: the reader is waiting on the semaphore.
pub const IMAGE_SEMAPHORE_STATUS_SEMWAIT: u32 = 0x2;
/// `semstatus[i]` bit: the reader waits for the `READY` control bit.
pub const IMAGE_SEMAPHORE_STATUS_SEMREADYWAIT: u32 = 0x4;
/// `semstatus[i]` bit: the reader's last wait timed out.
pub const IMAGE_SEMAPHORE_STATUS_SEMTIMEOUT: u32 = 0x8;

/// `imagetype` flag: the third axis is a ring of slices.
pub const CIRCULAR_BUFFER: u64 = 0x0001;
/// `imagetype` flag: a mathematical vector or matrix (the `createIm` default).
pub const MATH_DATA: u64 = 0x0002;
/// `imagetype` flag: received from another computer.
pub const IMG_RECV: u64 = 0x0004;
/// `imagetype` flag: sent to another computer.
pub const IMG_SENT: u64 = 0x0008;
/// `imagetype` z-axis code: undefined.
pub const ZAXIS_UNDEF: u64 = 0x00000;
/// `imagetype` z-axis code: spatial (legacy spelling).
pub const ZAXIS_SPACIAL: u64 = 0x10000;
/// `imagetype` z-axis code: temporal.
pub const ZAXIS_TEMPORAL: u64 = 0x20000;
/// `imagetype` z-axis code: wavelength.
pub const ZAXIS_WAVELENGTH: u64 = 0x30000;
/// `imagetype` z-axis code: mapping index.
pub const ZAXIS_MAPPING: u64 = 0x40000;

/// The CUDA IPC handle stored in the metadata: 64 opaque bytes when CUDA is not used.
pub type cudaIpcMemHandle_t = [c_char; 64];

/// Two 8-byte integers: a `struct timespec` of fixed size.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TIMESPECFIXED {
    /// Seconds.
    pub firstlong: i64,
    /// Nanoseconds.
    pub secondlong: i64,
}

/// A single-precision complex pixel.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct complex_float {
    /// Real part.
    pub re: f32,
    /// Imaginary part.
    pub im: f32,
}

/// A double-precision complex pixel.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct complex_double {
    /// Real part.
    pub re: f64,
    /// Imaginary part.
    pub im: f64,
}

/// The value of a keyword; `IMAGE_KEYWORD.type` says which member is meaningful.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IMAGE_KEYWORD_VALUE {
    /// `'L'` keywords.
    pub numl: i64,
    /// `'D'` keywords.
    pub numf: f64,
    /// `'S'` keywords, NUL-terminated.
    pub valstr: [c_char; KEYWORD_MAX_STRING],
}

/// One keyword entry (128 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IMAGE_KEYWORD {
    /// Keyword name, NUL-terminated.
    pub name: [c_char; KEYWORD_MAX_STRING],
    /// `'N'` unused, `'L'` 64-bit integer, `'D'` double, `'S'` string.
    pub r#type: c_char,
    /// The value.
    pub value: IMAGE_KEYWORD_VALUE,
    /// Incremented at each write of this keyword.
    pub cnt: u64,
    /// Comment, NUL-terminated.
    pub comment: [c_char; KEYWORD_MAX_COMMENT],
}

/// The stream header at offset 0 of every stream file (384 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IMAGE_METADATA {
    /// `IMAGESTRUCT_VERSION`, written last by creators.
    pub version: [c_char; 32],
    /// Stream name.
    pub name: [c_char; STRINGMAXLEN_IMAGE_NAME],
    /// Number of axes, 1 to 3.
    pub naxis: u8,
    /// Axis lengths (unused axes 0).
    pub size: [u32; 3],
    /// Elements per frame.
    pub nelement: u64,
    /// A `_DATATYPE_*` code.
    pub datatype: u8,
    /// `CIRCULAR_BUFFER`, `MATH_DATA`, … flags and a `ZAXIS_*` code.
    pub imagetype: u64,
    /// Creation time.
    pub creationtime: timespec,
    /// Last access time.
    pub lastaccesstime: timespec,
    /// Acquisition time of the last frame.
    pub atime: timespec,
    /// Time of the last publish.
    pub writetime: timespec,
    /// Process that created the stream.
    pub creatorPID: pid_t,
    /// Process owning the stream (0 = unset); shmim writers record themselves here.
    pub ownerPID: pid_t,
    /// 1 when the image lives in a shared file.
    pub shared: u8,
    /// Inode of the file at creation.
    pub inode: ino_t,
    /// -1 for CPU memory, otherwise the GPU device holding the pixels.
    pub location: i8,
    /// Status.
    pub status: u8,
    /// Flags.
    pub flag: u64,
    /// Logging flag.
    pub logflag: u8,
    /// Number of semaphores.
    pub sem: u16,
    /// Number of proc-trace entries.
    pub NBproctrace: u16,
    /// Frame counter, incremented by each publish.
    pub cnt0: u64,
    /// Last slice written, for cubes (owned by the writer).
    pub cnt1: u64,
    /// Event counter.
    pub cnt2: u64,
    /// 1 while a writer is writing.
    pub write: u8,
    /// Number of keywords.
    pub NBkw: u16,
    /// Circular-buffer frames (0 = none).
    pub CBsize: u32,
    /// Current circular-buffer slot.
    pub CBindex: u32,
    /// Circular-buffer wraps.
    pub CBcycle: u64,
    /// Current write-history slot (`IMAGESTRUCT_WRITEHISTORY` builds only).
    #[cfg(feature = "writehistory")]
    pub wCBindex: u32,
    /// Write-history wraps (`IMAGESTRUCT_WRITEHISTORY` builds only).
    #[cfg(feature = "writehistory")]
    pub wCBcycle: u64,
    /// Bytes of one frame.
    pub imdatamemsize: u64,
    /// CUDA IPC handle of a GPU stream.
    pub cudaMemHandle: cudaIpcMemHandle_t,
    /// First position of the last partial write (`DAO_COMPAT` builds only).
    #[cfg(feature = "dao-compat")]
    pub lastPos: u32,
    /// Size of the last partial write (`DAO_COMPAT` builds only).
    #[cfg(feature = "dao-compat")]
    pub lastNb: u32,
    /// Current partial packet number (`DAO_COMPAT` builds only).
    #[cfg(feature = "dao-compat")]
    pub packetNb: u32,
    /// Expected number of packets (`DAO_COMPAT` builds only).
    #[cfg(feature = "dao-compat")]
    pub packetTotal: u32,
    /// Sub-frame numbers (`DAO_COMPAT` builds only).
    #[cfg(feature = "dao-compat")]
    pub lastNbArray: [u64; MAX_NB_PARTIAL_PACKET as usize],
}

/// Which process triggered on, and wrote to, the stream (64 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct STREAM_PROC_TRACE {
    /// Trigger mode.
    pub triggermode: c_int,
    /// Process writing the stream, 0 if no entry.
    pub procwrite_PID: pid_t,
    /// Inode of the trigger stream.
    pub trigger_inode: ino_t,
    /// When the process was triggered.
    pub ts_procstart: timespec,
    /// When it wrote this stream.
    pub ts_streamupdate: timespec,
    /// Trigger semaphore, -1 in a new stream.
    pub trigsemindex: c_int,
    /// Trigger status.
    pub triggerstatus: c_int,
    /// `cnt0` of the trigger stream at trigger.
    pub cnt0: u64,
}

/// Metadata of one circular-buffer frame (48 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CBFRAMEMD {
    /// `cnt0` of the frame in the slot.
    pub cnt0: u64,
    /// `cnt1` of the frame in the slot.
    pub cnt1: u64,
    /// Acquisition time of the frame.
    pub atime: timespec,
    /// Write time of the frame.
    pub writetime: timespec,
}

/// One write-history entry (legacy `IMAGESTRUCT_WRITEHISTORY` builds only; 32 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FRAMEWRITEMD {
    /// `cnt0` of the write.
    pub cnt0: u64,
    /// Writer process.
    pub wpid: pid_t,
    /// Write time.
    pub writetime: timespec,
}

/// One semaphore of the stream file: a process-shared glibc `sem_t`.
#[repr(C)]
pub struct SEMFILEDATA {
    /// The semaphore.
    pub semdata: sem_t,
}

/// The pixel pointer of an `IMAGE`, typed by datatype.
#[repr(C)]
#[derive(Clone, Copy)]
pub union IMAGE_ARRAY {
    /// Untyped.
    pub raw: *mut c_void,
    /// `_DATATYPE_UINT8`.
    pub UI8: *mut u8,
    /// `_DATATYPE_INT8`.
    pub SI8: *mut i8,
    /// `_DATATYPE_UINT16` (and `_DATATYPE_HALF` storage).
    pub UI16: *mut u16,
    /// `_DATATYPE_INT16`.
    pub SI16: *mut i16,
    /// `_DATATYPE_UINT32`.
    pub UI32: *mut u32,
    /// `_DATATYPE_INT32`.
    pub SI32: *mut i32,
    /// `_DATATYPE_UINT64`.
    pub UI64: *mut u64,
    /// `_DATATYPE_INT64`.
    pub SI64: *mut i64,
    /// `_DATATYPE_FLOAT`.
    pub F: *mut f32,
    /// `_DATATYPE_DOUBLE`.
    pub D: *mut f64,
    /// `_DATATYPE_COMPLEX_FLOAT`.
    pub CF: *mut complex_float,
    /// `_DATATYPE_COMPLEX_DOUBLE`.
    pub CD: *mut complex_double,
    /// Untyped, for C++ templates (`DAO_COMPAT` builds only).
    #[cfg(feature = "dao-compat")]
    pub V: *mut c_void,
}

/// A process's handle on a stream (248 bytes): pointers into the mapped file, filled by
/// `ImageStreamIO_createIm` / `ImageStreamIO_openIm`. It may be copied by value; the library keeps
/// no other state about it.
#[repr(C)]
pub struct IMAGE {
    /// Name the stream was opened by (a symlink's own name; `md->name` is the target's).
    pub name: [c_char; STRINGMAXLEN_IMAGE_NAME],
    /// 1 while the handle is open.
    pub used: u8,
    /// Incremented at each creation through this handle.
    pub createcnt: i64,
    /// File descriptor of the stream file (-1 for a process-local image).
    pub shmfd: i32,
    /// Bytes mapped (the file size; the block size for a process-local image).
    pub memsize: u64,
    /// The log semaphore.
    pub semlog: *mut sem_t,
    /// The stream header.
    pub md: *mut IMAGE_METADATA,
    /// The pixels of the current frame (NULL for a GPU stream).
    pub array: IMAGE_ARRAY,
    /// `md->sem` pointers to the semaphores in the file (allocated by the library).
    pub semptr: *mut *mut sem_t,
    /// Keyword entries.
    pub kw: *mut IMAGE_KEYWORD,
    /// The semaphores in the file.
    pub semfile: *mut SEMFILEDATA,
    /// Reader registered on each semaphore (-1 or 0: free).
    pub semReadPID: *mut pid_t,
    /// Last poster of each semaphore.
    pub semWritePID: *mut pid_t,
    /// Control bits of each semaphore (`IMAGE_SEMAPHORE_CONTROL_*`).
    pub semctrl: *mut u32,
    /// Status bits of each semaphore (`IMAGE_SEMAPHORE_STATUS_*`).
    pub semstatus: *mut u32,
    /// Proc-trace entries.
    pub streamproctrace: *mut STREAM_PROC_TRACE,
    /// Per-slice flags (not stored in 2.00 files: NULL).
    pub flagarray: *mut u64,
    /// Per-slice counters (temporal circular buffers only, else NULL).
    pub cntarray: *mut u64,
    /// Per-slice acquisition times (temporal circular buffers only, else NULL).
    pub atimearray: *mut timespec,
    /// Per-slice write times (temporal circular buffers only, else NULL).
    pub writetimearray: *mut timespec,
    /// Circular-buffer frame metadata.
    pub CircBuff_md: *mut CBFRAMEMD,
    /// Circular-buffer frames (NULL when `CBsize` is 0).
    pub CBimdata: *mut c_void,
    /// Write-history entries (`IMAGESTRUCT_WRITEHISTORY` builds only).
    #[cfg(feature = "writehistory")]
    pub writehist: *mut FRAMEWRITEMD,
}
