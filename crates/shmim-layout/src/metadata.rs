//! `IMAGE_METADATA`: the 384-byte header at offset 0 of every stream file.

use bytemuck::{Pod, Zeroable};

use crate::{IMAGE_NAME_LEN, Timespec, VERSION_LEN};

/// `IMAGE_METADATA` (default legacy build: 384 bytes, align 8).
///
/// Field names keep the legacy spelling where Rust allows (`cnt0`, `CBsize` → `cb_size`, …); the
/// doc of each field names the C field. Fields marked *shared* are written by other processes
/// while we have the file mapped: read them through `shmim-sync`, never through a reference.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct ImageMetadata {
    /// `version`: NUL-terminated `"2.00"`, written last by creators (the legacy ready marker).
    pub version: [u8; VERSION_LEN],
    /// `name`: stream name, NUL-terminated.
    pub name: [u8; IMAGE_NAME_LEN],
    /// `naxis`: number of axes, 1..=3.
    pub naxis: u8,
    /// C padding.
    pub _pad0: [u8; 3],
    /// `size`: axis lengths; unused axes are 0.
    pub size: [u32; 3],
    /// `nelement`: product of the used sizes.
    pub nelement: u64,
    /// `datatype`: a [`crate::Datatype`] code.
    pub datatype: u8,
    /// C padding.
    pub _pad1: [u8; 7],
    /// `imagetype`: [`crate::ImageType`] bits.
    pub imagetype: u64,
    /// `creationtime`.
    pub creationtime: Timespec,
    /// `lastaccesstime`.
    pub lastaccesstime: Timespec,
    /// `atime`: acquisition time of the last frame (shared).
    pub atime: Timespec,
    /// `writetime`: time of the last publish (shared).
    pub writetime: Timespec,
    /// `creatorPID`.
    pub creator_pid: i32,
    /// `ownerPID`: the stream's owner as milk sets it (`shmimsetown*`); 0 = none. milk's purge
    /// deletes streams whose owner is 0 or dead, so shmim never writes it after create.
    pub owner_pid: i32,
    /// `shared`: 1 when the image lives in a file.
    pub shared: u8,
    /// C padding.
    pub _pad2: [u8; 3],
    /// shmim-private, C padding (offset 228): the claim PID, the shmim writer holding the write
    /// flag (0 = none). Zero in every file the legacy library creates; not in the public C
    /// struct. Set and cleared by `shmim-sync`'s write-flag protocol only (shared).
    pub claim_pid: i32,
    /// `inode`: inode of the file when it was created.
    pub inode: u64,
    /// `location`: -1 CPU, ≥ 0 GPU device.
    pub location: i8,
    /// `status`.
    pub status: u8,
    /// C padding.
    pub _pad3: [u8; 2],
    /// shmim-private, C padding (offset 244): the claim ticket, the low 32 bits of `cnt0` when
    /// the claim PID took the write flag (evidence that the flag it holds is still the one it
    /// took); every shmim publish leaves it for the next writer. Zero in legacy files; not in the
    /// public C struct (shared).
    pub claim_ticket: u32,
    /// `flag`.
    pub flag: u64,
    /// `logflag`.
    pub logflag: u8,
    /// C padding.
    pub _pad4: u8,
    /// `sem`: number of semaphores.
    pub sem: u16,
    /// `NBproctrace`: number of proc-trace entries.
    pub nb_proctrace: u16,
    /// C padding (the `uint64_t :0` before `cnt0`).
    pub _pad5: [u8; 2],
    /// `cnt0`: frame counter (shared).
    pub cnt0: u64,
    /// `cnt1`: last slice written, for cubes (shared).
    pub cnt1: u64,
    /// `cnt2`: events (shared).
    pub cnt2: u64,
    /// `write`: 1 while a writer is writing (shared).
    pub write: u8,
    /// C padding.
    pub _pad6: u8,
    /// `NBkw`: number of keywords.
    pub nb_kw: u16,
    /// `CBsize`: circular-buffer frames, 0 = none.
    pub cb_size: u32,
    /// `CBindex`: current circular-buffer slot (shared).
    pub cb_index: u32,
    /// C padding.
    pub _pad7: [u8; 4],
    /// `CBcycle`: circular-buffer wraps (shared).
    pub cb_cycle: u64,
    /// `wCBindex` (write-history variant).
    #[cfg(feature = "writehistory")]
    pub w_cb_index: u32,
    /// C padding (write-history variant).
    #[cfg(feature = "writehistory")]
    pub _pad8: [u8; 4],
    /// `wCBcycle` (write-history variant).
    #[cfg(feature = "writehistory")]
    pub w_cb_cycle: u64,
    /// `imdatamemsize`: bytes of one frame (element size × nelement).
    pub imdatamemsize: u64,
    /// `cudaMemHandle`: opaque CUDA IPC handle.
    pub cuda_mem_handle: [u8; 64],
    /// `lastPos` (DAO variant).
    #[cfg(feature = "dao-compat")]
    pub last_pos: u32,
    /// `lastNb` (DAO variant).
    #[cfg(feature = "dao-compat")]
    pub last_nb: u32,
    /// `packetNb` (DAO variant).
    #[cfg(feature = "dao-compat")]
    pub packet_nb: u32,
    /// `packetTotal` (DAO variant).
    #[cfg(feature = "dao-compat")]
    pub packet_total: u32,
    /// `lastNbArray` (DAO variant).
    #[cfg(feature = "dao-compat")]
    pub last_nb_array: [u64; crate::MAX_NB_PARTIAL_PACKET],
}

