//! Helpers of the FITS tests: private directories, the independent readers (astropy and
//! fitsverify), and a writer child process.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value as Json;

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
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
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
