//! The header and the frame table of a cube: the cards written when it starts, and what
//! finishing it writes once the frames are known.

use shmim_core::Timespec;

use crate::cards::{Card, CardValue, KeywordCards};
use crate::cfitsio::{Column, ColumnValues, FitsFile};
use crate::error::Result;
use crate::frame::Stamp;
use crate::time::{iso8601, nanos};

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

/// Writes the cards of a new image HDU: the stream's name, the time system, the provenance
/// placeholders, the stream's keywords and `DATE`.
pub(super) fn write_cards(
    file: &mut FitsFile,
    stream: &str,
    cube: bool,
    keywords: &KeywordCards,
) -> Result<()> {
    file.write_card(&Card {
        name: "SHMNAME".into(),
        value: CardValue::Str(stream.into()),
        comment: "shmim stream the frames were read from".into(),
    })?;
    file.write_card(&Card {
        name: "TIMESYS".into(),
        value: CardValue::Str("TAI".into()),
        comment: "clock of ATIME, WRITETIM and the frame table".into(),
    })?;
    for card in provenance(cube, None, 0, 0) {
        file.write_card(&card)?;
    }
    for card in &keywords.cards {
        file.write_card(card)?;
    }
    file.write_date()
}

/// Fills in what is known once the frames are: a cube's frame count (`last_axis`, rewritten in
/// place of its placeholder 0; cfitsio then reads the header again to learn the data unit's
/// size), the provenance cards, and a cube's frame table.
pub(super) fn complete(
    file: &mut FitsFile,
    last_axis: Option<usize>,
    stamps: &[Stamp],
    missed: u64,
) -> Result<()> {
    let frames = stamps.len() as u64;
    if let Some(n) = last_axis {
        file.update_card(&Card {
            name: format!("NAXIS{n}"),
            value: CardValue::UInt(frames),
            comment: "frames".into(),
        })?;
        file.data_start()?;
    }
    for card in provenance(last_axis.is_some(), stamps.first(), frames, missed) {
        file.update_card(&card)?;
    }
    if last_axis.is_some() {
        write_table(file, stamps)?;
    }
    Ok(())
}

/// Bytes a cube's finishing may add after its pixels: the padding of the image, the table's
/// header block and its rows, padded.
pub(super) fn table_bytes(frames: u64) -> u64 {
    const BLOCK: u64 = 2880;
    BLOCK + BLOCK + (frames * 24).div_ceil(BLOCK) * BLOCK
}

fn write_table(file: &mut FitsFile, stamps: &[Stamp]) -> Result<()> {
    file.create_table(TABLE_NAME, stamps.len() as u64, &COLUMNS)?;
    let cnt0: Vec<u64> = stamps.iter().map(|s| s.cnt0).collect();
    let atime: Vec<i64> = stamps.iter().map(|s| nanos(s.atime)).collect();
    let writetime: Vec<i64> = stamps.iter().map(|s| nanos(s.writetime)).collect();
    file.write_column(1, ColumnValues::Unsigned(&cnt0))?;
    file.write_column(2, ColumnValues::Signed(&atime))?;
    file.write_column(3, ColumnValues::Signed(&writetime))
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
