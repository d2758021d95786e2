//! Helpers of the FITS tests: private directories, the independent readers (astropy and
//! fitsverify), and a writer child process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value as Json;

pub mod craft;

/// A private directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static SEQ: Mutex<u32> = Mutex::new(0);
        let n = {
            let mut seq = SEQ.lock().unwrap_or_else(|p| p.into_inner());
            *seq += 1;
            *seq
        };
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("shmim-fits-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Names of the files in the directory, sorted.
    pub fn files(&self) -> Vec<String> {
        files_in(&self.0)
    }
}

/// Names of the files in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Python that has astropy: `SHMIM_PYTHON`, else Debian's (`python3-astropy`, installed by
/// `cargo xtask ci --only setup`).
fn python() -> PathBuf {
    std::env::var_os("SHMIM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/python3"))
}

fn support(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(script)
}

/// What astropy reads in `files`: `{path: [hdu, …]}` (see `tests/support/astropy_report.py`).
pub fn astropy(files: &[&Path]) -> Json {
    let out = Command::new(python())
        .arg(support("astropy_report.py"))
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (run `cargo xtask ci --only setup`)",
                python().display()
            )
        });
    assert!(
        out.status.success(),
        "astropy could not read {files:?}: {} (astropy missing? run `cargo xtask ci --only setup`)",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Writes a FITS file with astropy (see `tests/support/astropy_write.py` for the kinds).
pub fn astropy_write(kind: &str, path: &Path) {
    let out = Command::new(python())
        .arg(support("astropy_write.py"))
        .arg(kind)
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python().display()));
    assert!(
        out.status.success(),
        "astropy could not write {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts that fitsverify (HEASARC's conformance checker, Debian's `fitsverify`) finds no
/// error and no warning in `path`.
pub fn assert_fitsverify_clean(path: &Path) {
    let out = Command::new("fitsverify")
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run fitsverify: {e} (run `cargo xtask ci --only setup`)")
        });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("found 0 warning(s) and 0 error(s)"),
        "fitsverify {}:\n{text}",
        path.display()
    );
}

/// The header card `key` of an astropy HDU report: `(value, comment)`.
pub fn card<'a>(hdu: &'a Json, key: &str) -> Option<(&'a Json, &'a str)> {
    hdu["cards"]
        .as_array()?
        .iter()
        .find_map(|c| (c[0].as_str()? == key).then(|| (&c[1], c[2].as_str().unwrap_or(""))))
}

