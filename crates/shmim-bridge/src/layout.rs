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
    /// Bytes of the file of a stream of this layout with `keyword_slots` keyword entries (a
    /// mirror has more than its source), or `None` if no stream can have this layout.
    pub fn file_bytes(&self, keyword_slots: u16) -> Option<u64> {
        shmim_layout::RegionSpec::new(&self.shape, self.datatype)
            .with_keywords(keyword_slots)
            .with_semaphores(self.semaphores)
            .with_imagetype(self.imagetype)
            .with_circular_buffer(self.cb_size)
            .regions()
            .ok()
            .map(|r| r.file_size)
    }

    /// Bytes of one frame (`imdatamemsize`), or `None` if the shape overflows.
    pub fn frame_bytes(&self) -> Option<u64> {
        self.shape
            .iter()
            .try_fold(self.datatype.size() as u64, |n, &s| {
                n.checked_mul(u64::from(s))
            })
    }
}
