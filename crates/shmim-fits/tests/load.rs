//! load: FITS images written by another writer (astropy), corrupt and truncated files, filling an
//! existing stream through the normal commit, and what needs `--replace`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{TempDir, astropy_write};
use shmim_core::{Datatype, Stream, StreamSpec, Value};
use shmim_fits::cards::Skip;
use shmim_fits::{Error, SaveOptions, load, save};

fn stream_files(dir: &TempDir) -> Vec<String> {
    dir.files()
        .into_iter()
        .filter(|f| !f.ends_with(".fits"))
        .collect()
}

fn read<T: shmim_core::Pixel + Default + Clone>(dir: &Path, name: &str) -> Vec<T> {
    let s = Stream::open_in(dir, name).unwrap();
    let mut v = vec![T::default(); s.nelement() as usize];
    s.read_into(&mut v).unwrap();
    v
}

/// A saved 4×3 f32 file of a stream holding 0..12, for the tests that need a valid one.
fn saved_file(dir: &TempDir) -> std::path::PathBuf {
    let spec = StreamSpec::new(&[4, 3], Datatype::Float).dir(dir.path());
    let mut s = Stream::create("src", &spec).unwrap();
    let frame: Vec<f32> = (0..12).map(|i| i as f32).collect();
    s.write_frame(&frame).unwrap();
    let file = dir.path().join("src.fits");
    let opts = SaveOptions {
        frames: None,
        overwrite: false,
        timeout: Duration::from_secs(1),
    };
    save(&s, &file, &opts, &mut || false).unwrap();
    s.destroy().unwrap();
    file
}

#[test]
fn unsigned_16_bit_through_bzero_loads_as_u16() {
    let dir = TempDir::new("u16");
    let file = dir.path().join("u16.fits");
    astropy_write("uint16", &file);
    let r = load(&file, dir.path(), "cam", false).unwrap();
    assert_eq!(
        (r.datatype, r.shape.as_slice()),
        (Datatype::U16, &[3, 2][..])
    );
    assert_eq!(
        read::<u16>(dir.path(), "cam"),
        [0, 1, 65535, 32767, 32768, 40000]
    );
}

#[test]
fn scaled_integers_load_as_floats_with_the_scaling_applied() {
    let dir = TempDir::new("scaled");
    let file = dir.path().join("s.fits");
    astropy_write("scaled16", &file);
    let r = load(&file, dir.path(), "cam", false).unwrap();
    assert_eq!(
        r.datatype,
        Datatype::Float,
        "BITPIX 16 with BSCALE 2.5 is f32"
    );
    let want: Vec<f32> = (0..12).map(|i| 10.0 + 2.5 * i as f32).collect();
    assert_eq!(read::<f32>(dir.path(), "cam"), want);
}

/// A 64-bit integer image with these scaling cards, holding values at the edges of the type.
fn scaled_64_bit(dir: &TempDir, tag: &str, scaling: &[(&str, &str)]) -> std::path::PathBuf {
    let stored: [i64; 8] = [1, 3, 5, 7, -1, -3, 1 << 62, i64::MAX];
    let mut cards = common::craft::image_cards(64, &[8]);
    cards.extend(scaling.iter().map(|(k, v)| common::craft::card_text(k, v)));
    let data: Vec<u8> = stored.iter().flat_map(|v| v.to_be_bytes()).collect();
    let file = dir.path().join(format!("{tag}.fits"));
    common::craft::write_fits(&file, &cards, &data);
    file
}

#[test]
fn scaled_64_bit_integers_load_as_f64_as_astropy_reads_them() {
    let dir = TempDir::new("scaled64");
    for (tag, scaling) in [
        ("half", &[("BSCALE", "0.5")][..]),
        ("quarter", &[("BZERO", "0.25")]),
        ("one", &[("BZERO", "1")]),
        ("big", &[("BZERO", "1.0E19")]),
        (
            "u64x2",
            &[("BZERO", "9223372036854775808"), ("BSCALE", "2")],
        ),
    ] {
        let file = scaled_64_bit(&dir, tag, scaling);
        let r = load(&file, dir.path(), tag, false).unwrap_or_else(|e| panic!("{tag}: {e}"));
        assert_eq!(r.datatype, Datatype::Double, "{tag}");
        let (dtype, want) = common::astropy_f64(&file);
        assert_eq!(dtype, "float64", "{tag}");
        assert_eq!(read::<f64>(dir.path(), tag), want, "{tag}");
    }
}

