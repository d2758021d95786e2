//! `stream.metadata()`: the header as a plain Rust value.

use shmim_layout::{Datatype, ImageMetadata, Timespec, read_cstr};

/// A copy of a stream's metadata, taken consistently (or best-effort, for tools).
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// `name`.
    pub name: String,
    /// Used axis lengths.
    pub shape: Vec<u32>,
    /// Elements per frame.
    pub nelement: u64,
    /// Pixel type (`None` if the live header holds an unknown code).
    pub datatype: Option<Datatype>,
    /// Raw datatype code.
    pub datatype_code: u8,
    /// `imagetype` bits.
    pub imagetype: u64,
    /// `creationtime` (CLOCK_TAI).
    pub creation_time: Timespec,
    /// `lastaccesstime`.
    pub last_access_time: Timespec,
    /// `atime`: acquisition time of the last frame.
    pub atime: Timespec,
    /// `writetime`: publish time of the last frame.
    pub write_time: Timespec,
    /// `creatorPID`.
    pub creator_pid: i32,
    /// `ownerPID`: the stream's owner as milk sets it (`shmimsetown*`; 0 = none). shmim never
    /// changes it after create.
    pub owner_pid: i32,
    /// The claim PID (shmim-private header padding): the shmim writer holding the write flag,
    /// 0 = none.
    pub claim_pid: i32,
    /// The claim ticket (shmim-private header padding): low 32 bits of `cnt0` when the claim PID
    /// took the flag.
    pub claim_ticket: u32,
    /// `shared`.
    pub shared: bool,
    /// `inode` recorded at creation.
    pub inode: u64,
    /// -1 CPU, ≥ 0 GPU.
    pub location: i8,
    /// `status`.
    pub status: u8,
    /// `flag`.
    pub flag: u64,
    /// `logflag`.
    pub logflag: u8,
    /// Number of semaphores.
    pub semaphores: u16,
    /// Number of proc-trace entries.
    pub proc_trace: u16,
    /// Frame counter.
    pub cnt0: u64,
    /// Last slice written (cubes).
    pub cnt1: u64,
    /// Events.
    pub cnt2: u64,
    /// Whether a writer was writing when the copy was taken (only possible in best-effort copies).
    pub write: bool,
    /// Number of keyword entries.
    pub keywords: u16,
    /// Circular-buffer frames.
    pub cb_size: u32,
    /// Current circular-buffer slot.
    pub cb_index: u32,
    /// Circular-buffer wraps.
    pub cb_cycle: u64,
    /// Bytes per frame.
    pub imdatamemsize: u64,
}

impl From<&ImageMetadata> for Metadata {
    fn from(md: &ImageMetadata) -> Self {
        let naxis = (md.naxis as usize).min(3);
        Self {
            name: String::from_utf8_lossy(read_cstr(&md.name)).into_owned(),
            shape: md.size[..naxis].to_vec(),
            nelement: md.nelement,
            datatype: Datatype::try_from(md.datatype).ok(),
            datatype_code: md.datatype,
            imagetype: md.imagetype,
            creation_time: md.creationtime,
            last_access_time: md.lastaccesstime,
            atime: md.atime,
            write_time: md.writetime,
            creator_pid: md.creator_pid,
            owner_pid: md.owner_pid,
            claim_pid: md.claim_pid,
            claim_ticket: md.claim_ticket,
            shared: md.shared != 0,
            inode: md.inode,
            location: md.location,
            status: md.status,
            flag: md.flag,
            logflag: md.logflag,
            semaphores: md.sem,
            proc_trace: md.nb_proctrace,
            cnt0: md.cnt0,
            cnt1: md.cnt1,
            cnt2: md.cnt2,
            write: md.write != 0,
            keywords: md.nb_kw,
            cb_size: md.cb_size,
            cb_index: md.cb_index,
            cb_cycle: md.cb_cycle,
            imdatamemsize: md.imdatamemsize,
        }
    }
}
