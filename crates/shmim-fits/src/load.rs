//! `load`: a FITS image into a stream, created for it or filled with it.
//!
//! The image is the primary HDU's, or the first image extension's when the primary holds none
//! (`NAXIS = 0`, or an axis of length 0).
//! Everything is read and checked before any stream is touched: a missing, truncated, corrupt or
//! compressed file, an image of more than 3 axes or of a type no stream holds, is an error and no
//! stream is created or changed.
//!
//! **The file is read as it is.** It is opened by us, checked to be a regular file that starts
//! like a FITS file (`SIMPLE  =`), and handed to cfitsio as that open file: cfitsio's disk driver
//! would otherwise try `NAME.gz` for a missing `NAME`, expand `~`, drop leading blanks, and
//! inflate compressed content in memory, however large it says it is. Compressed files (gzip,
//! zip, `compress`) and tile-compressed images (`fpack`) are refused, saying so: decompress them
//! first.
//!
//! **A new stream appears complete.** It is built in a private directory next to the stream
//! directory (keywords filled in one pass, the image committed as frame 1), then renamed into
//! place: a reader sees no stream, or the whole one; a failure or a crash leaves no stream
//! behind. Keywords come from the first [`MAX_KEYWORDS`] cards that make one (reading stops
//! after [`MAX_CARDS`] cards), which bounds the time and the stream's size whatever the header.
//!
//! **An existing stream** of the same shape and type is filled: its keywords are set and the
//! image is published as its next frame through the normal write and commit (its readers wake
//! up), with or without `replace`. One of another shape or type is an error unless `replace` is
//! on, which re-creates it as above (the rename replaces the old file; its waiting readers see
//! the new inode within 100 ms, as for any re-created stream).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use shmim_core::{Datatype, Stream, StreamSpec, Value};

use crate::cards::{FromCard, Skip, Skipped, keyword_from_card};
use crate::cfitsio::{FitsFile, IMAGE_HDU};
use crate::error::{Error, Result};
use crate::frame::FrameBuf;
use crate::output::{OnFailure, Output};
use crate::types::{Scaling, datatype_of, equivalent};

/// The most keywords a stream gets from a file.
pub const MAX_KEYWORDS: usize = 1024;
/// The most header cards read (real headers have hundreds).
pub const MAX_CARDS: usize = 4 * MAX_KEYWORDS;

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
    /// Header cards after the first [`MAX_CARDS`], not read.
    pub unread: usize,
}

/// Keywords to set: name, value, comment.
type Keywords = Vec<(String, Value, String)>;

/// An image read from a file, with the keywords its cards give.
struct Image {
    datatype: Datatype,
    shape: Vec<u32>,
    pixels: FrameBuf,
    hdu: usize,
    keywords: Keywords,
    skipped: Vec<Skipped>,
    unread: usize,
}

/// Loads the image of `file` into stream `name` of `dir`.
pub fn load(file: &Path, dir: &Path, name: &str, replace: bool) -> Result<LoadReport> {
    shmim_core::validate_name(name)?;
    let image = read_image(file)?;
    let existing = match Stream::open_in(dir, name) {
        Ok(s) => Some(s),
        Err(shmim_core::Error::NotFound { .. }) => None,
        // A file in the way that is no valid stream: re-created only when asked.
        Err(_) if replace => None,
        Err(e) => return Err(e.into()),
    };
    let (created, frame, keywords, skipped) = match existing {
        Some(mut s) if s.datatype() == image.datatype && s.shape() == image.shape.as_slice() => {
            let (frame, keywords, skipped) = fill(&mut s, &image)?;
            (false, frame, keywords, skipped)
        }
        Some(s) if !replace => {
            return Err(Error::Incompatible {
                name: name.to_owned(),
                stream_type: s.datatype(),
                stream_shape: s.shape().to_vec(),
                file_type: image.datatype,
                file_shape: image.shape,
            });
        }
        _ => {
            let keywords = create(dir, name, &image)?;
            (true, 1, keywords, Vec::new())
        }
    };
    Ok(LoadReport {
        name: name.to_owned(),
        datatype: image.datatype,
        shape: image.shape,
        created,
        frame,
        hdu: image.hdu,
        keywords,
        skipped: [image.skipped, skipped].concat(),
        unread: image.unread,
    })
}

