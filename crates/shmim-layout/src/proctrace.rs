//! `STREAM_PROC_TRACE`: which process last triggered on, and wrote to, the stream.

use bytemuck::{Pod, Zeroable};

use crate::Timespec;

/// `STREAM_PROC_TRACE` (64 bytes, align 8).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct StreamProcTrace {
    /// `triggermode`.
    pub triggermode: i32,
    /// `procwrite_PID`.
    pub procwrite_pid: i32,
    /// `trigger_inode`.
    pub trigger_inode: u64,
    /// `ts_procstart`.
    pub ts_procstart: Timespec,
    /// `ts_streamupdate`.
    pub ts_streamupdate: Timespec,
    /// `trigsemindex`: -1 in a new stream.
    pub trigsemindex: i32,
    /// `triggerstatus`.
    pub triggerstatus: i32,
    /// `cnt0`.
    pub cnt0: u64,
}

impl StreamProcTrace {
    /// The entry of a new stream: everything zero but `trigsemindex` = -1.
    pub fn fresh() -> Self {
        Self {
            trigsemindex: -1,
            ..Zeroable::zeroed()
        }
    }
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    type P = StreamProcTrace;
    assert!(size_of::<P>() == 64 && align_of::<P>() == 8);
    assert!(offset_of!(P, triggermode) == 0);
    assert!(offset_of!(P, procwrite_pid) == 4);
    assert!(offset_of!(P, trigger_inode) == 8);
    assert!(offset_of!(P, ts_procstart) == 16);
    assert!(offset_of!(P, ts_streamupdate) == 32);
    assert!(offset_of!(P, trigsemindex) == 48);
    assert!(offset_of!(P, triggerstatus) == 52);
    assert!(offset_of!(P, cnt0) == 56);
};
