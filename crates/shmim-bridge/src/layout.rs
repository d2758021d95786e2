//! What a stream's file looks like: the part of a description a mirror must match.

use shmim_core::Datatype;

/// A stream's layout: the source's, which its mirror copies.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Pixel type.
    pub datatype: Datatype,
    /// Used axis lengths (1 to 3).
    pub shape: Vec<u32>,
    /// `imagetype` bits.
    pub imagetype: u64,
    /// Number of semaphores.
    pub semaphores: u16,
    /// Number of keyword entries of the source.
    pub keyword_slots: u16,
    /// Circular-buffer frames.
    pub cb_size: u32,
}

impl Layout {
    /// Bytes of one frame (`imdatamemsize`), or `None` if the shape overflows.
    pub fn frame_bytes(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(self.datatype.size() as u64, |n, &s| {
                n.checked_mul(u64::from(s))
            })
    }
}