/// Builds the stream in a private directory and renames it into `dir` (over a file already
/// there: the caller decided it may be replaced); returns the keywords set.
fn create(dir: &Path, name: &str, image: &Image) -> Result<usize> {
    let file_name = format!("{name}{}", shmim_layout::FILE_SUFFIX);
    let dest = dir.join(&file_name);
    let replacing = match std::fs::symlink_metadata(&dest) {
        Ok(m) if m.is_file() || m.file_type().is_symlink() => true,
        Ok(_) => {
            return Err(Error::BadPath {
                path: dest,
                reason: "a stream can only replace a file",
            });
        }
        Err(_) => false,
    };
    let output = Output::with_inner(&dest, replacing, &file_name, OnFailure::Remove)?;
    let slots = u16::try_from(image.keywords.len()).unwrap_or(u16::MAX);
    let spec = StreamSpec::new(&image.shape, image.datatype)
        .keywords(slots)
        .dir(output.private_dir());
    let mut stream = Stream::create(name, &spec)?;
    // Nobody else knows this file: entry i is ours, no table scan needed.
    for (i, (key, value, comment)) in (0..slots).zip(&image.keywords) {
        stream.set_keyword_at(i, key, value.clone(), comment)?;
    }
    publish(&mut stream, image)?;
    drop(stream);
    match output.commit() {
        Ok(_) => Ok(usize::from(slots)),
        Err(Error::Exists { .. }) => Err(Error::StreamAppeared {
            name: name.to_owned(),
        }),
        Err(e) => Err(e),
    }
}

/// Sets the keywords of `stream` and publishes the image as its next frame; returns the frame,
/// the keywords set and those that found no free entry.
fn fill(stream: &mut Stream, image: &Image) -> Result<(u64, usize, Vec<Skipped>)> {
    // Another writer publishing now would make our write fail after the keywords changed: look
    // first (a writer that starts in between still makes `write` fail, keywords set).
    if stream.is_writing() {
        return Err(shmim_core::Error::WriterBusy {
            writer: stream.flag_claim().unwrap_or(0),
        }
        .into());
    }
    let mut skipped = Vec::new();
    let mut set = 0;
    for (key, value, comment) in &image.keywords {
        match stream.set_keyword(key, value.clone(), comment) {
            Ok(_) => set += 1,
            Err(shmim_core::Error::KeywordsFull { .. }) => skipped.push(Skipped {
                name: key.clone(),
                reason: Skip::NoSlot,
            }),
            Err(e) => return Err(e.into()),
        }
    }
    Ok((publish(stream, image)?, set, skipped))
}

/// Publishes the image's pixels as the next frame of `stream`.
fn publish(stream: &mut Stream, image: &Image) -> Result<u64> {
    let mut guard = stream.write()?;
    guard.copy_from_bytes(image.pixels.bytes())?;
    Ok(guard.commit()?)
}

/// Opens `path` for cfitsio after checking it is a regular file holding an uncompressed FITS
/// file; returns the open file and its length.
///
/// The type is looked at before opening (opening a device can do things) and again on the open
/// file, which is opened without blocking: a FIFO, or a file swapped for one in between, would
/// otherwise block `open` until some process writes to it, forever.
fn open_source(path: &Path) -> Result<(File, u64)> {
    let not_regular = || Error::BadPath {
        path: path.to_path_buf(),
        reason: "it is not a regular file",
    };
    let meta = std::fs::metadata(path).map_err(|e| Error::io("open", path, e))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("stat", path, e))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let mut head = [0u8; 10];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    if let Some(format) = compression(&head[..got]) {
        return Err(Error::Compressed {
            path: path.to_path_buf(),
            format,
        });
    }
    if &head[..got] != b"SIMPLE  = " {
        return Err(Error::NoImage {
            path: path.to_path_buf(),
            reason: "it is not a FITS file (a FITS file starts with the card `SIMPLE  = T`)".into(),
        });
    }
    Ok((file, meta.len()))
}

/// The compression format whose magic number `head` starts with, if any.
fn compression(head: &[u8]) -> Option<&'static str> {
    const MAGIC: [(&[u8], &str); 5] = [
        (b"\x1f\x8b", "gzip"),
        (b"PK\x03\x04", "zip"),
        (b"\x1f\x9d", "compress (.Z)"),
        (b"\x1f\x1e", "pack (.z)"),
        (b"BZh", "bzip2"),
    ];
    MAGIC
        .into_iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, name)| name)
}

