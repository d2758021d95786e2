//! The raw `IMAGE_METADATA` milk's transmitter sends first, read and written at the offsets of
//! the legacy struct (identical in all three build variants for the fields used here).

use shmim_core::{Datatype, Metadata};

use crate::error::{BridgeError, Result};

/// Which build of the legacy header the milk peer uses (it sets the header's size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HeaderVariant {
    /// The default build: 384 bytes.
    #[default]
    Default,
    /// `IMAGESTRUCT_WRITEHISTORY`: 400 bytes.
    Writehistory,
    /// `DAO_COMPAT`: 4496 bytes.
    DaoCompat,
}

impl HeaderVariant {
    /// Bytes of the header on the wire.
    pub const fn bytes(self) -> usize {
        match self {
            Self::Default => 384,
            Self::Writehistory => 400,
            Self::DaoCompat => 4496,
        }
    }

    /// Offset of `imdatamemsize` (moved by the write-history fields).
    const fn imdatamemsize_at(self) -> usize {
        match self {
            Self::Writehistory => 328,
            _ => 312,
        }
    }
}

const VERSION_AT: usize = 0;
const NAME_AT: usize = 32;
const NAME_LEN: usize = 80;
const NAXIS_AT: usize = 112;
const SIZE_AT: usize = 116;
const NELEMENT_AT: usize = 128;
const DATATYPE_AT: usize = 136;
const IMAGETYPE_AT: usize = 144;
const CREATIONTIME_AT: usize = 152;
const ATIME_AT: usize = 184;
const WRITETIME_AT: usize = 200;
const CREATOR_PID_AT: usize = 216;
const SHARED_AT: usize = 224;
const INODE_AT: usize = 232;
const LOCATION_AT: usize = 240;
const SEM_AT: usize = 258;
const NBPROCTRACE_AT: usize = 260;
const CNT0_AT: usize = 264;
const CNT1_AT: usize = 272;
const NBKW_AT: usize = 290;
const CBSIZE_AT: usize = 292;

/// What the receiver takes from the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteImage {
    /// `name`.
    pub name: String,
    /// Used axis lengths (2 or 3 of them).
    pub shape: Vec<u32>,
    /// Pixel type (never complex: milk's transmitter refuses those).
    pub datatype: Datatype,
    /// `NBkw` of the transmitter's stream (the number of keyword entries in every record).
    pub nb_kw: u16,
}

impl RemoteImage {
    /// Pixel bytes of one record: `typesize × size[0] × size[1]` (one slice of a cube).
    pub fn slice_bytes(&self) -> usize {
        self.datatype.size() * self.shape[0] as usize * self.shape[1] as usize
    }

    /// Slices per frame (`size[2]` of a cube, else 1).
    pub fn slices(&self) -> u64 {
        self.shape.get(2).map_or(1, |&z| u64::from(z.max(1)))
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Parses and checks the header a transmitter sent (`raw` is exactly the variant's length).
pub fn parse(raw: &[u8]) -> Result<RemoteImage> {
    let bad = |why: String| Err(BridgeError::Milk(format!("header: {why}")));
    if raw.len() < 384 {
        return bad(format!("{} bytes, expected at least 384", raw.len()));
    }
    let name_bytes = shmim_layout::read_cstr(&raw[NAME_AT..NAME_AT + NAME_LEN]);
    let name = match shmim_core::validate_name_bytes(name_bytes) {
        Ok(n) => n.to_owned(),
        Err(e) => return bad(format!("stream name: {e}")),
    };
    let naxis = raw[NAXIS_AT];
    if !(2..=3).contains(&naxis) {
        return bad(format!(
            "naxis {naxis}: milk's TCP records carry size[0] x size[1] pixels, so only 2-D and 3-D streams can travel"
        ));
    }
    let shape: Vec<u32> = (0..usize::from(naxis))
        .map(|i| le_u32(raw, SIZE_AT + 4 * i))
        .collect();
    let datatype = match Datatype::try_from(raw[DATATYPE_AT]) {
        Ok(d) if !d.is_complex() => d,
        _ => {
            return bad(format!(
                "datatype {} is not one milk transmits",
                raw[DATATYPE_AT]
            ));
        }
    };
    let nb_kw = le_u16(raw, NBKW_AT);
    if let Err(e) = shmim_layout::RegionSpec::new(&shape, datatype)
        .with_keywords(nb_kw)
        .regions()
    {
        return bad(format!("shape {shape:?}: {e}"));
    }
    Ok(RemoteImage {
        name,
        shape,
        datatype,
        nb_kw,
    })
}

/// The header a milk transmitter would send for a stream with metadata `md`.
pub fn build(md: &Metadata, variant: HeaderVariant) -> Vec<u8> {
    let mut h = vec![0u8; variant.bytes()];
    let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
    put(VERSION_AT, shmim_layout::IMAGESTRUCT_VERSION.as_bytes());
    let name = md.name.as_bytes();
    put(NAME_AT, &name[..name.len().min(NAME_LEN - 1)]);
    put(NAXIS_AT, &[md.shape.len() as u8]);
    for (i, s) in md.shape.iter().enumerate() {
        put(SIZE_AT + 4 * i, &s.to_le_bytes());
    }
    put(NELEMENT_AT, &md.nelement.to_le_bytes());
    put(DATATYPE_AT, &[md.datatype_code]);
    put(IMAGETYPE_AT, &md.imagetype.to_le_bytes());
    for (at, t) in [
        (CREATIONTIME_AT, md.creation_time),
        (ATIME_AT, md.atime),
        (WRITETIME_AT, md.write_time),
    ] {
        put(at, &t.tv_sec.to_le_bytes());
        put(at + 8, &t.tv_nsec.to_le_bytes());
    }
    put(CREATOR_PID_AT, &md.creator_pid.to_le_bytes());
    put(SHARED_AT, &[1]);
    put(INODE_AT, &md.inode.to_le_bytes());
    put(LOCATION_AT, &md.location.to_le_bytes());
    put(SEM_AT, &md.semaphores.to_le_bytes());
    put(NBPROCTRACE_AT, &md.proc_trace.to_le_bytes());
    put(CNT0_AT, &md.cnt0.to_le_bytes());
    put(CNT1_AT, &md.cnt1.to_le_bytes());
    put(NBKW_AT, &md.keywords.to_le_bytes());
    put(CBSIZE_AT, &md.cb_size.to_le_bytes());
    put(variant.imdatamemsize_at(), &md.imdatamemsize.to_le_bytes());
    h
}
