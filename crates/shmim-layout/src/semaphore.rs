//! `SEMFILEDATA`: the bytes of one glibc `sem_t` inside the file.

use bytemuck::{Pod, Zeroable};

/// One semaphore slot: the 32 bytes of a glibc (x86_64) `sem_t`, align 8.
///
/// glibc's 64-bit layout: bytes 0..4 the value, 4..8 the number of waiters (together one `u64`
/// word the futex algorithm updates with compare-and-swap), byte 8 is `0x80` when the semaphore is
/// process-shared (0 = private), the rest zero. Only `shmim-sync` interprets these bytes.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct SemSlot {
    /// The raw `sem_t` bytes.
    pub bytes: [u8; 32],
}

impl SemSlot {
    /// Offset of the process-shared marker byte.
    pub const PSHARED_BYTE: usize = 8;
    /// Value of the marker byte for a process-shared semaphore.
    pub const PSHARED_MARK: u8 = 0x80;

    /// A semaphore as `sem_init(s, 1, value)` leaves it: process-shared, no waiters.
    pub fn process_shared(value: u32) -> Self {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&value.to_ne_bytes());
        bytes[Self::PSHARED_BYTE] = Self::PSHARED_MARK;
        Self { bytes }
    }

    /// The value word (bytes 0..4), as last written.
    pub fn value(&self) -> u32 {
        u32::from_ne_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
    }

    /// Whether the process-shared marker is set.
    pub fn is_process_shared(&self) -> bool {
        self.bytes[Self::PSHARED_BYTE] == Self::PSHARED_MARK
    }
}

const _: () = {
    assert!(core::mem::size_of::<SemSlot>() == 32);
    assert!(core::mem::align_of::<SemSlot>() == 8);
};
