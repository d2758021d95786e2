//! Circular-buffer frame metadata (`CBFRAMEMD`) and write-history entries (`FRAMEWRITEMD`).

use bytemuck::{Pod, Zeroable};

use crate::Timespec;

/// `CBFRAMEMD`: metadata of one circular-buffer frame (48 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct CbFrameMd {
    /// `cnt0` of the frame held in the slot.
    pub cnt0: u64,
    /// `cnt1` of the frame held in the slot.
    pub cnt1: u64,
    /// `atime` of the frame.
    pub atime: Timespec,
    /// `writetime` of the frame.
    pub writetime: Timespec,
}

/// `FRAMEWRITEMD`: one write-history entry (write-history variant only, 32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct FrameWriteMd {
    /// `cnt0` of the write.
    pub cnt0: u64,
    /// `wpid`: writer process.
    pub wpid: i32,
    /// C padding.
    pub _pad0: [u8; 4],
    /// `writetime`.
    pub writetime: Timespec,
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<CbFrameMd>() == 48 && align_of::<CbFrameMd>() == 8);
    assert!(offset_of!(CbFrameMd, cnt0) == 0);
    assert!(offset_of!(CbFrameMd, cnt1) == 8);
    assert!(offset_of!(CbFrameMd, atime) == 16);
    assert!(offset_of!(CbFrameMd, writetime) == 32);
    assert!(size_of::<FrameWriteMd>() == 32 && align_of::<FrameWriteMd>() == 8);
    assert!(offset_of!(FrameWriteMd, cnt0) == 0);
    assert!(offset_of!(FrameWriteMd, wpid) == 8);
    assert!(offset_of!(FrameWriteMd, writetime) == 16);
};
