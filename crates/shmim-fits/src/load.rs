//! `load`: a FITS image into a stream, created for it or filled with it.
//!
//! The image is the primary HDU's, or the first image extension's when the primary holds none.
//! Everything is read and checked before the stream is touched: a truncated or corrupt file, an
//! image of more than 3 axes or of a type no stream holds, is an error and no stream is created
//! or changed. Then the stream `NAME` is created (a new one of the image's shape and type, with a
//! keyword entry per card that fits) or, when it exists with the same shape and type and
//! `replace` is off, filled: its keywords are set and the image is published as its next frame
//! through the normal write and commit (its readers wake up). An existing stream of another shape
//! or type is an error unless `replace` is on, which re-creates it.

use std::path::Path;

use shmim_core::{Datatype, Stream, StreamSpec, Value};

use crate::cards::{FromCard, Skip, Skipped, keyword_from_card};
use crate::cfitsio::{FitsFile, IMAGE_HDU};
use crate::error::{Error, Result};
use crate::frame::FrameBuf;
use crate::types::{Scaling, datatype_of, equivalent};

/// What was loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// The stream.
    pub name: String,
    /// Its pixel type.
    pub datatype: Datatype,
    /// Its shape (`NAXIS1` first, as `size[0]`).
    pub shape: Vec<u32>,
    /// Whether the stream was created (or re-created) rather than filled.
    pub created: bool,
    /// The frame number the image was published as.
    pub frame: u64,
    /// Which HDU held the image (0 = primary).
    pub hdu: usize,
    /// Keywords set from header cards.
    pub keywords: usize,
    /// Cards that did not become keywords, and why.
    pub skipped: Vec<Skipped>,
}

/// An image read from a file, with the keywords its cards give.
struct Image {
    datatype: Datatype,
    shape: Vec<u32>,
    pixels: FrameBuf,
    hdu: usize,
    keywords: Vec<(String, Value, String)>,
    skipped: Vec<Skipped>,
}

