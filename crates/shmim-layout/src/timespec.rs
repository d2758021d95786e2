//! `struct timespec` with the x86_64 Linux layout.

use bytemuck::{Pod, Zeroable};

/// `struct timespec` (x86_64 Linux): seconds and nanoseconds, 16 bytes, align 8.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Pod, Zeroable)]
pub struct Timespec {
    /// Seconds (`tv_sec`, a 64-bit `time_t`).
    pub tv_sec: i64,
    /// Nanoseconds (`tv_nsec`), 0..1e9.
    pub tv_nsec: i64,
}

impl Timespec {
    /// The zero time, as in a new file.
    pub const ZERO: Self = Self {
        tv_sec: 0,
        tv_nsec: 0,
    };

    /// Nanoseconds since the clock's epoch, saturating.
    pub fn as_nanos(self) -> i128 {
        self.tv_sec as i128 * 1_000_000_000 + self.tv_nsec as i128
    }
}

const _: () = {
    assert!(core::mem::size_of::<Timespec>() == 16);
    assert!(core::mem::align_of::<Timespec>() == 8);
    assert!(core::mem::offset_of!(Timespec, tv_sec) == 0);
    assert!(core::mem::offset_of!(Timespec, tv_nsec) == 8);
};
