//! How `shmim save` and `shmim log` end, and where they write: a huge number of frames asked for,
//! a disk that fills up, a writer that stops, odd file names, and stream names and
//! keywords that FITS reserves. Whatever ends a cube, the file is valid (fitsverify) and holds the
//! frames written; nothing temporary is left.
#![cfg(feature = "fits")]

mod fits_support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use fits_support::*;
use rustix::process::{Signal, kill_process};
use shmim_core::{Stream, Value};

/// More frames than any disk holds: 2^43 (the planned cube of a 64x64 u32 stream is 2^57 bytes).
const HUGE: &str = "8796093022208";

/// The last line of stderr.
fn last_line(out: &std::process::Output) -> String {
    text(out).1.lines().last().unwrap_or("").to_owned()
}

#[test]
fn asking_for_more_frames_than_a_disk_holds_neither_crashes_nor_fills_the_disk() {
    let place = Place::new("huge");
    // A small file system: a cube that tried to reserve its planned size would hit its end at
    // once, not the machine's disk.
    let small = SmallTmpfs::mount(&place.0.join("small"), "16m");
    succeeded(&run(
        &place,
        &["create", "cam", "--shape", "64x64", "--type", "u32"],
    ));
    let file = small.0.join("huge.fits");
    let f = file.to_str().unwrap();
    // No writer: the save gives up after its timeout, having written nothing.
    let out = run(
        &place,
        &["save", "cam", f, "--frames", HUGE, "--timeout", "0.3"],
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        last_line(&out).starts_with("shmim: no new frame of cam"),
        "{:?}",
        text(&out)
    );
    assert!(entries(&small.0).is_empty(), "{:?}", entries(&small.0));
    // With a writer, until Ctrl-C: a valid cube of the frames taken.
    let _writer = writer(&place, "200");
    let (saver, pid) = spawn(&place, &["save", "cam", f, "--frames", HUGE]);
    std::thread::sleep(Duration::from_millis(300));
    kill_process(pid, Signal::INT).unwrap();
    let out = finish(saver, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(last_line(&out).contains("frames taken"), "{:?}", text(&out));
    assert_fitsverify_clean(&file);
    let cards = primary_cards(&file);
    assert_eq!(card(&cards, "NAXIS3"), card(&cards, "NFRAMES"));
    // The same for a logger's cubes.
    let logs = small.0.join("logs");
    std::fs::create_dir(&logs).unwrap();
    let args = [
        "log",
        "cam",
        logs.to_str().unwrap(),
        "--frames-per-cube",
        HUGE,
    ];
    let (logger, pid) = spawn(&place, &args);
    std::thread::sleep(Duration::from_millis(300));
    kill_process(pid, Signal::INT).unwrap();
    succeeded(&finish(logger, Duration::from_secs(30)));
    let cubes = entries(&logs);
    assert_eq!(cubes.len(), 1, "{cubes:?}");
    assert_fitsverify_clean(&logs.join(&cubes[0]));
}

#[test]
fn a_full_disk_ends_logging_with_the_cubes_finished_and_says_why() {
    let place = Place::new("full");
    let small = SmallTmpfs::mount(&place.0.join("small"), "1m");
    succeeded(&run(&place, &["create", "cam", "--shape", "64x64"]));
    let _writer = writer(&place, "500");
    // 16 KiB frames, cubes of 40 (640 KiB): the second cube fills the file system.
    let args = [
        "log",
        "cam",
        small.0.to_str().unwrap(),
        "--frames-per-cube",
        "40",
    ];
    let out = finish(spawn(&place, &args).0, Duration::from_secs(60));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        last_line(&out).contains("No space left on device"),
        "{stderr}"
    );
    assert!(
        stdout.contains("in 2 cubes") && stdout.contains("stopped by an error"),
        "{stdout}"
    );
    let cubes = entries(&small.0);
    assert_eq!(cubes.len(), 2, "two cubes, nothing temporary: {cubes:?}");
    for c in &cubes {
        let path = small.0.join(c);
        assert_fitsverify_clean(&path);
        let cards = primary_cards(&path);
        assert_eq!(card(&cards, "NAXIS3"), card(&cards, "NFRAMES"));
    }
    let second: u64 = card(&primary_cards(&small.0.join(&cubes[1])), "NFRAMES")
        .parse()
        .unwrap();
    assert!(second > 0, "the cube the disk filled keeps its frames");
}