/// Loads the image of `file` into stream `name` of `dir`.
pub fn load(file: &Path, dir: &Path, name: &str, replace: bool) -> Result<LoadReport> {
    shmim_core::validate_name(name)?;
    let image = read_image(file)?;
    let existing = if replace {
        None
    } else {
        match Stream::open_in(dir, name) {
            Ok(s) => Some(s),
            Err(shmim_core::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        }
    };
    let created = existing.is_none();
    let mut stream = match existing {
        Some(s) if s.datatype() == image.datatype && s.shape() == image.shape.as_slice() => s,
        Some(s) => {
            return Err(Error::Incompatible {
                name: name.to_owned(),
                stream_type: s.datatype(),
                stream_shape: s.shape().to_vec(),
                file_type: image.datatype,
                file_shape: image.shape,
            });
        }
        None => {
            let slots = u16::try_from(image.keywords.len()).unwrap_or(u16::MAX);
            let spec = StreamSpec::new(&image.shape, image.datatype)
                .keywords(slots)
                .dir(dir);
            Stream::create(name, &spec)?
        }
    };
    // Another writer publishing now would make our write fail after the keywords changed: look
    // first (a writer that starts in between still makes `write` fail, keywords set).
    if stream.is_writing() {
        return Err(shmim_core::Error::WriterBusy {
            writer: stream.flag_claim().unwrap_or(0),
        }
        .into());
    }
    let mut skipped = image.skipped;
    let mut set = 0;
    for (key, value, comment) in image.keywords {
        match stream.set_keyword(&key, value, &comment) {
            Ok(_) => set += 1,
            Err(shmim_core::Error::KeywordsFull { .. }) => skipped.push(Skipped {
                name: key,
                reason: Skip::NoSlot,
            }),
            Err(e) => return Err(e.into()),
        }
    }
    let mut guard = stream.write()?;
    guard.copy_from_bytes(image.pixels.bytes())?;
    let frame = guard.commit()?;
    Ok(LoadReport {
        name: name.to_owned(),
        datatype: image.datatype,
        shape: image.shape,
        created,
        frame,
        hdu: image.hdu,
        keywords: set,
        skipped,
    })
}

/// Reads and checks the image of `path`, its pixels and its cards.
fn read_image(path: &Path) -> Result<Image> {
    let mut file = FitsFile::open(path)?;
    let no_image = |reason: String| Error::NoImage {
        path: path.to_path_buf(),
        reason,
    };
    let (hdu, axes) = find_image(&mut file)?.ok_or_else(|| {
        no_image(
            "no HDU holds an image (NAXIS is 0 in the primary HDU and no image extension has data)"
                .into(),
        )
    })?;
    if axes.len() > 3 {
        return Err(no_image(format!(
            "the image has {} axes {axes:?}; streams hold 1 to 3",
            axes.len()
        )));
    }
    let shape = axes
        .iter()
        .map(|&n| u32::try_from(n).ok().filter(|&n| n > 0))
        .collect::<Option<Vec<u32>>>()
        .ok_or_else(|| no_image(format!("axis lengths {axes:?} are not 1 to 2^32-1")))?;
    let cards = file.cards()?;
    let value = |name: &str| {
        cards
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.value.as_str())
    };
    let scaling = Scaling::from_cards(value("BZERO"), value("BSCALE")).map_err(no_image)?;
    let stored = file.stored_bitpix()?;
    let code = equivalent(file.equivalent_bitpix()?, stored, &scaling);
    let datatype = datatype_of(code)
        .ok_or_else(|| no_image(format!("cfitsio image type {code} is no stream datatype")))?;
    check_complete(&mut file, path, &shape, stored)?;
    let bytes = shape
        .iter()
        .try_fold(datatype.size() as u64, |acc, &n| {
            acc.checked_mul(u64::from(n))
        })
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| no_image(format!("an image of {shape:?} {datatype} is too large")))?;
    let mut pixels = FrameBuf::new(bytes, path)?;
    file.read_pixels(datatype, pixels.bytes_mut())?;
    let (mut keywords, mut skipped) = (Vec::new(), Vec::new());
    for card in cards {
        match keyword_from_card(&card) {
            FromCard::Keyword {
                name,
                value,
                comment,
            } => keywords.push((name, value, comment)),
            FromCard::PassedOver => {}
            FromCard::Skipped(reason) => skipped.push(Skipped {
                name: card.name,
                reason,
            }),
        }
    }
    file.close()?;
    Ok(Image {
        datatype,
        shape,
        pixels,
        hdu,
        keywords,
        skipped,
    })
}

/// The first HDU holding an image with data, and its axes.
fn find_image(file: &mut FitsFile) -> Result<Option<(usize, Vec<i64>)>> {
    for hdu in 0..file.hdu_count()? {
        if file.move_to_hdu(hdu)? == IMAGE_HDU {
            let axes = file.image_axes()?;
            if !axes.is_empty() {
                return Ok(Some((hdu, axes)));
            }
        }
    }
    Ok(None)
}

/// [`Error::Truncated`] when the file ends before the pixels its header declares (checked before
/// anything is allocated for them: a corrupt header cannot make us allocate what is not there).
fn check_complete(file: &mut FitsFile, path: &Path, shape: &[u32], bitpix: i32) -> Result<()> {
    let (start, _) = file.data_span()?;
    let stored = (bitpix.unsigned_abs() / 8).max(1);
    let needed = shape
        .iter()
        .try_fold(u64::from(stored), |acc, &n| acc.checked_mul(u64::from(n)))
        .and_then(|b| b.checked_add(start))
        .unwrap_or(u64::MAX);
    let found = std::fs::metadata(path)
        .map_err(|e| Error::io("stat", path, e))?
        .len();
    if needed > found {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            expected: needed,
            found,
        });
    }
    Ok(())
}