/// Reads and checks the image of `path`, its pixels and its cards.
fn read_image(path: &Path) -> Result<Image> {
    let (source, file_len) = open_source(path)?;
    let mut file = FitsFile::open(path, source)?;
    let no_image = |reason: String| Error::NoImage {
        path: path.to_path_buf(),
        reason,
    };
    let (hdu, axes) = find_image(&mut file, path)?.ok_or_else(|| {
        no_image(
            "no HDU holds an image (the primary HDU has no pixels, NAXIS = 0 or an axis of length 0, and no image extension has any)"
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
    let scaling = Scaling::from_cards(
        file.card_value("BZERO")?.as_deref(),
        file.card_value("BSCALE")?.as_deref(),
    )
    .map_err(no_image)?;
    let stored = file.stored_bitpix()?;
    let code = equivalent(file.equivalent_bitpix()?, stored, &scaling);
    let datatype = datatype_of(code)
        .ok_or_else(|| no_image(format!("cfitsio image type {code} is no stream datatype")))?;
    check_complete(&mut file, path, file_len, &shape, stored)?;
    let bytes = shape
        .iter()
        .try_fold(datatype.size() as u64, |acc, &n| {
            acc.checked_mul(u64::from(n))
        })
        .and_then(|b| usize::try_from(b).ok())
        .ok_or_else(|| no_image(format!("an image of {shape:?} {datatype} is too large")))?;
    let mut pixels = FrameBuf::new(bytes, path)?;
    file.read_pixels(datatype, pixels.bytes_mut())?;
    let header = file.cards(MAX_CARDS)?;
    let unread = header.total - header.read;
    let (keywords, skipped) = keywords_of(header.cards);
    file.close()?;
    Ok(Image {
        datatype,
        shape,
        pixels,
        hdu,
        keywords,
        skipped,
        unread,
    })
}

/// The keywords `cards` give (the first card of a name, at most [`MAX_KEYWORDS`]), and the
/// cards left out with why.
fn keywords_of(cards: Vec<crate::cards::RawCard>) -> (Keywords, Vec<Skipped>) {
    let (mut keywords, mut skipped) = (Vec::new(), Vec::new());
    let mut names = std::collections::HashSet::new();
    for card in cards {
        let reason = match keyword_from_card(&card) {
            FromCard::Keyword { name, .. } if names.contains(&name) => Skip::Repeated,
            FromCard::Keyword { .. } if keywords.len() == MAX_KEYWORDS => Skip::Limit,
            FromCard::Keyword {
                name,
                value,
                comment,
            } => {
                names.insert(name.clone());
                keywords.push((name, value, comment));
                continue;
            }
            FromCard::PassedOver => continue,
            FromCard::Skipped(reason) => reason,
        };
        skipped.push(Skipped {
            name: card.name,
            reason,
        });
    }
    (keywords, skipped)
}

/// The first HDU holding an image with pixels (every axis at least 1 long), and its axes; a
/// tile-compressed image is an error.
fn find_image(file: &mut FitsFile, path: &Path) -> Result<Option<(usize, Vec<i64>)>> {
    for hdu in 0..file.hdu_count()? {
        if file.move_to_hdu(hdu)? != IMAGE_HDU {
            continue;
        }
        if file.is_compressed_image()? {
            return Err(Error::Compressed {
                path: path.to_path_buf(),
                format: "tile-compressed (fpack)",
            });
        }
        let axes = file.image_axes()?;
        // No axes, or an axis of length 0: the HDU holds no pixels (a primary that only
        // carries the header of its extensions).
        if !axes.is_empty() && !axes.contains(&0) {
            return Ok(Some((hdu, axes)));
        }
    }
    Ok(None)
}

/// [`Error::Truncated`] when the file (`found` bytes long) ends before the pixels its header
/// declares (checked before anything is allocated for them: a corrupt header cannot make us
/// allocate what is not there).
fn check_complete(
    file: &mut FitsFile,
    path: &Path,
    found: u64,
    shape: &[u32],
    bitpix: i32,
) -> Result<()> {
    let (start, _) = file.data_span()?;
    let stored = (bitpix.unsigned_abs() / 8).max(1);
    let needed = shape
        .iter()
        .try_fold(u64::from(stored), |acc, &n| acc.checked_mul(u64::from(n)))
        .and_then(|b| b.checked_add(start))
        .unwrap_or(u64::MAX);
    if needed > found {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            expected: needed,
            found,
        });
    }
    Ok(())
}
