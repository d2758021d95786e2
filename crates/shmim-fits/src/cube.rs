//! Writing frames to a FITS file one at a time: a single frame, or a cube of frames with a
//! per-frame table.
//!
//! The image HDU is created for the frames planned, with every header card in place (the ones
//! known only at the end hold placeholders of the same length), so pixels go to disk frame by
//! frame and the header is never grown over written data: memory holds one frame and 40 bytes
//! per frame for the table. When fewer frames came (Ctrl-C), the last axis is shrunk to the
//! frames written before the table is appended, so the cube is valid and holds nothing else.
//!
//! A cube's last axis counts frames: a 2-axis stream (`NAXIS1 × NAXIS2`) gives a 3-axis cube,
//! frame `k` (0-based) at `NAXIS3` index `k + 1`. The `FRAMES` binary table has one row per frame:
//! `cnt0` (unsigned 64-bit), `atime` and `writetime` (nanoseconds since the epoch, TAI).

use std::path::{Path, PathBuf};

use shmim_core::{Datatype, Timespec};

use crate::cards::{Card, CardValue, KeywordCards};
use crate::cfitsio::{Column, ColumnValues, FitsFile};
use crate::encode::to_stored;
use crate::error::{Error, Result};
use crate::frame::Stamp;
use crate::output::Output;
use crate::time::{iso8601, nanos};
use crate::types::{FitsType, fits_type};

/// The per-frame table's extension name and columns.
pub const TABLE_NAME: &str = "FRAMES";
const COLUMNS: [Column; 3] = [
    Column {
        name: "cnt0",
        form: "1W",
        unit: "",
    },
    Column {
        name: "atime",
        form: "1K",
        unit: "ns",
    },
    Column {
        name: "writetime",
        form: "1K",
        unit: "ns",
    },
];

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct CubeReport {
    /// The file, or `None` when no frame came and nothing was written.
    pub path: Option<PathBuf>,
    /// Frames written.
    pub frames: u64,
    /// Frames published while this cube was open (or before its first frame) that it does not
    /// hold.
    pub missed: u64,
    /// The first frame's stamp.
    pub first: Option<Stamp>,
    /// The last frame's stamp.
    pub last: Option<Stamp>,
}

/// What to write: the stream's name, pixel type and frame shape, and how many frames.
#[derive(Debug, Clone)]
pub struct CubeSpec<'a> {
    /// The stream's name (the `SHMNAME` card).
    pub stream: &'a str,
    /// Pixel type.
    pub datatype: Datatype,
    /// Axis lengths of one frame (`size[]`, = `NAXIS1…`).
    pub frame_shape: &'a [u32],
    /// `None`: one frame, with the frame's own axes. `Some(n)`: a cube of up to `n` frames, with
    /// one more axis and the frame table.
    pub frames: Option<u64>,
}

/// A FITS file being filled frame by frame (removed if dropped unfinished).
pub struct CubeWriter {
    file: FitsFile,
    output: Output,
    fits: FitsType,
    datatype: Datatype,
    frame_axes: Vec<u64>,
    frame_bytes: u64,
    /// Where the pixels start, fixed at the first frame (the header is complete then).
    data_start: Option<u64>,
    planned: Option<u64>,
    stamps: Vec<Stamp>,
    missed: u64,
}

/// The provenance cards, with the values known at the end as placeholders of the same length.
fn provenance(cube: bool, first: Option<&Stamp>, frames: u64, missed: u64) -> Vec<Card> {
    let time = |t: Option<Timespec>| iso8601(t.unwrap_or(Timespec::ZERO));
    let card = |name: &str, value, comment: &str| Card {
        name: name.into(),
        value,
        comment: comment.into(),
    };
    let (what, when) = if cube {
        ("of the first frame", " of the first frame")
    } else {
        ("of the frame", "")
    };
    let mut cards = vec![
        card(
            "CNT0",
            CardValue::UInt(first.map_or(0, |s| s.cnt0)),
            &format!("frame number (stream cnt0) {what}"),
        ),
        card(
            "ATIME",
            CardValue::Str(time(first.map(|s| s.atime))),
            &format!("acquisition time{when}"),
        ),
        card(
            "WRITETIM",
            CardValue::Str(time(first.map(|s| s.writetime))),
            &format!("publish time{when}"),
        ),
    ];
    if cube {
        cards.push(card(
            "NFRAMES",
            CardValue::UInt(frames),
            "frames in this cube",
        ));
        cards.push(card(
            "NMISSED",
            CardValue::UInt(missed),
            "frames published, not in this cube",
        ));
    }
    cards
}