#[test]
fn unscaled_and_unsigned_64_bit_integers_load_exactly() {
    let dir = TempDir::new("exact64");
    let file = scaled_64_bit(&dir, "plain", &[("BZERO", "0"), ("BSCALE", "1")]);
    let r = load(&file, dir.path(), "plain", false).unwrap();
    assert_eq!(r.datatype, Datatype::I64);
    assert_eq!(
        read::<i64>(dir.path(), "plain"),
        [1, 3, 5, 7, -1, -3, 1 << 62, i64::MAX]
    );
    let file = scaled_64_bit(&dir, "unsigned", &[("BZERO", "9223372036854775808")]);
    let r = load(&file, dir.path(), "unsigned", false).unwrap();
    assert_eq!(r.datatype, Datatype::U64);
    let offset = |v: i64| (v as u64) ^ (1 << 63);
    assert_eq!(
        read::<u64>(dir.path(), "unsigned"),
        [1, 3, 5, 7, -1, -3, 1 << 62, i64::MAX].map(offset)
    );
}

#[test]
fn an_image_in_the_first_extension_loads_when_the_primary_has_none() {
    let dir = TempDir::new("ext");
    let file = dir.path().join("e.fits");
    astropy_write("extension", &file);
    let r = load(&file, dir.path(), "cam", false).unwrap();
    assert_eq!(
        (r.hdu, r.datatype, r.shape.as_slice()),
        (1, Datatype::Double, &[3, 2][..])
    );
    assert_eq!(
        read::<f64>(dir.path(), "cam"),
        [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    );
    let s = Stream::open_in(dir.path(), "cam").unwrap();
    assert_eq!(
        s.keyword("EXPTIME").unwrap().unwrap().value,
        Value::Double(0.25)
    );
}

#[test]
fn header_cards_become_keywords_and_the_rest_is_reported() {
    let dir = TempDir::new("cards");
    let file = dir.path().join("c.fits");
    astropy_write("cards", &file);
    let r = load(&file, dir.path(), "cam", false).unwrap();
    let s = Stream::open_in(dir.path(), "cam").unwrap();
    let got: Vec<(String, Value, String)> = s
        .keywords()
        .unwrap()
        .into_iter()
        .map(|k| (k.name, k.value, k.comment))
        .collect();
    let want = [
        ("EXPTIME", Value::Double(0.001), "exposure [s]"),
        ("GAIN", Value::Long(-3), "e-/ADU"),
        ("FILTER", Value::Str("H-band".into()), "filter wheel"),
        ("LOOP", Value::Str("#TRUE#".into()), "loop closed"),
        ("wfs.mode", Value::Str("fast".into()), "hierarch card"),
    ]
    .map(|(n, v, c)| (n.to_owned(), v, c.to_owned()));
    assert_eq!(got, want);
    let skipped: Vec<(&str, &Skip)> = r
        .skipped
        .iter()
        .map(|s| (s.name.as_str(), &s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            ("OBJECT", &Skip::StringTooLong),
            ("A.VERY.LONG.NAME", &Skip::NameTooLong)
        ]
    );
    assert_eq!(r.keywords, 5);
}

#[test]
fn a_truncated_file_is_an_error_and_creates_no_stream() {
    let dir = TempDir::new("trunc");
    let file = saved_file(&dir);
    let full = std::fs::read(&file).unwrap();
    // Header intact, pixels cut short.
    std::fs::write(&file, &full[..2880 + 20]).unwrap();
    let e = load(&file, dir.path(), "cam", false).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Truncated {
                expected: 2928,
                found: 2900,
                ..
            }
        ),
        "{e}"
    );
    assert!(stream_files(&dir).is_empty(), "{:?}", dir.files());
    // Cut inside the header.
    std::fs::write(&file, &full[..1000]).unwrap();
    let e = load(&file, dir.path(), "cam", false).unwrap_err();
    assert!(matches!(e, Error::Fits { .. }), "{e}");
    assert!(stream_files(&dir).is_empty(), "{:?}", dir.files());
}