/// Waits (at most 10 s) until a reader has registered on `s`.
pub fn wait_for_reader(s: &shmim_core::Stream) {
    let start = std::time::Instant::now();
    while s.registered_readers().is_empty() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "no reader registered"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// The environment variable that turns a test binary into a writer child process.
pub const WRITER_ENV: &str = "SHMIM_FITS_TEST_WRITER";

/// A writer child process: this test binary re-executed to run [`writer_child_main`] (never a
/// `fork()` of the multithreaded test process). Killed on drop if still running.
pub struct WriterChild(pub std::process::Child);

impl WriterChild {
    /// Publishes `frames` frames of stream `name` of `dir` at `rate` Hz, every pixel of a frame
    /// equal to its frame number (f32 streams).
    pub fn spawn(test_binary_entry: &str, dir: &Path, name: &str, frames: u64, rate: f64) -> Self {
        Self::bursts(test_binary_entry, dir, name, frames, rate, 1)
    }

    /// Like [`Self::spawn`], publishing `burst` frames back to back (as fast as it can) at each
    /// tick of `rate` Hz: a camera read out in bursts, or a writer catching up.
    pub fn bursts(
        test_binary_entry: &str,
        dir: &Path,
        name: &str,
        frames: u64,
        rate: f64,
        burst: u64,
    ) -> Self {
        let exe = std::env::current_exe().unwrap();
        let child = Command::new(exe)
            .args([
                "--exact",
                test_binary_entry,
                "--nocapture",
                "--test-threads=1",
            ])
            .env(
                WRITER_ENV,
                format!("{}|{name}|{frames}|{rate}|{burst}", dir.display()),
            )
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Self(child)
    }

    pub fn exited(&mut self) -> bool {
        self.0.try_wait().unwrap().is_some()
    }

    pub fn wait_success(mut self) {
        let status = self.0.wait().unwrap();
        assert!(status.success(), "writer child: {status}");
    }
}

impl Drop for WriterChild {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The body of the writer child (does nothing unless [`WRITER_ENV`] is set).
pub fn writer_child_main() {
    let Ok(spec) = std::env::var(WRITER_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let (dir, name) = (parts[0], parts[1]);
    let frames: u64 = parts[2].parse().unwrap();
    let rate: f64 = parts[3].parse().unwrap();
    let burst: u64 = parts[4].parse().unwrap();
    let mut s = shmim_core::Stream::open_in(dir, name).unwrap();
    let n = s.nelement() as usize;
    let period = std::time::Duration::from_secs_f64(1.0 / rate);
    let start = std::time::Instant::now();
    for k in 0..frames {
        let frame = s.cnt0() + 1;
        s.write_frame(&vec![frame as f32; n]).unwrap();
        if (k + 1) % burst == 0 {
            let next = start + period * ((k + 1) / burst) as u32;
            std::thread::sleep(next.saturating_duration_since(std::time::Instant::now()));
        }
    }
}

/// One cube of `side`×`side` f32 frames as astropy reads it (and fitsverify finds valid): frames (every pixel of a frame), the table's `cnt0`, `atime`,
/// `writetime` columns, and the `NFRAMES`, `NMISSED` cards.
pub struct SeenCube {
    pub pixels: Vec<Vec<f32>>,
    pub cnt0: Vec<u64>,
    pub atime: Vec<i64>,
    pub writetime: Vec<i64>,
    pub nframes: u64,
    pub nmissed: u64,
}

pub fn read_cube(side: u32, path: &Path) -> SeenCube {
    assert_fitsverify_clean(path);
    let report = astropy(&[path]);
    let hdus = &report[path.to_str().unwrap()];
    let (image, table): (&Json, &Json) = (&hdus[0], &hdus[1]);
    assert_eq!(table["name"], "FRAMES");
    let shape: Vec<u64> = serde_json::from_value(image["shape"].clone()).unwrap();
    let frame_len = (side * side) as usize;
    assert_eq!(
        &shape[1..],
        [side as u64, side as u64],
        "a frame is NAXIS1 x NAXIS2"
    );
    let hex = image["hex"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let values: Vec<f32> = bytes
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let column = |name: &str| table["columns"][name].as_array().unwrap().clone();
    let as_u64 = |v: Vec<Json>| v.iter().map(|x| x.as_u64().unwrap()).collect::<Vec<_>>();
    let as_i64 = |v: Vec<Json>| v.iter().map(|x| x.as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(table["column_dtypes"]["cnt0"], "uint64");
    assert_eq!(table["units"]["atime"], "ns");
    let cube = SeenCube {
        pixels: values.chunks(frame_len).map(<[f32]>::to_vec).collect(),
        cnt0: as_u64(column("cnt0")),
        atime: as_i64(column("atime")),
        writetime: as_i64(column("writetime")),
        nframes: card(image, "NFRAMES").unwrap().0.as_u64().unwrap(),
        nmissed: card(image, "NMISSED").unwrap().0.as_u64().unwrap(),
    };
    assert_eq!(shape[0], cube.nframes, "NAXIS3 = NFRAMES");
    assert_eq!(cube.pixels.len() as u64, cube.nframes);
    assert_eq!(
        cube.cnt0.len() as u64,
        cube.nframes,
        "one table row per frame"
    );
    cube
}

/// The pixels astropy reads from the primary image of `path`, as `f64`s (astropy's scaled
/// floats), with its dtype name.
pub fn astropy_f64(path: &Path) -> (String, Vec<f64>) {
    let report = astropy(&[path]);
    let hdu = &report[path.to_str().unwrap()][0];
    let hex = hdu["hex"].as_str().unwrap();
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let values = bytes
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (hdu["dtype"].as_str().unwrap().to_owned(), values)
}
