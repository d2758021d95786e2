//! `shmim save`, `load` and `log`, run for real: child processes, real signals, files checked by
//! fitsverify and by reading their header cards directly.
#![cfg(feature = "fits")]

mod fits_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use fits_support::*;
use rustix::process::{Pid, Signal, kill_process};

#[test]
fn save_and_load_round_trip_through_the_command_line() {
    let place = Place::new("roundtrip");
    succeeded(&run(
        &place,
        &["create", "cam", "--shape", "64x48", "--type", "u16"],
    ));
    succeeded(&run(
        &place,
        &["write", "cam", "--count", "3", "--rate", "0"],
    ));
    let file = place.0.join("cam.fits");
    let f = file.to_str().unwrap();
    let out = succeeded(&run(&place, &["save", "cam", f]));
    assert!(out.contains("saved frame 3 of cam (u16 64x48)"), "{out}");
    assert_fitsverify_clean(&file);
    let cards = primary_cards(&file);
    assert_eq!(card(&cards, "NAXIS1"), "64", "NAXIS1 is size[0]");
    assert_eq!(card(&cards, "NAXIS2"), "48");
    assert_eq!(card(&cards, "BZERO"), "32768", "u16 through BZERO");
    failed_with(&run(&place, &["save", "cam", f]), "--overwrite");
    succeeded(&run(&place, &["save", "cam", f, "--overwrite"]));
    let out = succeeded(&run(&place, &["load", f, "copy"]));
    assert!(out.contains("created stream copy (u16 64x48)"), "{out}");
    let out = succeeded(&run(&place, &["load", f, "copy"]));
    assert!(
        out.contains("filled stream copy") && out.contains("frame 2"),
        "{out}"
    );
}

/// Logs until `signal` comes; the open cube must be finished.
fn log_finishes_the_open_cube_on(signal: Signal, tag: &str) {
    let place = Place::new(tag);
    succeeded(&run(&place, &["create", "cam", "--shape", "32x32"]));
    let logs = place.logs();
    let _writer = writer(&place, "300");
    let (logger, pid) = endless_logger(&place);
    signal_once_writing(&place, pid, signal);
    let out = finish(logger, Duration::from_secs(30));
    let stdout = succeeded(&out);
    assert!(stdout.contains("interrupted"), "{stdout}");
    let files = place.log_files();
    assert_eq!(
        files.len(),
        1,
        "one finished cube, no temporary file: {files:?}"
    );
    assert!(files[0].starts_with("cam_") && files[0].ends_with(".fits"));
    let cube = logs.join(&files[0]);
    assert_fitsverify_clean(&cube);
    let cards = primary_cards(&cube);
    let frames: u64 = card(&cards, "NAXIS3").parse().unwrap();
    assert!(frames > 0 && frames < 100_000, "{frames}");
    assert_eq!(
        card(&cards, "NFRAMES"),
        frames.to_string(),
        "NAXIS3 = frames written"
    );
    // The frame table follows the image: its NAXIS2 (rows) is the frame count too.
    let bytes = std::fs::read(&cube).unwrap();
    let table = bytes
        .chunks(2880)
        .position(|b| b.starts_with(b"XTENSION= 'BINTABLE'"))
        .expect("a FRAMES table");
    let table_cards = header_cards(&bytes[table * 2880..]);
    assert_eq!(card(&table_cards, "NAXIS2"), frames.to_string());
}

#[test]
fn log_finishes_the_open_cube_on_ctrl_c() {
    log_finishes_the_open_cube_on(Signal::INT, "sigint");
}

#[test]
fn log_finishes_the_open_cube_on_sighup_too() {
    // The terminal closed (an ssh session dropped) is a stop request, not a crash.
    log_finishes_the_open_cube_on(Signal::HUP, "sighup");
}

