//! Helpers of the tests of `shmim save`, `load` and `log`: private directories, `shmim` child
//! processes, header cards read straight from a file, fitsverify, small file systems.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

#[path = "../../../shmim-fits/tests/common/craft.rs"]
mod craft;
pub use craft::*;

/// A private stream directory with a `logs` directory in it, removed when dropped.
pub struct Place(pub PathBuf);

impl Place {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("shmim-fits-cli-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("logs")).unwrap();
        Self(p)
    }

    pub fn logs(&self) -> PathBuf {
        self.0.join("logs")
    }

    pub fn log_files(&self) -> Vec<String> {
        entries(&self.logs())
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `shmim` child process, killed if still running when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `shmim` under test: this build's, or `SHMIM_TEST_BIN` (to run these tests against another
/// build, e.g. an older one, and see which fail).
pub fn shmim_bin() -> PathBuf {
    std::env::var_os("SHMIM_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_shmim")))
}

pub fn command(place: &Place, args: &[&str]) -> Command {
    let mut c = Command::new(shmim_bin());
    c.arg("--dir").arg(&place.0).args(args).stdin(Stdio::null());
    c
}

/// Runs `shmim --dir PLACE ARGS…` to completion (a child that hangs fails the test).
pub fn run(place: &Place, args: &[&str]) -> Output {
    let child = command(place, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(Running(child), Duration::from_secs(60))
}

/// Waits for a child to exit within `limit` and collects its output.
pub fn finish(mut child: Running, limit: Duration) -> Output {
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

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn succeeded(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    stdout
}

/// A failure reported on one `shmim: …` line containing `needle`.
pub fn failed_with(out: &Output, needle: &str) {
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
pub fn header_cards(bytes: &[u8]) -> Vec<(String, String)> {
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
pub fn primary_cards(path: &Path) -> Vec<(String, String)> {
    header_cards(&std::fs::read(path).unwrap())
}

pub fn card(cards: &[(String, String)], name: &str) -> String {
    cards
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no {name} in {cards:?}"))
        .1
        .clone()
}

pub fn assert_fitsverify_clean(path: &Path) {
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

/// Waits until a file is being written in the logs directory (its private temporary directory
/// is there) and has had time to take some frames, then sends `signal` to `pid`.
pub fn signal_once_writing(place: &Place, pid: Pid, signal: Signal) {
    let start = Instant::now();
    while !place.log_files().iter().any(|f| f.ends_with(".tmp")) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no file was opened"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(250));
    kill_process(pid, signal).unwrap();
}

/// `shmim write cam --rate HZ` in the background, until dropped.
pub fn writer(place: &Place, hz: &str) -> Running {
    let child = command(place, &["write", "cam", "--rate", hz])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Running(child)
}

/// `shmim log cam LOGS` with cubes larger than any test fills (so only Ctrl-C ends it).
pub fn endless_logger(place: &Place) -> (Running, Pid) {
    let logs = place.logs();
    let args = [
        "log",
        "cam",
        logs.to_str().unwrap(),
        "--frames-per-cube",
        "100000",
    ];
    spawn(place, &args)
}

/// A background `shmim ARGS…` with its output captured, and its PID.
pub fn spawn(place: &Place, args: &[&str]) -> (Running, Pid) {
    let child = command(place, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = Pid::from_child(&child);
    (Running(child), pid)
}

/// A tmpfs of a few MiB mounted on a directory (to fill a disk for real), unmounted when
/// dropped. Mounting needs root, as CI runs.
pub struct SmallTmpfs(pub PathBuf);

impl SmallTmpfs {
    pub fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs on {} needs root (CI runs as root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Names of the entries of `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The cards of a 4x3 i16 primary image, then `extra`.
pub fn small_image(extra: &[String]) -> (Vec<String>, Vec<u8>) {
    let mut cards = image_cards(16, &[4, 3]);
    cards.extend_from_slice(extra);
    let data = (0..12i16).flat_map(|v| v.to_be_bytes()).collect();
    (cards, data)
}

/// A disk that fails or is slow at `fsync`: `fits_support/fsync_shim.c`, compiled with the
/// system's C compiler and preloaded into a `shmim` child (real files; only fsync's answer or
/// its speed is changed).
pub struct FsyncShim(PathBuf);

impl FsyncShim {
    pub fn build(tag: &str) -> Self {
        let source = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fits_support/fsync_shim.c"
        );
        let lib =
            std::env::temp_dir().join(format!("shmim-fsync-shim-{}-{tag}.so", std::process::id()));
        let out = Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&lib)
            .arg(source)
            .arg("-ldl")
            .output()
            .expect("a C compiler (cc)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(lib)
    }

    /// `command` with its `fsync` call number `n` (1-based) failing with EIO.
    pub fn fail_at(&self, command: &mut Command, n: u32) {
        command
            .env("LD_PRELOAD", &self.0)
            .env("SHMIM_TEST_FSYNC_FAIL_AT", n.to_string());
    }

    /// `command` with every `fsync` taking `ms` milliseconds more.
    pub fn slow(&self, command: &mut Command, ms: u32) {
        command
            .env("LD_PRELOAD", &self.0)
            .env("SHMIM_TEST_FSYNC_DELAY_MS", ms.to_string());
    }
}

impl Drop for FsyncShim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
