//! `md->imagetype`: flag bits in the low nibble, z-axis meaning in bits 16..20.

/// The `imagetype` word of a stream, with the legacy flag and z-axis constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ImageType(pub u64);

/// The z-axis code of an image type (bits 16..20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZAxis {
    /// `ZAXIS_UNDEF`
    Undef,
    /// `ZAXIS_SPACIAL` (legacy spelling)
    Spatial,
    /// `ZAXIS_TEMPORAL`
    Temporal,
    /// `ZAXIS_WAVELENGTH`
    Wavelength,
    /// `ZAXIS_MAPPING`
    Mapping,
    /// Any other code.
    Other(u8),
}

impl ImageType {
    /// `CIRCULAR_BUFFER`
    pub const CIRCULAR_BUFFER: u64 = 0x0001;
    /// `MATH_DATA` (the legacy `createIm` default)
    pub const MATH_DATA: u64 = 0x0002;
    /// `IMG_RECV`
    pub const IMG_RECV: u64 = 0x0004;
    /// `IMG_SENT`
    pub const IMG_SENT: u64 = 0x0008;
    /// `ZAXIS_UNDEF`
    pub const ZAXIS_UNDEF: u64 = 0x00000;
    /// `ZAXIS_SPACIAL`
    pub const ZAXIS_SPACIAL: u64 = 0x10000;
    /// `ZAXIS_TEMPORAL`
    pub const ZAXIS_TEMPORAL: u64 = 0x20000;
    /// `ZAXIS_WAVELENGTH`
    pub const ZAXIS_WAVELENGTH: u64 = 0x30000;
    /// `ZAXIS_MAPPING`
    pub const ZAXIS_MAPPING: u64 = 0x40000;
    /// Mask of the bits that decide the buffer kind: flag nibble plus z-axis nibble.
    pub const KIND_MASK: u64 = 0xF000F;

    /// The z-axis code.
    pub const fn zaxis(self) -> ZAxis {
        match (self.0 >> 16) & 0xF {
            0 => ZAxis::Undef,
            1 => ZAxis::Spatial,
            2 => ZAxis::Temporal,
            3 => ZAxis::Wavelength,
            4 => ZAxis::Mapping,
            other => ZAxis::Other(other as u8),
        }
    }

    /// `(imagetype & 0xF) == CIRCULAR_BUFFER`: the rule `readBufferAt` uses to treat the third axis
    /// as slices.
    pub const fn is_circular_slices(self) -> bool {
        self.0 & 0xF == Self::CIRCULAR_BUFFER
    }

    /// `(imagetype & 0xF000F) == CIRCULAR_BUFFER | ZAXIS_TEMPORAL`: the file then carries the
    /// per-slice atime, writetime and cnt arrays.
    pub const fn has_temporal_arrays(self) -> bool {
        self.0 & Self::KIND_MASK == Self::CIRCULAR_BUFFER | Self::ZAXIS_TEMPORAL
    }

    /// `(imagetype & 0xF000F) == CIRCULAR_BUFFER`: creation requires three axes for this kind.
    pub const fn needs_three_axes(self) -> bool {
        self.0 & Self::KIND_MASK == Self::CIRCULAR_BUFFER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporal_circular_buffer_has_the_temporal_arrays() {
        let t = ImageType(ImageType::CIRCULAR_BUFFER | ImageType::ZAXIS_TEMPORAL);
        assert_eq!(t.0, 0x20001);
        assert!(t.has_temporal_arrays() && t.is_circular_slices() && !t.needs_three_axes());
        assert_eq!(t.zaxis(), ZAxis::Temporal);
        assert!(!ImageType(ImageType::MATH_DATA).has_temporal_arrays());
        assert!(ImageType(ImageType::CIRCULAR_BUFFER).needs_three_axes());
    }
}
