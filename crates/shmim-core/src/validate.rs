//! Validate before trusting: a pure function from header bytes and file length to the geometry
//! every later access is bounded by.
//!
//! It runs on a copy of the header (never on the live mapping), so a hostile process changing the
//! header later cannot move our bounds: the [`Geometry`] is a snapshot. Checks, in the order that
//! makes each one safe to do: length ≥ header, version string (before any sizing is trusted, unlike
//! the legacy reader), name, `shared`, axes, datatype and region arithmetic (checked, via
//! `shmim-layout`), `nelement` and `imdatamemsize` against the sizes, file length against the
//! computed size, circular-buffer index in range. This function is the fuzz target of the hostile
//! file tests and runs under Miri.

use shmim_layout::{
    Datatype, IMAGE_METADATA_SIZE, IMAGESTRUCT_VERSION, ImageMetadata, LayoutError, RegionSpec,
    Regions, read_cstr,
};

/// Which check a stream file failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Shorter than the metadata header.
    #[error("file is {found} bytes, shorter than the {IMAGE_METADATA_SIZE}-byte header")]
    TooShort {
        /// File length.
        found: u64,
    },
    /// Wrong version string (or a creator still writing the file).
    #[error("version string is {found:?}, expected {IMAGESTRUCT_VERSION:?}")]
    Version {
        /// What the file says (escaped).
        found: String,
    },
    /// The name field is empty or not NUL-terminated.
    #[error("name field is {0}")]
    Name(&'static str),
    /// `shared` is neither 0 nor 1.
    #[error("shared flag is {0}, expected 0 or 1")]
    Shared(u8),
    /// An axis past `naxis` is not 0.
    #[error("axis {axis} is unused (naxis {naxis}) but has length {len}")]
    UnusedAxis {
        /// `naxis`.
        naxis: u8,
        /// The axis.
        axis: usize,
        /// Its length.
        len: u32,
    },
    /// The geometry cannot describe a stream.
    #[error("{0}")]
    Geometry(#[from] LayoutError),
    /// `nelement` disagrees with the axis lengths.
    #[error("nelement is {found}, the axes give {expected}")]
    Nelement {
        /// Product of the axes.
        expected: u64,
        /// Header value.
        found: u64,
    },
    /// `imdatamemsize` disagrees with the element count and type.
    #[error("imdatamemsize is {found}, nelement × element size gives {expected}")]
    Imdatamemsize {
        /// Computed.
        expected: u64,
        /// Header value.
        found: u64,
    },
    /// The file length is not the computed stream size.
    #[error("file is {found} bytes, the header describes {expected}")]
    FileSize {
        /// Computed from the header.
        expected: u64,
        /// Actual.
        found: u64,
    },
    /// The circular-buffer index is outside the buffer.
    #[error("circular-buffer index {index} outside a {size}-frame buffer")]
    CbIndex {
        /// `CBindex`.
        index: u32,
        /// `CBsize`.
        size: u32,
    },
}

impl Invalid {
    /// Whether a creator may still be writing the file (legacy creators size the file and write
    /// the version last): worth a brief retry.
    pub fn maybe_in_progress(&self) -> bool {
        matches!(
            self,
            Self::Version { .. } | Self::FileSize { .. } | Self::TooShort { .. }
        )
    }
}

/// The shape of a validated stream: every bound later accesses use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// `md->name`.
    pub name: String,
    /// Pixel type.
    pub datatype: Datatype,
    /// Number of axes.
    pub naxis: u8,
    /// Axis lengths (unused axes 0).
    pub size: [u32; 3],
    /// `imagetype`.
    pub imagetype: u64,
    /// -1 CPU, ≥ 0 GPU.
    pub location: i8,
    /// Semaphores (reader slots).
    pub nb_sem: u16,
    /// Keyword entries.
    pub nb_kw: u16,
    /// Proc-trace entries.
    pub nb_proctrace: u16,
    /// Circular-buffer frames.
    pub cb_size: u32,
    /// Where everything is.
    pub regions: Regions,
}

