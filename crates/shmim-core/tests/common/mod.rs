//! Helpers for tests: private stream directories and child processes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

/// A private stream directory, removed on drop.
pub struct StreamDir(PathBuf);

impl StreamDir {
    pub fn new(tag: &str) -> Self {
        static N: Mutex<u32> = Mutex::new(0);
        let n = {
            let mut n = N.lock().unwrap();
            *n += 1;
            *n
        };
        let dir = std::env::temp_dir().join(format!("shmim-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(format!("{name}.im.shm"))
    }
}

impl Drop for StreamDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The environment variable that tells a re-executed test binary which child role to play.
pub const ROLE: &str = "SHMIM_TEST_ROLE";

/// Re-executes this test binary to run only `test_name` with `role` and `args` in the
/// environment (the child test reads them with [`role`]).
pub fn spawn_child(test_name: &str, role: &str, dir: &Path, args: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env("MILK_SHM_DIR", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (k, v) in args {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// The role this process was started for, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// An argument passed to a child.
pub fn arg(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child needs {name}"))
}

/// Waits for a child and asserts it succeeded.
pub fn expect_success(mut child: Child) {
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {status}");
}

/// Polls `cond` until it holds or `deadline_secs` pass (then panics with `what`).
pub fn eventually(what: &str, deadline_secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(deadline_secs);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}
