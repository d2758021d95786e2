//! Helpers of the bridge's process tests: private stream directories, free loopback ports, the
//! bridge binary as a child process (killed when the test ends), watchdogs, checksummed frames.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long any wait in these tests may last before the test fails (a watchdog, not a
/// performance bound).
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// A private directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("shmim-bridge-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback TCP port nobody listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tcp/127.0.0.1:PORT`.
pub fn endpoint(port: u16) -> String {
    format!("tcp/127.0.0.1:{port}")
}

/// A bridge process; SIGKILLed and reaped on drop. Its stderr is collected for diagnostics.
pub struct Bridge {
    child: Child,
    log: Arc<Mutex<String>>,
    pub what: String,
}

impl Bridge {
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shmim-bridge"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let l = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                l.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self {
            child,
            log,
            what: args.join(" "),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` (watchdog: fails the test).
    pub fn wait_log(&self, needle: &str) {
        wait_until(&format!("{:?} in the log of {}", needle, self.what), || {
            self.log().contains(needle)
        });
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself; returns its status.
    pub fn wait_exit(mut self) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                start.elapsed() < WATCHDOG,
                "watchdog: {} did not exit\n{}",
                self.what,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `cond` until it holds; fails the test after [`WATCHDOG`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < WATCHDOG,
            "watchdog: gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// FNV-1a over bytes.
pub fn fnv(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Frame `k` of `len` bytes: `k` in the first 8 bytes, a pattern of `k`, and an FNV-1a checksum
/// of everything before it in the last 4 bytes.
pub fn checksum_frame(k: u64, len: usize) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u64).wrapping_mul(31).wrapping_add(k * 7) as u8)
        .collect();
    f[..8].copy_from_slice(&k.to_le_bytes());
    let sum = fnv(&f[..len - 4]);
    f[len - 4..].copy_from_slice(&sum.to_le_bytes());
    f
}

/// The frame number of a checksummed frame, or `None` if its checksum is wrong.
pub fn check_frame(f: &[u8]) -> Option<u64> {
    let len = f.len();
    let sum = u32::from_le_bytes(f[len - 4..].try_into().unwrap());
    (fnv(&f[..len - 4]) == sum).then(|| u64::from_le_bytes(f[..8].try_into().unwrap()))
}

/// A source stream `name` of `shape` and `datatype` in `dir`.
pub fn source(
    dir: &Path,
    name: &str,
    shape: &[u32],
    datatype: shmim_core::Datatype,
) -> shmim_core::Stream {
    shmim_core::Stream::create(name, &shmim_core::StreamSpec::new(shape, datatype).dir(dir))
        .unwrap()
}

/// `pub NAME --dir DIR --listen tcp/127.0.0.1:PORT`.
pub fn publisher(dir: &Path, name: &str, port: u16) -> Bridge {
    Bridge::start(&[
        "pub",
        name,
        "--dir",
        dir.to_str().unwrap(),
        "--listen",
        &endpoint(port),
    ])
}

/// `sub KEYEXPR --status-every 0 --dir DIR --connect tcp/127.0.0.1:PORT EXTRA…`.
pub fn subscriber(keyexpr: &str, dir: &Path, port: u16, extra: &[&str]) -> Bridge {
    let mut args = vec![
        "sub",
        keyexpr,
        "--status-every",
        "0",
        "--dir",
        dir.to_str().unwrap(),
    ];
    let ep = endpoint(port);
    args.extend_from_slice(&["--connect", &ep]);
    args.extend_from_slice(extra);
    Bridge::start(&args)
}

/// The value of an integer keyword, if the stream has it.
pub fn long_keyword(s: &shmim_core::Stream, name: &str) -> Option<i64> {
    match s.keyword(name).ok()??.value {
        shmim_core::Value::Long(v) => Some(v),
        _ => None,
    }
}

/// Publishes checksummed frame `k` in `src`.
pub fn write_checksummed(src: &mut shmim_core::Stream, k: u64) {
    let len = src.geometry().frame_bytes();
    let mut g = src.write().unwrap();
    g.copy_from_bytes(&checksum_frame(k, len)).unwrap();
    g.commit().unwrap();
}
