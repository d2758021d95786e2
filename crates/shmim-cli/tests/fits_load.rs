//! `shmim load` of files a FITS library would not write, or would not read as they are: the path
//! is read literally, compressed files are refused, a header of thousands of cards loads quickly
//! into a stream that appears whole, odd cards are reported, and `--replace` re-creates only
//! what must be.
#![cfg(feature = "fits")]

mod fits_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fits_support::*;
use shmim_core::{Stream, Value};

/// Saves a 16x16 u16 stream `src` (frame 1) to `file` with `shmim save`.
fn saved(place: &Place, file: &Path) {
    succeeded(&run(
        place,
        &["create", "src", "--shape", "16x16", "--type", "u16"],
    ));
    succeeded(&run(
        place,
        &["write", "src", "--count", "1", "--rate", "0"],
    ));
    succeeded(&run(place, &["save", "src", file.to_str().unwrap()]));
}

/// `shmim --dir PLACE load FILE NAME` run in `cwd`, with `HOME` set to `home`.
fn load_in(place: &Place, cwd: &Path, home: &Path, file: &str, name: &str) -> std::process::Output {
    let child = command(place, &["load", file, name])
        .current_dir(cwd)
        .env("HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(Running(child), Duration::from_secs(60))
}

fn python(script: &str) {
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .output()
        .expect("python3 with astropy (run `cargo xtask ci --only setup`)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn load_reads_the_file_named_and_no_other() {
    let place = Place::new("literal");
    let cwd = place.0.join("cwd");
    let home = place.0.join("home");
    std::fs::create_dir_all(cwd.join("~")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    saved(&place, &cwd.join("lead.fits"));
    std::fs::copy(cwd.join("lead.fits"), home.join("tilde.fits")).unwrap();
    std::fs::copy(cwd.join("lead.fits"), cwd.join("~/tilde.fits")).unwrap();
    python(&format!(
        "import gzip; open({:?}, 'wb').write(gzip.compress(open({:?}, 'rb').read()))",
        cwd.join("only.fits.gz").to_str().unwrap(),
        cwd.join("lead.fits").to_str().unwrap()
    ));
    // cfitsio's disk driver dropped the leading blank and read lead.fits instead.
    std::fs::rename(cwd.join("lead.fits"), cwd.join(" lead.fits")).unwrap();
    succeeded(&run(&place, &["create", "small", "--shape", "8x8"]));
    let other = cwd.join("lead.fits");
    succeeded(&run(&place, &["save", "small", other.to_str().unwrap()]));
    let out = succeeded(&load_in(&place, &cwd, &home, " lead.fits", "a"));
    assert!(out.contains("created stream a (u16 16x16)"), "{out}");
    std::fs::remove_file(&other).unwrap();
    std::fs::remove_file(place.0.join("a.im.shm")).unwrap();
    let out = load_in(&place, &cwd, &home, "lead.fits", "a");
    failed_with(&out, "No such file");
    // … and opened only.fits.gz for only.fits.
    let out = load_in(&place, &cwd, &home, "only.fits", "b");
    failed_with(&out, "No such file");
    // `~/tilde.fits` is the directory `~` of the working directory, not $HOME.
    std::fs::remove_file(home.join("tilde.fits")).unwrap();
    succeeded(&load_in(&place, &cwd, &home, "~/tilde.fits", "c"));
    assert!(!place.0.join("a.im.shm").exists() && !place.0.join("b.im.shm").exists());
}

#[test]
fn compressed_files_are_refused_saying_so() {
    let place = Place::new("compressed");
    let plain = place.0.join("plain.fits");
    saved(&place, &plain);
    // gzip content under a .fits name: cfitsio would inflate it in memory, whatever its size.
    let gz = place.0.join("gz.fits");
    python(&format!(
        "import gzip; open({:?}, 'wb').write(gzip.compress(open({:?}, 'rb').read()))",
        gz.to_str().unwrap(),
        plain.to_str().unwrap()
    ));
    failed_with(
        &run(&place, &["load", gz.to_str().unwrap(), "g"]),
        "gzip compressed",
    );
    // A tile-compressed image (astropy's CompImageHDU, what fpack writes).
    let rice = place.0.join("rice.fits");
    python(&format!(
        "import numpy as np; from astropy.io import fits\n\
         d = (np.arange(64*64) % 251).astype(np.int16).reshape(64, 64)\n\
         fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(d, compression_type='RICE_1')])\
         .writeto({:?}, overwrite=True)",
        rice.to_str().unwrap()
    ));
    failed_with(
        &run(&place, &["load", rice.to_str().unwrap(), "r"]),
        "tile-compressed",
    );
    assert!(!place.0.join("g.im.shm").exists() && !place.0.join("r.im.shm").exists());
}

#[test]
fn a_header_of_thousands_of_cards_loads_quickly_into_a_stream_that_appears_whole() {
    const CARDS: usize = 20_000;
    let place = Place::new("many");
    let file = place.0.join("many.fits");
    let extra: Vec<String> = (0..CARDS)
        .map(|i| card_text(&format!("K{i:07}"), &i.to_string()))
        .collect();
    let (cards, data) = small_image(&extra);
    write_fits(&file, &cards, &data);
    let loader = command(&place, &["load", file.to_str().unwrap(), "many"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut loader = Running(loader);
    // Watch the stream while it is loaded: it is not there, or it is whole (its frame
    // published). The loader used to create it first and fill its keywords one table scan each:
    // minutes, with the stream half made all along.
    let watchdog = Instant::now() + Duration::from_secs(120);
    while loader.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < watchdog, "load did not finish");
        if let Ok(s) = Stream::open_in(&place.0, "many") {
            assert_eq!(s.cnt0(), 1, "a stream seen before its frame was published");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let out = finish(loader, Duration::from_secs(1));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("1024 keywords"), "{stdout}");
    assert!(stderr.contains("more header cards not read"), "{stderr}");
    assert!(stderr.lines().count() < 60, "notes are bounded: {stderr}");
    let s = Stream::open_in(&place.0, "many").unwrap();
    assert_eq!(s.geometry().nb_kw, 1024);
    let kw = s.keywords().unwrap();
    assert_eq!(kw.len(), 1024);
    assert_eq!(
        (kw[0].name.as_str(), &kw[1023].value),
        ("K0000000", &Value::Long(1023))
    );
    assert_eq!(
        entries(&place.0)
            .into_iter()
            .filter(|e| e.starts_with('.'))
            .count(),
        0,
        "no private directory left"
    );
}

#[test]
fn repeated_non_ascii_and_continued_cards_load_as_the_standard_reads_them() {
    let place = Place::new("cards");
    let file = place.0.join("cards.fits");
    let (cards, data) = small_image(&[
        card_text("FOO", "1"),
        card_text("FOO", "2"),
        "HIERARCH foo = 3".to_owned(),
        "BAR     = 'h\u{e9}llo'".to_owned(),
        "LONG    = 'ab&'".to_owned(),
        "CONTINUE  'cd' / continued".to_owned(),
    ]);
    // Latin-1 bytes: é is one byte (0xE9) in the file, as a careless writer leaves it.
    let mut bytes = Vec::new();
    for c in cards.iter().map(String::as_str).chain(["END"]) {
        let mut rec: Vec<u8> = c.chars().map(|ch| ch as u32 as u8).collect();
        rec.resize(80, b' ');
        bytes.extend(rec);
    }
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    bytes.extend_from_slice(&data);
    bytes.resize(bytes.len().div_ceil(2880) * 2880, 0);
    std::fs::write(&file, bytes).unwrap();

    let out = run(&place, &["load", file.to_str().unwrap(), "cam"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(", 3 keywords"), "{stdout}");
    assert!(
        stderr.contains("card FOO not loaded: an earlier card of that name was loaded"),
        "{stderr}"
    );
    assert!(
        stderr.contains("card BAR not loaded: FITS strings hold printable ASCII only"),
        "{stderr}"
    );
    let s = Stream::open_in(&place.0, "cam").unwrap();
    let got: Vec<(String, Value)> = s
        .keywords()
        .unwrap()
        .into_iter()
        .map(|k| (k.name, k.value))
        .collect();
    assert_eq!(
        got,
        [
            ("FOO".to_owned(), Value::Long(1)),
            ("foo".to_owned(), Value::Long(3)),
            ("LONG".to_owned(), Value::Str("abcd".into())),
        ]
    );
}

#[test]
fn replace_re_creates_a_stream_only_when_its_shape_or_type_differs() {
    let place = Place::new("replace");
    let file = place.0.join("f.fits");
    saved(&place, &file);
    succeeded(&run(
        &place,
        &["create", "cam", "--shape", "16x16", "--type", "u16"],
    ));
    let before = Stream::open_in(&place.0, "cam").unwrap();
    let out = succeeded(&run(
        &place,
        &["load", file.to_str().unwrap(), "cam", "--replace"],
    ));
    assert!(
        out.contains("filled stream cam") && out.contains("frame 1"),
        "{out}"
    );
    assert!(!before.inode_changed().unwrap(), "the same stream, filled");
    succeeded(&run(&place, &["create", "other", "--shape", "8x8"]));
    let other = Stream::open_in(&place.0, "other").unwrap();
    let out = succeeded(&run(
        &place,
        &["load", file.to_str().unwrap(), "other", "--replace"],
    ));
    assert!(out.contains("created stream other (u16 16x16)"), "{out}");
    assert!(other.inode_changed().unwrap(), "re-created");
}

#[test]
fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let place = Place::new("fifo");
    let fifo = place.0.join("pipe.fits");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    // Nobody ever writes to it: opening it for reading the usual way waits forever.
    let out = run(&place, &["load", fifo.to_str().unwrap(), "cam"]);
    failed_with(&out, "it is not a regular file");
    assert!(Stream::open_in(&place.0, "cam").is_err());
}
