//! Helpers for tests (and the bench) that share memory with real child processes: a temporary
//! file mapped by both sides, and a child process that is killed if the test gives up on it.
//!
//! Children are this very binary re-executed (`std::env::current_exe()`) with an environment
//! variable naming their role, never `fork()`: the test harness is multithreaded.
//!
//! Under `--cfg loom`, `loom_stream` is the stream the loom models share.

#![allow(dead_code)] // each includer uses a subset

#[cfg(loom)]
pub mod loom_stream;

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use memmap2::MmapMut;

/// Environment variable naming a child's role.
pub const ROLE: &str = "SHMIM_SYNC_CHILD_ROLE";
/// Environment variable holding the path of the shared file.
pub const SHM: &str = "SHMIM_SYNC_CHILD_SHM";

/// A file mapped shared; the process that created it removes it on drop.
pub struct SharedFile {
    path: PathBuf,
    map: MmapMut,
    owner: bool,
}

impl SharedFile {
    /// Creates a zeroed file of `len` bytes with a unique name in the temporary directory.
    pub fn create(tag: &str, len: usize) -> Self {
        static NEXT: Mutex<u32> = Mutex::new(0);
        let n = {
            let mut next = NEXT.lock().unwrap();
            *next += 1;
            *next
        };
        let path =
            std::env::temp_dir().join(format!("shmim-sync-{tag}-{}-{n}", std::process::id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        file.set_len(len as u64).unwrap();
        Self::map(path, &file, true)
    }

    /// Maps an existing file (in a child).
    pub fn open(path: &Path) -> Self {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        Self::map(path.to_owned(), &file, false)
    }

    fn map(path: PathBuf, file: &File, owner: bool) -> Self {
        // SAFETY: a private temporary file that only the test's processes use, and only through
        // raw pointers and atomic views (never through `&[u8]` while another process writes).
        let map = unsafe { MmapMut::map_mut(file) }.unwrap();
        Self { path, map, owner }
    }

    /// The file's path, to hand to a child.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A pointer to a `T` at `offset` (checked in bounds and aligned; the mapping is
    /// page-aligned).
    pub fn at<T>(&self, offset: usize) -> *mut T {
        assert!(
            offset + size_of::<T>() <= self.map.len(),
            "offset {offset} out of the file"
        );
        assert_eq!(offset % align_of::<T>(), 0, "offset {offset} misaligned");
        self.map.as_ptr().cast_mut().wrapping_add(offset).cast()
    }
}

impl Drop for SharedFile {
    fn drop(&mut self) {
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A child process that is killed (SIGKILL) and reaped if still running when dropped, so a
/// failing test leaves no orphan behind.
pub struct ChildProcess(Child);

impl ChildProcess {
    /// Re-executes this binary with `args`, in `role`, sharing `shm`.
    pub fn spawn(args: &[&str], role: &str, shm: &Path) -> Self {
        let exe = std::env::current_exe().unwrap();
        let child = Command::new(exe)
            .args(args)
            .env(ROLE, role)
            .env(SHM, shm)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Self(child)
    }

    /// Takes charge of a child started otherwise (killed and reaped on drop likewise).
    pub fn from_child(child: Child) -> Self {
        Self(child)
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Waits for the child to exit; kills it and panics at `deadline` (a watchdog).
    pub fn wait_until(&mut self, deadline: Instant) -> ExitStatus {
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.0.kill();
                let _ = self.0.wait();
                panic!("watchdog: child {} did not exit in time", self.0.id());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// `kill -9` and reap.
    pub fn kill(&mut self) -> ExitStatus {
        self.0.kill().unwrap();
        self.0.wait().unwrap()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Polls `ready` until it is true; panics at `deadline`.
pub fn wait_for(what: &str, deadline: Instant, mut ready: impl FnMut() -> bool) {
    while !ready() {
        assert!(Instant::now() < deadline, "watchdog: {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}