#[test]
fn a_corrupt_file_is_an_error_and_creates_no_stream() {
    let dir = TempDir::new("corrupt");
    let file = saved_file(&dir);
    let mut bytes = std::fs::read(&file).unwrap();
    // BITPIX = 7: no such FITS type.
    let at = bytes.windows(8).position(|w| w == b"BITPIX  ").unwrap();
    bytes[at + 10..at + 30].copy_from_slice(format!("{:>20}", 7).as_bytes());
    assert!(
        String::from_utf8_lossy(&bytes[at..at + 80])
            .starts_with(&common::craft::card_text("BITPIX", "7"))
    );
    std::fs::write(&file, &bytes).unwrap();
    let e = load(&file, dir.path(), "cam", false).unwrap_err();
    assert!(matches!(e, Error::Fits { .. }), "{e}");
    // Not FITS at all.
    std::fs::write(&file, vec![0x5a_u8; 5760]).unwrap();
    let e = load(&file, dir.path(), "cam", false).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, Error::NoImage { .. })
            && text.contains("src.fits")
            && text.contains("not a FITS file"),
        "{text}"
    );
    // Missing.
    let e = load(&dir.path().join("none.fits"), dir.path(), "cam", false).unwrap_err();
    assert!(
        matches!(&e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{e}"
    );
    assert!(stream_files(&dir).is_empty(), "{:?}", dir.files());
}

#[test]
fn scaling_cards_that_are_not_numbers_are_refused_and_create_no_stream() {
    let dir = TempDir::new("badscale");
    let data: Vec<u8> = (0..12i16).flat_map(|v| v.to_be_bytes()).collect();
    for (card, value) in [("BZERO", "NaN"), ("BZERO", "'abc'"), ("BSCALE", "1.0E999")] {
        let mut cards = common::craft::image_cards(16, &[4, 3]);
        cards.push(common::craft::card_text(card, value));
        let file = dir.path().join("s.fits");
        common::craft::write_fits(&file, &cards, &data);
        let e = load(&file, dir.path(), "cam", false).unwrap_err();
        assert!(
            matches!(&e, Error::NoImage { reason, .. } if reason.contains(card) && reason.contains(value)),
            "{e}"
        );
        assert!(stream_files(&dir).is_empty(), "{:?}", dir.files());
    }
}

#[test]
fn an_image_of_four_axes_is_refused() {
    let dir = TempDir::new("axes4");
    let file = dir.path().join("a.fits");
    astropy_write("axes4", &file);
    let e = load(&file, dir.path(), "cam", false).unwrap_err();
    assert!(
        matches!(&e, Error::NoImage { reason, .. } if reason.contains("4 axes")),
        "{e}"
    );
    assert!(stream_files(&dir).is_empty());
}

#[test]
fn loading_into_a_compatible_stream_publishes_a_frame_its_readers_see() {
    let dir = TempDir::new("fill");
    let file = saved_file(&dir);
    let spec = StreamSpec::new(&[4, 3], Datatype::Float)
        .keywords(1)
        .dir(dir.path());
    let mut s = Stream::create("cam", &spec).unwrap();
    s.write_frame(&[9.0f32; 12]).unwrap();
    s.set_keyword("KEEP", Value::Long(1), "").unwrap();
    let mut reader = s.reader().unwrap();
    // A file card that has no free entry left in this stream.
    let extra = dir.path().join("extra.fits");
    let mut src = Stream::create(
        "src2",
        &StreamSpec::new(&[4, 3], Datatype::Float)
            .keywords(1)
            .dir(dir.path()),
    )
    .unwrap();
    src.set_keyword("NEW", Value::Long(2), "").unwrap();
    src.write_frame(&(0..12).map(|i| i as f32).collect::<Vec<_>>())
        .unwrap();
    let opts = SaveOptions {
        frames: None,
        overwrite: false,
        timeout: Duration::from_secs(1),
    };
    save(&src, &extra, &opts, &mut || false).unwrap();

    let r = load(&extra, dir.path(), "cam", false).unwrap();
    assert!(!r.created);
    assert_eq!(r.frame, 2, "the next frame of the stream");
    assert_eq!(reader.wait_timeout(Duration::from_secs(5)).unwrap(), 2);
    let mut got = [0f32; 12];
    reader.read_into(&mut got).unwrap();
    assert_eq!(got.to_vec(), (0..12).map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(
        (r.skipped[0].name.as_str(), &r.skipped[0].reason),
        ("NEW", &Skip::NoSlot)
    );
    drop(file);
}

#[test]
fn an_incompatible_stream_needs_replace() {
    let dir = TempDir::new("incompat");
    let file = saved_file(&dir);
    let spec = StreamSpec::new(&[2, 2], Datatype::U16).dir(dir.path());
    let mut s = Stream::create("cam", &spec).unwrap();
    s.write_frame(&[1u16; 4]).unwrap();
    let e = load(&file, dir.path(), "cam", false).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, Error::Incompatible { .. }) && text.contains("--replace"),
        "{text}"
    );
    assert_eq!(s.cnt0(), 1, "the stream is untouched");

    let mut reader = s.reader().unwrap();
    let r = load(&file, dir.path(), "cam", true).unwrap();
    assert!(r.created);
    let fresh = Stream::open_in(dir.path(), "cam").unwrap();
    assert_eq!(
        (fresh.datatype(), fresh.shape()),
        (Datatype::Float, &[4, 3][..])
    );
    assert_eq!(
        (fresh.cnt0(), r.frame),
        (1, 1),
        "whole: its frame published"
    );
    assert!(s.inode_changed().unwrap(), "replaced by a new file");
    // A reader waiting on the old stream learns it was replaced (the new inode).
    let e = reader.wait_timeout(Duration::from_secs(5)).unwrap_err();
    assert!(matches!(e, shmim_core::Error::Replaced { .. }), "{e}");
    let hidden: Vec<String> = dir
        .files()
        .into_iter()
        .filter(|f| f.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "no private directory left: {hidden:?}");
}