impl CubeWriter {
    /// Starts writing `spec` to `dest` (under a temporary name), with the cards of `keywords`.
    pub fn create(
        dest: &Path,
        overwrite: bool,
        spec: &CubeSpec<'_>,
        keywords: &KeywordCards,
    ) -> Result<Self> {
        let fits = fits_type(spec.datatype, spec.stream)?;
        let output = Output::new(dest, overwrite)?;
        let mut file = FitsFile::create(output.tmp())?;
        let frame_axes: Vec<u64> = spec.frame_shape.iter().map(|&n| u64::from(n)).collect();
        let mut axes = frame_axes.clone();
        axes.extend(spec.frames);
        file.create_image(fits.image, &axes)?;
        file.write_card(&Card {
            name: "SHMNAME".into(),
            value: CardValue::Str(spec.stream.into()),
            comment: "shmim stream the frames were read from".into(),
        })?;
        file.write_card(&Card {
            name: "TIMESYS".into(),
            value: CardValue::Str("TAI".into()),
            comment: "clock of ATIME, WRITETIM and the frame table".into(),
        })?;
        for card in provenance(spec.frames.is_some(), None, 0, 0) {
            file.write_card(&card)?;
        }
        for card in &keywords.cards {
            file.write_card(card)?;
        }
        file.write_date()?;
        Ok(Self {
            file,
            output,
            fits,
            datatype: spec.datatype,
            frame_bytes: frame_axes.iter().product::<u64>() * spec.datatype.size() as u64,
            data_start: None,
            frame_axes,
            planned: spec.frames,
            stamps: Vec::new(),
            missed: 0,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.stamps.len() as u64
    }

    /// Frames planned (1 for a single frame).
    pub fn capacity(&self) -> u64 {
        self.planned.unwrap_or(1)
    }

    /// Frames missed so far.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        self.output.dest()
    }

    /// Counts `n` frames published that this file will not hold.
    pub fn add_missed(&mut self, n: u64) {
        self.missed = self.missed.saturating_add(n);
    }

    /// Writes the next frame and records its stamp. `bytes` (one frame, native order, aligned
    /// for the pixel type) is converted to FITS's stored form in place: the caller's copy is
    /// spent.
    pub fn push(&mut self, bytes: &mut [u8], stamp: Stamp) -> Result<()> {
        to_stored(self.datatype, bytes);
        self.push_stored(bytes, stamp)
    }

    /// Writes the next frame, already in FITS's stored form ([`to_stored`]), and records its
    /// stamp.
    pub(crate) fn push_stored(&mut self, bytes: &[u8], stamp: Stamp) -> Result<()> {
        if bytes.len() as u64 != self.frame_bytes || self.frames() >= self.capacity() {
            return Err(Error::Fits {
                op: "write pixels",
                path: self.output.tmp().to_path_buf(),
                status: 0,
                message: format!(
                    "frame {} of {} bytes does not fit a file of {} frames of {} bytes",
                    self.frames() + 1,
                    bytes.len(),
                    self.capacity(),
                    self.frame_bytes
                ),
            });
        }
        let start = match self.data_start {
            Some(s) => s,
            None => *self.data_start.insert(self.file.data_start()?),
        };
        self.file
            .write_stored(start + self.frames() * self.frame_bytes, bytes)?;
        self.stamps.push(stamp);
        Ok(())
    }

    /// Completes the file (shrinking a short cube, filling in the cards, appending the frame
    /// table) and renames it into place. Writes nothing when no frame came.
    pub fn finish(mut self) -> Result<CubeReport> {
        let frames = self.frames();
        let mut report = CubeReport {
            path: None,
            frames,
            missed: self.missed,
            first: self.stamps.first().copied(),
            last: self.stamps.last().copied(),
        };
        if frames == 0 {
            return Ok(report);
        }
        let cube = self.planned.is_some();
        if self.planned.is_some_and(|planned| frames < planned) {
            let mut axes = self.frame_axes.clone();
            axes.push(frames);
            self.file.resize_image(self.fits.image, &axes)?;
        }
        for card in provenance(cube, self.stamps.first(), frames, self.missed) {
            self.file.update_card(&card)?;
        }
        if cube {
            self.write_table()?;
        }
        let Self { file, output, .. } = self;
        file.close()?;
        report.path = Some(output.commit()?);
        Ok(report)
    }

    fn write_table(&mut self) -> Result<()> {
        self.file
            .create_table(TABLE_NAME, self.frames(), &COLUMNS)?;
        let cnt0: Vec<u64> = self.stamps.iter().map(|s| s.cnt0).collect();
        let atime: Vec<i64> = self.stamps.iter().map(|s| nanos(s.atime)).collect();
        let writetime: Vec<i64> = self.stamps.iter().map(|s| nanos(s.writetime)).collect();
        self.file.write_column(1, ColumnValues::Unsigned(&cnt0))?;
        self.file.write_column(2, ColumnValues::Signed(&atime))?;
        self.file.write_column(3, ColumnValues::Signed(&writetime))
    }
}
