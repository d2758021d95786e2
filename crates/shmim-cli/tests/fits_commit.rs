//! How `shmim log` hands its cubes to the disk: a flush that fails keeps the cube and stops
//! logging, saying where the cube is; a disk slower than the frames holds the logger back (a
//! bounded number of cubes waits for its flush) and the frames it could not take are counted
//! missed. The disk's failures and slowness are real `fsync` answers, from a shim preloaded into
//! the logger (`fits_support/fsync_shim.c`); the files are real files.
#![cfg(feature = "fits")]

mod fits_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fits_support::*;

/// The number in `logged N frames` of a logger's summary.
fn logged_frames(stdout: &str) -> u64 {
    stdout
        .split("logged ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary in {stdout:?}"))
}

fn number(cards: &[(String, String)], name: &str) -> u64 {
    card(cards, name).parse().unwrap()
}

/// A place with an 8x8 u16 stream `cam` and a writer publishing it at `hz`, and the command
/// (not started) `shmim log cam LOGS ARGS…`.
fn logging(tag: &str, hz: &str, args: &[&str]) -> (Place, Running, Command) {
    let place = Place::new(tag);
    succeeded(&run(
        &place,
        &["create", "cam", "--shape", "8x8", "--type", "u16"],
    ));
    let writer = writer(&place, hz);
    let logs = place.logs();
    let mut all = vec!["log", "cam", logs.to_str().unwrap()];
    all.extend_from_slice(args);
    let logger = command(&place, &all);
    (place, writer, logger)
}

#[test]
fn a_cube_that_cannot_be_flushed_to_disk_is_kept_and_logging_stops_saying_where() {
    let shim = FsyncShim::build("eio");
    let (place, _writer, mut logger) = logging("eio", "500", &["--frames-per-cube", "20"]);
    let logs = place.logs();
    // fsync 1 is the first cube's, 2 the directory's after its rename, 3 the second cube's.
    shim.fail_at(&mut logger, 3);
    let child = logger
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Logging stops by itself (it used to run on, deleting every cube it finished).
    let out = finish(Running(child), Duration::from_secs(60));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("stopped by an error"), "{stdout}");
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("shmim: flush to disk ") && last.contains("Input/output error"),
        "{stderr}"
    );
    let kept = std::path::PathBuf::from(
        last.split("the finished file is kept at ")
            .nth(1)
            .unwrap_or_else(|| panic!("no kept file in {last:?}")),
    );
    // The second cube, whole, where it was written; the one open at the failure is finished and
    // renamed into place like the first.
    assert_fitsverify_clean(&kept);
    let kept_cards = primary_cards(&kept);
    assert_eq!(number(&kept_cards, "NFRAMES"), 20);
    let files = place.log_files();
    let hidden: Vec<_> = files.iter().filter(|f| f.ends_with(".tmp")).collect();
    assert_eq!(hidden.len(), 1, "only the kept cube's directory: {files:?}");
    assert_eq!(kept.parent().unwrap(), logs.join(hidden[0]));
    let placed: Vec<_> = files.iter().filter(|f| f.ends_with(".fits")).collect();
    assert!(!placed.is_empty(), "{files:?}");
    let mut frames = number(&kept_cards, "NFRAMES");
    for f in &placed {
        let path = logs.join(f);
        assert_fitsverify_clean(&path);
        frames += number(&primary_cards(&path), "NFRAMES");
    }
    // Every frame the logger reports is in a file, none thrown away.
    assert_eq!(frames, logged_frames(&stdout), "{stdout}");
    assert!(stderr.contains(&format!("cube {}: 20 frames", kept.display())));
}

#[test]
fn a_slow_disk_holds_the_logger_back_and_the_frames_it_could_not_take_are_counted_missed() {
    let shim = FsyncShim::build("slow");
    let cubes = 30;
    let (place, _writer, mut logger) = logging(
        "slow",
        "1000",
        &["--frames-per-cube", "1", "--cubes", &cubes.to_string()],
    );
    let logs = place.logs();
    // Each cube's flush (and its directory's) takes 20 ms: far slower than a frame a
    // millisecond.
    shim.slow(&mut logger, 20);
    let mut child = Running(
        logger
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Cubes not yet in place are in private directories: never more than the one being
    // flushed and the one being written or waiting for that flush (the queue used to grow with
    // every frame).
    let start = Instant::now();
    let mut most_waiting = 0;
    while child.0.try_wait().unwrap().is_none() {
        assert!(start.elapsed() < Duration::from_secs(60), "log hung");
        let waiting = place
            .log_files()
            .iter()
            .filter(|f| f.ends_with(".tmp"))
            .count();
        most_waiting = most_waiting.max(waiting);
        std::thread::sleep(Duration::from_millis(1));
    }
    let out = finish(child, Duration::from_secs(10));
    let stdout = succeeded(&out);
    assert!(most_waiting <= 2, "{most_waiting} cubes waited at once");
    let files = place.log_files();
    assert_eq!(files.len(), cubes, "every cube in place: {files:?}");
    // Each cube counts, as missed, the frames published since the one before (its CNT0 the
    // first frame's number): none lost, and the slow disk made the logger miss some.
    let mut previous: Option<u64> = None;
    let mut missed_between = 0;
    for f in &files {
        let cards = primary_cards(&logs.join(f));
        assert_eq!(number(&cards, "NFRAMES"), 1);
        let (cnt0, missed) = (number(&cards, "CNT0"), number(&cards, "NMISSED"));
        if let Some(p) = previous {
            assert_eq!(missed, cnt0 - p - 1, "{f}: NMISSED against CNT0");
            missed_between += missed;
        }
        previous = Some(cnt0);
    }
    assert!(missed_between > 0, "{stdout}");
}

#[test]
fn a_saved_file_that_cannot_be_flushed_to_disk_is_kept_and_the_error_says_where() {
    let shim = FsyncShim::build("save-eio");
    let place = Place::new("save-eio");
    succeeded(&run(&place, &["create", "cam", "--shape", "8x8"]));
    let dest = place.logs().join("frame.fits");
    let mut save = command(&place, &["save", "cam", dest.to_str().unwrap()]);
    shim.fail_at(&mut save, 1);
    let child = save
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish(Running(child), Duration::from_secs(60));
    failed_with(&out, "Input/output error");
    let (_, stderr) = text(&out);
    let kept = stderr
        .trim_end()
        .split("the finished file is kept at ")
        .nth(1)
        .unwrap_or_else(|| panic!("no kept file in {stderr:?}"));
    assert!(!dest.exists());
    assert_fitsverify_clean(std::path::Path::new(kept));
}