#[test]
fn a_bad_stream_name_is_refused_before_anything_is_read() {
    let dir = TempDir::new("badname");
    let e = load(&dir.path().join("none.fits"), dir.path(), "a/b", false).unwrap_err();
    assert!(
        matches!(e, Error::Stream(shmim_core::Error::InvalidName { .. })),
        "{e}"
    );
}

#[test]
fn a_stream_another_writer_holds_is_left_unchanged() {
    let dir = TempDir::new("busy");
    let file = saved_file(&dir);
    let spec = StreamSpec::new(&[4, 3], Datatype::Float)
        .keywords(2)
        .dir(dir.path());
    let _created = Stream::create("cam", &spec).unwrap();
    let mut other = Stream::open_in(dir.path(), "cam").unwrap();
    let guard = other.write().unwrap();
    let e = load(&file, dir.path(), "cam", false).unwrap_err();
    assert!(
        matches!(e, Error::Stream(shmim_core::Error::WriterBusy { .. })),
        "{e}"
    );
    drop(guard);
    let s = Stream::open_in(dir.path(), "cam").unwrap();
    assert!(s.keywords().unwrap().is_empty(), "no keyword was set");
    assert_eq!(s.cnt0(), 0);
}

#[test]
fn concurrent_loads_each_report_their_own_file_s_error() {
    // cfitsio keeps one error-message stack for the whole process: two threads failing at once
    // used to read (or clear) each other's messages.
    let dir = TempDir::new("concurrent");
    let bitpix = dir.path().join("bitpix.fits");
    let naxis = dir.path().join("naxis.fits");
    let data = vec![0u8; 24];
    let mut cards = common::craft::image_cards(16, &[4, 3]);
    cards[1] = common::craft::card_text("BITPIX", "7");
    common::craft::write_fits(&bitpix, &cards, &data);
    let mut cards = common::craft::image_cards(16, &[4, 3]);
    cards[2] = common::craft::card_text("NAXIS", "-1");
    common::craft::write_fits(&naxis, &cards, &data);
    let messages = |file: &Path| {
        let e = load(file, dir.path(), "cam", false).unwrap_err();
        match e {
            Error::Fits { message, .. } => message,
            other => panic!("{other}"),
        }
    };
    let (own_bitpix, own_naxis) = (messages(&bitpix), messages(&naxis));
    assert_ne!(own_bitpix, own_naxis);
    std::thread::scope(|scope| {
        let runs = [(&bitpix, &own_bitpix), (&naxis, &own_naxis)].map(|(file, own)| {
            let messages = &messages;
            scope.spawn(move || {
                for _ in 0..2000 {
                    assert_eq!(&messages(file), own);
                }
            })
        });
        for r in runs {
            r.join().unwrap();
        }
    });
}

