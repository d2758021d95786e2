//! `shmim save`, `load` and `log`, run for real: child processes, real signals, files checked by
//! fitsverify and by reading their header cards directly.
#![cfg(feature = "fits")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// A private stream directory with a `logs` directory in it, removed when dropped.
struct Place(PathBuf);

impl Place {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("shmim-fits-cli-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("logs")).unwrap();
        Self(p)
    }

    fn logs(&self) -> PathBuf {
        self.0.join("logs")
    }

    fn log_files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.logs())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `shmim` child process, killed if still running when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(place: &Place, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shmim"));
    c.arg("--dir").arg(&place.0).args(args).stdin(Stdio::null());
    c
}

/// Runs `shmim --dir PLACE ARGS…` to completion (a child that hangs fails the test).
fn run(place: &Place, args: &[&str]) -> Output {
    let child = command(place, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(Running(child), Duration::from_secs(60))
}

/// Waits for a child to exit within `limit` and collects its output.
fn finish(mut child: Running, limit: Duration) -> Output {
    let start = Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < limit,
            "shmim did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let Running(c) = &mut child;
    let mut out = Output {
        status: c.wait().unwrap(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    use std::io::Read;
    if let Some(s) = c.stdout.as_mut() {
        s.read_to_end(&mut out.stdout).unwrap();
    }
    if let Some(s) = c.stderr.as_mut() {
        s.read_to_end(&mut out.stderr).unwrap();
    }
    out
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn succeeded(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    stdout
}

/// A failure reported on one `shmim: …` line containing `needle`.
fn failed_with(out: &Output, needle: &str) {
    let (_, stderr) = text(out);
    assert!(!out.status.success());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("shmim: ") && lines[0].contains(needle),
        "{stderr}"
    );
}

/// The `NAME = value` cards of the header starting at `bytes`, read straight from its
/// 80-character records.
fn header_cards(bytes: &[u8]) -> Vec<(String, String)> {
    bytes
        .chunks(80)
        .take_while(|c| !c.starts_with(b"END "))
        .filter(|c| c.len() == 80 && &c[8..10] == b"= ")
        .map(|c| {
            let c = String::from_utf8_lossy(c);
            let value = c[10..].split('/').next().unwrap_or("").trim().to_owned();
            (c[..8].trim().to_owned(), value)
        })
        .collect()
}

/// The cards of a FITS file's primary header.
fn primary_cards(path: &Path) -> Vec<(String, String)> {
    header_cards(&std::fs::read(path).unwrap())
}

fn card(cards: &[(String, String)], name: &str) -> String {
    cards
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {cards:?}"))
        .1
        .clone()
}

fn assert_fitsverify_clean(path: &Path) {
    let out = Command::new("fitsverify")
        .arg(path)
        .output()
        .expect("fitsverify (run `cargo xtask ci --only setup`)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("found 0 warning(s) and 0 error(s)"),
        "{report}"
    );
}

/// Waits until a file is being written in the logs directory (its temporary name is there) and
/// has had time to take some frames, then sends SIGINT to `pid`.
fn ctrl_c_once_writing(place: &Place, pid: Pid) {
    let start = Instant::now();
    while !place.log_files().iter().any(|f| f.ends_with(".tmp")) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no file was opened"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(250));
    kill_process(pid, Signal::INT).unwrap();
}

/// `shmim write cam --rate HZ` in the background, until dropped.
fn writer(place: &Place, hz: &str) -> Running {
    let child = command(place, &["write", "cam", "--rate", hz])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Running(child)
}

/// `shmim log cam LOGS` with cubes larger than any test fills (so only Ctrl-C ends it).
fn endless_logger(place: &Place) -> (Running, Pid) {
    let logs = place.logs();
    let args = [
        "log",
        "cam",
        logs.to_str().unwrap(),
        "--frames-per-cube",
        "100000",
    ];
    let child = command(place, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = Pid::from_child(&child);
    (Running(child), pid)
}

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

#[test]
fn log_finishes_the_open_cube_on_ctrl_c() {
    let place = Place::new("sigint");
    succeeded(&run(&place, &["create", "cam", "--shape", "32x32"]));
    let logs = place.logs();
    let _writer = writer(&place, "300");
    let (logger, pid) = endless_logger(&place);
    ctrl_c_once_writing(&place, pid);
    let out = finish(logger, Duration::from_secs(30));
    let stdout = succeeded(&out);
    assert!(stdout.contains("stopped by Ctrl-C"), "{stdout}");
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
    ctrl_c_once_writing(&place, pid);
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
    let cube_bytes = || {
        std::fs::read_dir(&logs)
            .unwrap()
            .filter_map(|e| e.ok()?.metadata().ok())
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
    let out = run(
        &place,
        &[
            "log",
            "cam",
            logs.to_str().unwrap(),
            "--frames-per-cube",
            "5",
            "--cubes",
            "2",
        ],
    );
    let stdout = succeeded(&out);
    assert!(stdout.contains("in 2 cubes"), "{stdout}");
    let files = place.log_files();
    assert_eq!(files.len(), 2, "{files:?}");
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