#[test]
fn save_frames_interrupted_keeps_the_frames_taken_and_says_so() {
    let place = Place::new("save-sigint");
    succeeded(&run(&place, &["create", "cam", "--shape", "16x16"]));
    let _writer = writer(&place, "200");
    let file = place.logs().join("cube.fits");
    let saver = command(
        &place,
        &["save", "cam", file.to_str().unwrap(), "--frames", "100000"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let pid = Pid::from_child(&saver);
    let saver = Running(saver);
    signal_once_writing(&place, pid, Signal::INT);
    let out = finish(saver, Duration::from_secs(30));
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "an interrupted save is a failure");
    let last = stderr.lines().last().unwrap_or("");
    assert!(last.starts_with("shmim: interrupted: "), "{stderr}");
    assert_eq!(
        place.log_files(),
        ["cube.fits"],
        "the cube, no temporary file"
    );
    assert_fitsverify_clean(&file);
    let cards = primary_cards(&file);
    assert_eq!(card(&cards, "NAXIS3"), card(&cards, "NFRAMES"));
    assert!(
        last.contains(&format!(
            "holds the {} of 100000 frames",
            card(&cards, "NFRAMES")
        )),
        "{stderr}"
    );
}

/// `VmHWM` (peak resident memory) of process `pid`, in bytes.
fn peak_rss(pid: Pid) -> u64 {
    let pid = pid.as_raw_nonzero();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

#[test]
fn log_memory_stays_bounded_however_large_the_cube() {
    const MIB: u64 = 1 << 20;
    let place = Place::new("memory");
    succeeded(&run(&place, &["create", "cam", "--shape", "512x512"]));
    let logs = place.logs();
    let _writer = writer(&place, "400");
    let (logger, pid) = endless_logger(&place);
    // Let the open cube grow well past what the logger may hold: 6 frames of 1 MiB.
    let start = Instant::now();
    // The open cube is written in a private directory (`.NAME.<random>.tmp/`) in the logs.
    let cube_bytes = || {
        std::fs::read_dir(&logs)
            .unwrap()
            .filter_map(|e| e.ok())
            .flat_map(|e| match std::fs::read_dir(e.path()) {
                Ok(inner) => inner.filter_map(|f| f.ok()).map(|f| f.path()).collect(),
                Err(_) => vec![e.path()],
            })
            .filter_map(|p| p.metadata().ok())
            .map(|m| m.len())
            .sum::<u64>()
    };
    while cube_bytes() < 96 * MIB {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the cube did not grow"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let peak = peak_rss(pid);
    kill_process(pid, Signal::INT).unwrap();
    succeeded(&finish(logger, Duration::from_secs(30)));
    assert!(
        peak < 48 * MIB,
        "the logger's peak RSS was {} MiB while its cube held {} MiB",
        peak / MIB,
        cube_bytes() / MIB
    );
}

#[test]
fn log_stops_by_itself_after_the_cubes_asked_for() {
    let place = Place::new("cubes");
    succeeded(&run(
        &place,
        &["create", "cam", "--shape", "16x16", "--type", "i16"],
    ));
    let _writer = Running(
        command(&place, &["write", "cam", "--rate", "200"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let logs = place.logs();
    let log = |more: &[&str]| {
        let mut args = vec![
            "log",
            "cam",
            logs.to_str().unwrap(),
            "--frames-per-cube",
            "5",
        ];
        args.extend(more);
        run(&place, &args)
    };
    let out = log(&["--cubes", "2"]);
    let stdout = succeeded(&out);
    assert!(stdout.contains("in 2 cubes"), "{stdout}");
    // The same on CPUs of its own (CPU 0 for both threads exists on every machine… unless a
    // cpuset excludes it, which the refusal below then says).
    let placed = log(&["--cubes", "1", "--taker-cpu", "0", "--disk-cpu", "0"]);
    if placed.status.success() {
        assert!(succeeded(&placed).contains("in 1 cubes"));
    } else {
        failed_with(&placed, "cannot run the logger's taking thread on CPU 0");
    }
    failed_with(
        &log(&["--disk-cpu", "99999"]),
        "cannot run the logger's disk thread on CPU 99999",
    );
    let files = place.log_files();
    assert_eq!(
        files.len(),
        2 + usize::from(placed.status.success()),
        "{files:?}"
    );
    for f in files {
        let path = logs.join(f);
        assert_fitsverify_clean(&path);
        assert_eq!(card(&primary_cards(&path), "NAXIS3"), "5");
    }
}

#[test]
fn saving_complex_pixels_is_a_one_line_error_naming_the_type() {
    let place = Place::new("complex");
    succeeded(&run(
        &place,
        &["create", "z", "--shape", "4", "--type", "cf32"],
    ));
    let file = place.0.join("z.fits");
    failed_with(
        &run(&place, &["save", "z", file.to_str().unwrap()]),
        "CPLX32",
    );
    assert!(!file.exists());
}

#[test]
fn loading_a_truncated_file_is_a_one_line_error_and_creates_no_stream() {
    let place = Place::new("trunc");
    succeeded(&run(&place, &["create", "cam", "--shape", "64x64"]));
    let file = place.0.join("cam.fits");
    succeeded(&run(&place, &["save", "cam", file.to_str().unwrap()]));
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    failed_with(
        &run(&place, &["load", file.to_str().unwrap(), "copy"]),
        "truncated",
    );
    assert!(!place.0.join("copy.im.shm").exists());
}

#[test]
fn a_logger_stopped_before_any_frame_says_so_without_claiming_a_cube() {
    let place = Place::new("log-nothing");
    succeeded(&run(&place, &["create", "cam", "--shape", "8x8"]));
    let stream = shmim_core::Stream::open_in(&place.0, "cam").unwrap();
    let (logger, pid) = endless_logger(&place);
    // Registered as a reader: Ctrl-C is blocked and polled by then.
    let start = Instant::now();
    while stream.registered_readers().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "no reader");
        std::thread::sleep(Duration::from_millis(5));
    }
    kill_process(pid, Signal::INT).unwrap();
    let stdout = succeeded(&finish(logger, Duration::from_secs(30)));
    assert_eq!(
        stdout.trim_end(),
        "logged 0 frames of cam in 0 cubes, 0 missed (interrupted)"
    );
    assert!(place.log_files().is_empty());
}