/// A 4×3 i16 primary image with `extra` cards, written by hand; returns the file.
fn image_with_cards(dir: &TempDir, tag: &str, extra: &[String]) -> std::path::PathBuf {
    let mut cards = common::craft::image_cards(16, &[4, 3]);
    cards.extend_from_slice(extra);
    let data: Vec<u8> = (0..12i16).flat_map(|v| v.to_be_bytes()).collect();
    let file = dir.path().join(format!("{tag}.fits"));
    common::craft::write_fits(&file, &cards, &data);
    file
}

fn continue_card(text: &str) -> String {
    format!("CONTINUE  '{text}'")
}

#[test]
fn a_string_continued_on_cards_is_read_whole_and_no_card_is_reported_unread() {
    let dir = TempDir::new("cont");
    let file = image_with_cards(
        &dir,
        "cont",
        &[
            common::craft::card_text("LONGSTR", "'abc&'"),
            continue_card("def&"),
            continue_card("gh"),
            common::craft::card_text("AFTER", "1"),
        ],
    );
    let r = load(&file, dir.path(), "cam", false).unwrap();
    assert_eq!(r.unread, 0, "{r:?}");
    let s = Stream::open_in(dir.path(), "cam").unwrap();
    assert_eq!(
        s.keyword("LONGSTR").unwrap().unwrap().value,
        Value::Str("abcdefgh".into())
    );
    assert_eq!(s.keyword("AFTER").unwrap().unwrap().value, Value::Long(1));
}

#[test]
fn continuation_cards_count_against_the_cards_read() {
    let dir = TempDir::new("cont-chain");
    // One string continued on 6000 cards (480 kB of header), then a keyword: the chain alone
    // passes the cards read, so the keyword after it is not read.
    let mut extra = vec![common::craft::card_text("CHAIN", "'x&'")];
    extra.extend((0..6000).map(|_| continue_card("x&")));
    extra.push(continue_card("end"));
    extra.push(common::craft::card_text("AFTER", "1"));
    let file = image_with_cards(&dir, "chain", &extra);
    let total = 3 + 2 + extra.len();
    let r = load(&file, dir.path(), "cam", false).unwrap();
    assert_eq!(r.unread, total - shmim_fits::MAX_CARDS, "{:?}", r.skipped);
    assert_eq!(
        r.skipped
            .iter()
            .map(|s| (s.name.as_str(), &s.reason))
            .collect::<Vec<_>>(),
        [("CHAIN", &Skip::StringTooLong)]
    );
    let s = Stream::open_in(dir.path(), "cam").unwrap();
    assert_eq!(s.keyword("AFTER").unwrap(), None);
}

#[test]
fn a_primary_image_with_an_empty_axis_gives_way_to_the_extension() {
    let dir = TempDir::new("empty-axis");
    let mut primary = common::craft::image_cards(16, &[0]);
    primary.push(common::craft::card_text("EXTEND", "T"));
    let head = dir.path().join("head.fits");
    common::craft::write_fits(&head, &primary, &[]);
    let mut ext = vec![
        common::craft::card_text("XTENSION", "'IMAGE   '"),
        common::craft::card_text("BITPIX", "16"),
        common::craft::card_text("NAXIS", "2"),
        common::craft::card_text("NAXIS1", "4"),
        common::craft::card_text("NAXIS2", "3"),
        common::craft::card_text("PCOUNT", "0"),
        common::craft::card_text("GCOUNT", "1"),
    ];
    ext.push(common::craft::card_text("EXPTIME", "0.5"));
    let tail = dir.path().join("tail.fits");
    let data: Vec<u8> = (0..12i16).flat_map(|v| v.to_be_bytes()).collect();
    common::craft::write_fits(&tail, &ext, &data);
    let file = dir.path().join("two.fits");
    let bytes = [std::fs::read(&head).unwrap(), std::fs::read(&tail).unwrap()].concat();
    std::fs::write(&file, bytes).unwrap();
    let r = load(&file, dir.path(), "cam", false).unwrap();
    assert_eq!(
        (r.hdu, r.datatype, r.shape.as_slice()),
        (1, Datatype::I16, &[4, 3][..])
    );
    assert_eq!(read::<i16>(dir.path(), "cam"), (0..12).collect::<Vec<_>>());
}