#[test]
fn a_save_that_waits_in_vain_keeps_the_frames_it_took() {
    let place = Place::new("timeout");
    // A circular buffer: the three frames written back to back are all taken.
    succeeded(&run(
        &place,
        &["create", "cam", "--shape", "16x16", "--cb", "8"],
    ));
    let file = place.0.join("three.fits");
    let (saver, _) = spawn(
        &place,
        &[
            "save",
            "cam",
            file.to_str().unwrap(),
            "--frames",
            "5",
            "--timeout",
            "1",
        ],
    );
    let s = Stream::open_in(&place.0, "cam").unwrap();
    let start = Instant::now();
    while s.registered_readers().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "no reader");
        std::thread::sleep(Duration::from_millis(5));
    }
    succeeded(&run(
        &place,
        &["write", "cam", "--count", "3", "--rate", "0"],
    ));
    let out = finish(saver, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let last = last_line(&out);
    assert!(
        last.starts_with("shmim: no new frame within 1.0 s")
            && last.ends_with("holds the 3 of 5 frames taken"),
        "{last}"
    );
    assert_fitsverify_clean(&file);
    assert_eq!(card(&primary_cards(&file), "NAXIS3"), "3");
}

#[test]
fn files_are_written_in_a_private_directory_under_any_name_the_file_system_takes() {
    let place = Place::new("names");
    succeeded(&run(&place, &["create", "cam", "--shape", "8x8"]));
    // A 245-byte file name: the temporary name used to add 20 bytes and pass the limit.
    let long = place.0.join(format!("{}.fits", "n".repeat(240)));
    succeeded(&run(&place, &["save", "cam", long.to_str().unwrap()]));
    assert_fitsverify_clean(&long);
    // A missing directory is said to be missing.
    let nowhere = place.0.join("missing/x.fits");
    failed_with(
        &run(&place, &["save", "cam", nowhere.to_str().unwrap()]),
        "No such file or directory",
    );
    // While a cube is written: one private directory (mode 0700, 64 random bits in its name)
    // holds it; a symlink planted at a name cannot be followed.
    let _writer = writer(&place, "100");
    let cube = place.logs().join("cube.fits");
    let (saver, pid) = spawn(
        &place,
        &["save", "cam", cube.to_str().unwrap(), "--frames", "100000"],
    );
    let start = Instant::now();
    let tmp = loop {
        if let Some(t) = entries(&place.logs())
            .into_iter()
            .find(|e| e.ends_with(".tmp"))
        {
            break t;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no temporary");
        std::thread::sleep(Duration::from_millis(5));
    };
    let meta = std::fs::symlink_metadata(place.logs().join(&tmp)).unwrap();
    let random = tmp
        .strip_prefix(".cube.fits.")
        .and_then(|t| t.strip_suffix(".tmp"))
        .unwrap_or("");
    assert!(
        meta.is_dir()
            && meta.permissions().mode() & 0o777 == 0o700
            && random.len() == 16
            && random.bytes().all(|b| b.is_ascii_hexdigit()),
        "{tmp}: {meta:?}"
    );
    // Ctrl-C once a frame is in (the file grows past its header).
    let inner = place
        .logs()
        .join(&tmp)
        .join(&entries(&place.logs().join(&tmp))[0]);
    while std::fs::metadata(&inner).map_or(0, |m| m.len()) <= 2880 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no frame written"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    kill_process(pid, Signal::INT).unwrap();
    let _ = finish(saver, Duration::from_secs(30));
    assert_eq!(entries(&place.logs()), ["cube.fits"]);
}

#[test]
fn reserved_keywords_and_long_stream_names_give_files_fitsverify_finds_clean() {
    let place = Place::new("reserved");
    let name = "s".repeat(75);
    succeeded(&run(
        &place,
        &["create", &name, "--shape", "8x8", "--keywords", "4"],
    ));
    let s = Stream::open_in(&place.0, &name).unwrap();
    s.set_keyword("TFIELDS", Value::Long(3), "a table's")
        .unwrap();
    s.set_keyword("TFORM1", Value::Str("1K".into()), "")
        .unwrap();
    s.set_keyword("EXPTIME", Value::Double(0.5), "s").unwrap();
    let file = place.0.join("r.fits");
    let out = run(&place, &["save", &name, file.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("keyword \"TFIELDS\" not saved: FITS or shmim writes a card")
            && stderr.contains("keyword \"TFORM1\" not saved"),
        "{stderr}"
    );
    assert_fitsverify_clean(&file);
    let cards = primary_cards(&file);
    assert_eq!(card(&cards, "EXPTIME"), "0.5");
    assert!(cards.iter().any(|(n, _)| n == "LONGSTRN"), "{cards:?}");
}
