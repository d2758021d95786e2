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
    child_command(test_name, role, dir, args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// The command of [`spawn_child`] and [`Peer::spawn`], without its standard streams.
fn child_command(test_name: &str, role: &str, dir: &Path, args: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env("MILK_SHM_DIR", dir);
    for (k, v) in args {
        cmd.env(k, v);
    }
    cmd
}

/// A child talking to its parent in lines: the parent writes commands to its stdin, the child
/// answers on stdout with `@` and a word (the test harness prints its own text there too, even
/// on the same line as the first answer: [`Peer::reply`] takes what follows the `@`).
pub struct Peer {
    child: Child,
    /// `None` once closed.
    to: Option<std::process::ChildStdin>,
    from: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Peer {
    /// Re-executes this test binary as [`spawn_child`] does, with piped stdin and stdout.
    pub fn spawn(test_name: &str, role: &str, dir: &Path, args: &[(&str, String)]) -> Self {
        let mut child = child_command(test_name, role, dir, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let to = child.stdin.take();
        let from = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        Self { child, to, from }
    }

    /// Sends one line.
    pub fn send(&mut self, line: &str) {
        let to = self.to.as_mut().expect("stdin still open");
        std::io::Write::write_all(to, format!("{line}\n").as_bytes()).unwrap();
    }

    /// The child's next answer (what follows the `@`).
    pub fn reply(&mut self) -> String {
        loop {
            let line = self
                .from
                .next()
                .expect("the child ended without answering")
                .unwrap();
            if let Some((_, reply)) = line.split_once('@') {
                return reply.to_owned();
            }
        }
    }

    /// The child's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the child's stdin: its [`command`] then returns `None`.
    pub fn close_stdin(&mut self) {
        self.to = None;
    }

    /// Closes the child's stdin and waits for it (its stdout stays open meanwhile: the child may
    /// still print).
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.close_stdin();
        self.child.wait().unwrap()
    }

    /// Waits for the child and asserts it succeeded.
    pub fn finish(self) {
        let status = self.wait();
        assert!(status.success(), "child failed: {status}");
    }
}

/// In a child started by [`Peer::spawn`]: answers the parent with one line.
pub fn reply(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "@{line}").unwrap();
    out.flush().unwrap();
}

/// In a child started by [`Peer::spawn`]: the next command from the parent (`None` at the end).
pub fn command() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().read_line(&mut line).unwrap() {
        0 => None,
        _ => Some(line.trim_end().to_owned()),
    }
}

/// A PID no process has: a child that ran and was reaped.
pub fn dead_pid() -> i32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    pid
}

/// The role this process was started for, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// How many rounds (frames, cases…) a test runs: `var` from the environment (`cargo xtask stress`
/// sets the big figures), else `default`.
pub fn count_from_env<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
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

/// `Reader::try_wait` in a loop until it returns a frame, an error, or `deadline` passes
/// (`Ok(None)`).
pub fn try_wait_until(
    r: &mut shmim_core::Reader,
    deadline: std::time::Instant,
) -> shmim_core::Result<Option<u64>> {
    loop {
        if let Some(frame) = r.try_wait()? {
            return Ok(Some(frame));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::yield_now();
    }
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