impl Geometry {
    /// The used axis lengths.
    pub fn shape(&self) -> &[u32] {
        &self.size[..self.naxis as usize]
    }

    /// Elements per frame.
    pub fn nelement(&self) -> u64 {
        self.regions.nelement
    }

    /// Bytes per frame.
    pub fn frame_bytes(&self) -> usize {
        // The region arithmetic bounded it by the file size, which was mapped, so it fits usize.
        self.regions.imdatamemsize as usize
    }

    /// Refuses a buffer of bytes, read into or written from, that is not exactly one frame.
    pub(crate) fn check_frame_bytes(&self, len: usize) -> crate::Result<()> {
        if len != self.frame_bytes() {
            return Err(crate::Error::LengthMismatch {
                expected: self.regions.imdatamemsize,
                found: len,
            });
        }
        Ok(())
    }
}

/// Validates a stream header (`header` = at least the first [`IMAGE_METADATA_SIZE`] bytes of the
/// file, copied) against the file's length.
pub fn validate(header: &[u8], file_len: u64) -> Result<Geometry, Invalid> {
    if (file_len as usize) < IMAGE_METADATA_SIZE || header.len() < IMAGE_METADATA_SIZE {
        return Err(Invalid::TooShort {
            found: file_len.min(header.len() as u64),
        });
    }
    let md: ImageMetadata = bytemuck::pod_read_unaligned(&header[..IMAGE_METADATA_SIZE]);
    if md.version_str() != IMAGESTRUCT_VERSION.as_bytes() {
        return Err(Invalid::Version {
            found: md.version_str().escape_ascii().to_string(),
        });
    }
    let name = read_cstr(&md.name);
    if name.is_empty() {
        return Err(Invalid::Name("empty"));
    }
    if name.len() == md.name.len() {
        return Err(Invalid::Name("not NUL-terminated"));
    }
    if md.shared > 1 {
        return Err(Invalid::Shared(md.shared));
    }
    let naxis = md.naxis;
    if (1..=3).contains(&naxis) {
        for axis in naxis as usize..3 {
            if md.size[axis] != 0 {
                return Err(Invalid::UnusedAxis {
                    naxis,
                    axis,
                    len: md.size[axis],
                });
            }
        }
    }
    let spec = RegionSpec::from_metadata(&md);
    let regions = spec.regions()?;
    if md.nelement != regions.nelement {
        return Err(Invalid::Nelement {
            expected: regions.nelement,
            found: md.nelement,
        });
    }
    if md.imdatamemsize != regions.imdatamemsize {
        return Err(Invalid::Imdatamemsize {
            expected: regions.imdatamemsize,
            found: md.imdatamemsize,
        });
    }
    if file_len != regions.file_size {
        return Err(Invalid::FileSize {
            expected: regions.file_size,
            found: file_len,
        });
    }
    if md.cb_size > 0 && md.cb_index >= md.cb_size {
        return Err(Invalid::CbIndex {
            index: md.cb_index,
            size: md.cb_size,
        });
    }
    Ok(Geometry {
        name: String::from_utf8_lossy(name).into_owned(),
        datatype: spec.datatype()?,
        naxis,
        size: md.size,
        imagetype: md.imagetype,
        location: md.location,
        nb_sem: md.sem,
        nb_kw: md.nb_kw,
        nb_proctrace: md.nb_proctrace,
        cb_size: md.cb_size,
        regions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use shmim_layout::write_cstr;

    fn header(shape: &[u32], t: Datatype) -> (Vec<u8>, u64) {
        let spec = RegionSpec::new(shape, t);
        let r = spec.regions().unwrap();
        let mut md: ImageMetadata = bytemuck::Zeroable::zeroed();
        write_cstr(&mut md.version, IMAGESTRUCT_VERSION.as_bytes()).unwrap();
        write_cstr(&mut md.name, b"im").unwrap();
        md.naxis = spec.naxis;
        md.size = spec.size;
        md.datatype = spec.datatype;
        md.imagetype = spec.imagetype;
        md.location = -1;
        md.shared = 1;
        md.sem = spec.nb_sem;
        md.nb_proctrace = spec.nb_proctrace;
        md.nelement = r.nelement;
        md.imdatamemsize = r.imdatamemsize;
        (bytemuck::bytes_of(&md).to_vec(), r.file_size)
    }

    fn with(mut h: Vec<u8>, offset: usize, bytes: &[u8]) -> Vec<u8> {
        h[offset..offset + bytes.len()].copy_from_slice(bytes);
        h
    }

    #[test]
    fn a_well_formed_header_gives_its_geometry() {
        let (h, len) = header(&[8, 8], Datatype::Float);
        let g = validate(&h, len).unwrap();
        assert_eq!(
            (g.name.as_str(), g.shape(), g.datatype, g.frame_bytes()),
            ("im", &[8, 8][..], Datatype::Float, 256)
        );
    }

    #[test]
    fn each_check_names_what_failed() {
        let (h, len) = header(&[8, 8], Datatype::Float);
        assert_eq!(
            validate(&h[..100], len),
            Err(Invalid::TooShort { found: 100 })
        );
        assert_eq!(validate(&h, 100), Err(Invalid::TooShort { found: 100 }));
        assert_eq!(
            validate(&with(h.clone(), 0, b"1.00"), len),
            Err(Invalid::Version {
                found: "1.00".into()
            })
        );
        assert_eq!(
            validate(&with(h.clone(), 32, &[0]), len),
            Err(Invalid::Name("empty"))
        );
        assert_eq!(
            validate(&with(h.clone(), 32, &[b'x'; 80]), len),
            Err(Invalid::Name("not NUL-terminated"))
        );
        assert_eq!(
            validate(&with(h.clone(), 224, &[7]), len),
            Err(Invalid::Shared(7))
        );
        assert_eq!(
            validate(&with(h.clone(), 112, &[0]), len),
            Err(Invalid::Geometry(LayoutError::Naxis(0)))
        );
        assert_eq!(
            validate(&with(h.clone(), 124, &5u32.to_ne_bytes()), len),
            Err(Invalid::UnusedAxis {
                naxis: 2,
                axis: 2,
                len: 5
            })
        );
        assert_eq!(
            validate(&with(h.clone(), 136, &[42]), len),
            Err(Invalid::Geometry(LayoutError::Datatype(42)))
        );
        assert_eq!(
            validate(&with(h.clone(), 128, &65u64.to_ne_bytes()), len),
            Err(Invalid::Nelement {
                expected: 64,
                found: 65
            })
        );
        assert_eq!(
            validate(&with(h.clone(), 312, &255u64.to_ne_bytes()), len),
            Err(Invalid::Imdatamemsize {
                expected: 256,
                found: 255
            })
        );
        assert_eq!(
            validate(&h, len + 8),
            Err(Invalid::FileSize {
                expected: len,
                found: len + 8
            })
        );
        let h = with(h, 292, &2u32.to_ne_bytes());
        let cb = RegionSpec::new(&[8, 8], Datatype::Float)
            .with_circular_buffer(2)
            .regions()
            .unwrap();
        assert_eq!(
            validate(&with(h, 296, &2u32.to_ne_bytes()), cb.file_size),
            Err(Invalid::CbIndex { index: 2, size: 2 })
        );
    }

    #[test]
    fn absurd_sizes_are_refused_not_wrapped() {
        let (h, _) = header(&[8, 8], Datatype::Float);
        let mut h = with(h, 116, &u32::MAX.to_ne_bytes());
        h[120..124].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(
            validate(&h, 1 << 40),
            Err(Invalid::Geometry(LayoutError::TooManyElements { .. }))
        ));
    }

    #[test]
    fn corrupting_any_byte_never_panics() {
        let (h, len) = header(&[4, 3], Datatype::U16);
        for i in 0..h.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut c = h.clone();
                c[i] = v;
                let _ = validate(&c, len);
            }
        }
    }
}