impl ImageMetadata {
    /// The `version` string, up to its NUL.
    pub fn version_str(&self) -> &[u8] {
        crate::read_cstr(&self.version)
    }

    /// The `name`, up to its NUL.
    pub fn name_str(&self) -> &[u8] {
        crate::read_cstr(&self.name)
    }
}

impl core::fmt::Debug for ImageMetadata {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ImageMetadata")
            .field("version", &crate::cstr::Lossy(self.version_str()))
            .field("name", &crate::cstr::Lossy(self.name_str()))
            .field("naxis", &self.naxis)
            .field("size", &self.size)
            .field("datatype", &self.datatype)
            .field("imagetype", &self.imagetype)
            .field("cnt0", &self.cnt0)
            .field("write", &self.write)
            .finish_non_exhaustive()
    }
}

/// Offsets of the variant-dependent tail: `(imdatamemsize, cudaMemHandle, size)`.
#[cfg(not(feature = "writehistory"))]
const TAIL: (usize, usize) = (312, 320);
#[cfg(feature = "writehistory")]
const TAIL: (usize, usize) = (328, 336);
#[cfg(not(feature = "dao-compat"))]
const DAO_LEN: usize = 0;
#[cfg(feature = "dao-compat")]
const DAO_LEN: usize = 16 + 8 * crate::MAX_NB_PARTIAL_PACKET;

/// Offset of the shmim-private claim PID ([`ImageMetadata::claim_pid`]): four bytes of C padding
/// between `shared` and `inode`, the same in every layout variant (the variants differ after
/// `CBcycle`). C code reaches it by offset (`ImageStreamIO_atomic.h`).
pub const CLAIM_PID_OFFSET: usize = 228;

/// Offset of the shmim-private claim ticket ([`ImageMetadata::claim_ticket`]): four bytes of C
/// padding between `status` and `flag`, the same in every layout variant.
pub const CLAIM_TICKET_OFFSET: usize = 244;

/// `sizeof(IMAGE_METADATA)` of this build: 384 by default, 400 with `writehistory`, 4496 with
/// `dao-compat`.
pub const IMAGE_METADATA_SIZE: usize = TAIL.1 + 64 + DAO_LEN;

// The format's reference table, field by field (format.md, "IMAGE_METADATA").
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    type M = ImageMetadata;
    assert!(size_of::<M>() == IMAGE_METADATA_SIZE);
    assert!(align_of::<M>() == 8);
    assert!(offset_of!(M, version) == 0);
    assert!(offset_of!(M, name) == 32);
    assert!(offset_of!(M, naxis) == 112);
    assert!(offset_of!(M, size) == 116);
    assert!(offset_of!(M, nelement) == 128);
    assert!(offset_of!(M, datatype) == 136);
    assert!(offset_of!(M, imagetype) == 144);
    assert!(offset_of!(M, creationtime) == 152);
    assert!(offset_of!(M, lastaccesstime) == 168);
    assert!(offset_of!(M, atime) == 184);
    assert!(offset_of!(M, writetime) == 200);
    assert!(offset_of!(M, creator_pid) == 216);
    assert!(offset_of!(M, owner_pid) == 220);
    assert!(offset_of!(M, shared) == 224);
    assert!(offset_of!(M, claim_pid) == CLAIM_PID_OFFSET);
    assert!(offset_of!(M, inode) == 232);
    assert!(offset_of!(M, location) == 240);
    assert!(offset_of!(M, status) == 241);
    assert!(offset_of!(M, claim_ticket) == CLAIM_TICKET_OFFSET);
    assert!(offset_of!(M, flag) == 248);
    assert!(offset_of!(M, logflag) == 256);
    assert!(offset_of!(M, sem) == 258);
    assert!(offset_of!(M, nb_proctrace) == 260);
    assert!(offset_of!(M, cnt0) == 264);
    assert!(offset_of!(M, cnt1) == 272);
    assert!(offset_of!(M, cnt2) == 280);
    assert!(offset_of!(M, write) == 288);
    assert!(offset_of!(M, nb_kw) == 290);
    assert!(offset_of!(M, cb_size) == 292);
    assert!(offset_of!(M, cb_index) == 296);
    assert!(offset_of!(M, cb_cycle) == 304);
    assert!(offset_of!(M, imdatamemsize) == TAIL.0);
    assert!(offset_of!(M, cuda_mem_handle) == TAIL.1);
};

#[cfg(not(any(feature = "writehistory", feature = "dao-compat")))]
const _: () = assert!(core::mem::size_of::<ImageMetadata>() == 384);

#[cfg(feature = "writehistory")]
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(ImageMetadata, w_cb_index) == 312);
    assert!(offset_of!(ImageMetadata, w_cb_cycle) == 320);
};

#[cfg(all(feature = "dao-compat", not(feature = "writehistory")))]
const _: () = {
    use core::mem::{offset_of, size_of};
    type M = ImageMetadata;
    assert!(offset_of!(M, last_pos) == 384);
    assert!(offset_of!(M, last_nb) == 388);
    assert!(offset_of!(M, packet_nb) == 392);
    assert!(offset_of!(M, packet_total) == 396);
    assert!(offset_of!(M, last_nb_array) == 400);
    assert!(size_of::<M>() == 4496);
};
