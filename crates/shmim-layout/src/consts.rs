//! Constants of the format, with their legacy `ImageStruct.h` names in the docs.

/// `IMAGESTRUCT_VERSION`: the version string at the start of every stream file. It is also the
/// legacy "ready" marker: creators write it last.
pub const IMAGESTRUCT_VERSION: &str = "2.00";
/// Bytes of the `version` field.
pub const VERSION_LEN: usize = 32;
/// `STRINGMAXLEN_IMAGE_NAME`: bytes of the `name` field, NUL included (names are at most 79 bytes).
pub const IMAGE_NAME_LEN: usize = 80;
/// `KEYWORD_MAX_STRING`: bytes of a keyword name and of a string value, NUL included.
pub const KEYWORD_MAX_STRING: usize = 16;
/// `KEYWORD_MAX_COMMENT`: bytes of a keyword comment, NUL included.
pub const KEYWORD_MAX_COMMENT: usize = 80;
/// `STRINGMAXLEN_FILE_NAME`.
pub const FILE_NAME_LEN: usize = 200;
/// `STRINGMAXLEN_DIR_NAME`.
pub const DIR_NAME_LEN: usize = 800;
/// `STRINGMAXLEN_SEMFILENAME`.
pub const SEMFILENAME_LEN: usize = 200;
/// `IMAGESTRUCT_FRAMEWRITEMDSIZE`: entries of the write-history region (variant only).
pub const FRAMEWRITEMD_SIZE: usize = 100;
/// `MAX_NB_PARTIAL_PACKET` (DAO variant).
pub const MAX_NB_PARTIAL_PACKET: usize = 512;
/// `SEMAPHORE_MAXVAL`: a semaphore is posted only while its value is below this.
pub const SEMAPHORE_MAXVAL: u32 = 10;
/// `SEMAPHORE_INITVAL`: value of every semaphore of a new stream.
pub const SEMAPHORE_INITVAL: u32 = 0;
/// `IMAGE_NB_SEMAPHORE`: semaphores of a stream when the creator does not say.
pub const IMAGE_NB_SEMAPHORE: u16 = 10;
/// `IMAGE_NB_PROCTRACE`: proc-trace entries of every new stream.
pub const IMAGE_NB_PROCTRACE: u16 = 10;
/// `SHAREDMEMDIR`: default stream directory.
pub const SHAREDMEMDIR: &str = "/milk/shm";
/// Fallback stream directory when neither `MILK_SHM_DIR` nor `SHAREDMEMDIR` exists.
pub const FALLBACK_DIR: &str = "/tmp";
/// Environment variable naming the stream directory.
pub const SHM_DIR_ENV: &str = "MILK_SHM_DIR";
/// Suffix of a stream file: `NAME.im.shm`.
pub const FILE_SUFFIX: &str = ".im.shm";
/// Mode of files created by the legacy library (and by shmim's C API).
pub const LEGACY_FILE_MODE: u32 = 0o666;
/// `nelement` above this is refused on open (legacy check).
pub const MAX_NELEMENT: u64 = 10_000_000_000;
/// `GPU_IMAGE_PLACEHOLDER`.
pub const GPU_IMAGE_PLACEHOLDER: i8 = 0;
/// `location` of a stream whose pixels live in the file (CPU memory).
pub const LOCATION_CPU: i8 = -1;

/// `IMAGE_SEMAPHORE_CONTROL_READY`: set in `semctrl[i]` while slot `i` belongs to a live stream;
/// cleared when the stream is replaced, so blocked readers know to follow the new file.
pub const SEMCTRL_READY: u32 = 0x1;
/// `IMAGE_SEMAPHORE_STATUS_CONNECTED`.
pub const SEMSTATUS_CONNECTED: u32 = 0x1;
/// `IMAGE_SEMAPHORE_STATUS_SEMWAIT`.
pub const SEMSTATUS_SEMWAIT: u32 = 0x2;
/// `IMAGE_SEMAPHORE_STATUS_SEMREADYWAIT`.
pub const SEMSTATUS_SEMREADYWAIT: u32 = 0x4;
/// `IMAGE_SEMAPHORE_STATUS_SEMTIMEOUT`.
pub const SEMSTATUS_SEMTIMEOUT: u32 = 0x8;

/// Rounds up to a multiple of 8 (`ROUND_UP_8`), or `None` on overflow.
#[inline]
pub const fn round_up_8(x: u64) -> Option<u64> {
    match x.checked_add(7) {
        Some(v) => Some(v & !7),
        None => None,
    }
}
