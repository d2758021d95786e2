//! Helpers of the bridge's process tests: private stream directories, free loopback ports, the
//! bridge binary as a child process (killed when the test ends), watchdogs, checksummed frames.
#![allow(dead_code)]

pub mod milk;

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
    sub_on(keyexpr, dir, "--connect", port, extra)
}

/// `sub KEYEXPR --status-every 0 --dir DIR HOW tcp/127.0.0.1:PORT EXTRA…`.
fn sub_on(keyexpr: &str, dir: &Path, how: &str, port: u16, extra: &[&str]) -> Bridge {
    let ep = endpoint(port);
    let mut args = vec![
        "sub",
        keyexpr,
        "--status-every",
        "0",
        "--dir",
        dir.to_str().unwrap(),
        how,
        &ep,
    ];
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

/// A Zenoh session of the test itself, connected to `port` only, once it reaches its peer (used
/// to inject messages no honest publisher sends).
pub fn injector(port: u16) -> zenoh::Session {
    injector_to(&[port])
}

/// A Zenoh session of the test itself connected to each of `ports`, once it reaches them all
/// (peers do not relay for each other: to query a publisher, connect to it too).
pub fn injector_to(ports: &[u16]) -> zenoh::Session {
    use zenoh::Wait;
    let mut c = zenoh::Config::default();
    c.insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    c.insert_json5("scouting/gossip/enabled", "false").unwrap();
    let endpoints: Vec<String> = ports
        .iter()
        .map(|&p| format!("{:?}", endpoint(p)))
        .collect();
    c.insert_json5("connect/endpoints", &format!("[{}]", endpoints.join(",")))
        .unwrap();
    let s = zenoh::open(c).wait().unwrap();
    wait_until("the injector reaches its peers", || {
        s.info().peers_zid().wait().count() >= ports.len()
    });
    s
}

/// The generation of the description the publisher of `key` answers with (asked as anyone
/// connected to the publisher may).
pub fn live_generation(session: &zenoh::Session, key: &str) -> u64 {
    use zenoh::Wait;
    let mut found = None;
    wait_until(&format!("the description of {key}"), || {
        let replies = session.get(key).wait().unwrap();
        found = std::iter::from_fn(|| replies.recv().ok())
            .filter_map(|r| r.result().ok().map(|s| s.payload().to_bytes().to_vec()))
            .find_map(|b| match shmim_bridge::wire::decode(&b) {
                Ok(shmim_bridge::wire::Message::Meta(m)) => Some(m.generation),
                _ => None,
            });
        found.is_some()
    });
    found.unwrap()
}

/// `sub KEYEXPR --status-every 0 --dir DIR --listen tcp/127.0.0.1:PORT EXTRA…`, once subscribed.
pub fn listening_subscriber(keyexpr: &str, dir: &Path, port: u16, extra: &[&str]) -> Bridge {
    let b = sub_on(keyexpr, dir, "--listen", port, extra);
    b.wait_log("subscribed to");
    b
}

/// `pub NAME --dir DIR --connect tcp/127.0.0.1:PORT EXTRA…`.
pub fn connecting_publisher(dir: &Path, name: &str, port: u16, extra: &[&str]) -> Bridge {
    let ep = endpoint(port);
    let mut args = vec![
        "pub",
        name,
        "--dir",
        dir.to_str().unwrap(),
        "--connect",
        &ep,
    ];
    args.extend_from_slice(extra);
    Bridge::start(&args)
}

/// Threads of process `pid` whose name starts with `prefix`.
pub fn threads_named(pid: u32, prefix: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|t| t.ok())
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .unwrap_or_default()
                        .starts_with(prefix)
                })
                .count()
        })
        .unwrap_or(0)
}

/// All threads of process `pid`.
pub fn all_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// The inode of stream `name` in `dir`, if the file exists.
pub fn inode(dir: &Path, name: &str) -> Option<u64> {
    std::fs::metadata(dir.join(format!("{name}.im.shm")))
        .ok()
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
}

/// A frame message of `generation` and source `cnt0` carrying `pixels`.
pub fn frame_message(generation: u64, cnt0: u64, pixels: &[u8]) -> Vec<u8> {
    let h = shmim_bridge::wire::FrameHeader {
        generation,
        cnt0,
        cnt1: 0,
        atime: shmim_core::Timespec::default(),
        writetime: shmim_core::Timespec::default(),
        sent: shmim_core::Timespec::default(),
    };
    let mut v = Vec::new();
    shmim_bridge::wire::encode_frame_header(&h, pixels.len() as u64, &mut v);
    v.extend_from_slice(pixels);
    v
}

/// A description of stream `name` (generation 42, no keywords).
pub fn meta_message(name: &str, layout: shmim_bridge::layout::Layout) -> Vec<u8> {
    shmim_bridge::wire::encode_meta(&shmim_bridge::wire::StreamMeta {
        generation: 42,
        name: name.into(),
        layout,
        keywords: vec![],
    })
}

/// The layout of a plain stream of `shape` and `datatype` (one semaphore, no keywords).
pub fn plain_layout(shape: &[u32], datatype: shmim_core::Datatype) -> shmim_bridge::layout::Layout {
    shmim_bridge::layout::Layout {
        datatype,
        shape: shape.to_vec(),
        imagetype: 0,
        semaphores: 1,
        keyword_slots: 0,
        cb_size: 0,
    }
}

/// Writes checksummed frames after `from`, one every 5 ms, until `cond(mirror, k)` holds for
/// the mirror `name` in `dir` (opened once it exists, again when re-created) and the last frame
/// written `k`; returns `k`.
pub fn push_until(
    src: &mut shmim_core::Stream,
    dir: &Path,
    name: &str,
    from: u64,
    what: &str,
    mut cond: impl FnMut(&shmim_core::Stream, u64) -> bool,
) -> u64 {
    let mut k = from;
    let mut mirror: Option<shmim_core::Stream> = None;
    wait_until(what, || {
        k += 1;
        write_checksummed(src, k);
        std::thread::sleep(Duration::from_millis(5));
        if mirror
            .as_ref()
            .is_none_or(|m| m.inode_changed().unwrap_or(true))
        {
            mirror = shmim_core::Stream::open_in(dir, name).ok();
        }
        mirror.as_ref().is_some_and(|m| cond(m, k))
    });
    k
}

/// Pushes frames until the mirror `name` holds the newest one (the checksummed frame just
/// written, whole); returns its number.
pub fn push_until_current(src: &mut shmim_core::Stream, dir: &Path, name: &str, from: u64) -> u64 {
    let what = format!("{name} mirrors the newest frame");
    push_until(src, dir, name, from, &what, |m, k| {
        let mut buf = vec![0u8; m.geometry().frame_bytes()];
        wait_for(
            || m.read_bytes_into(&mut buf).is_ok() && check_frame(&buf) == Some(k),
            Duration::from_millis(200),
        )
    })
}

/// Whether `cond` holds within `within` (polled; a short look, not a watchdog).
pub fn wait_for(mut cond: impl FnMut() -> bool, within: Duration) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() >= within {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The mirror's figures.
pub struct Count {
    pub src_cnt0: u64,
    pub mirrored: u64,
    pub gaps: u64,
    pub drops: u64,
}

pub fn count(m: &shmim_core::Stream) -> Count {
    let kw = |name| long_keyword(m, name).unwrap() as u64;
    Count {
        src_cnt0: kw("BR_SRC_CNT0"),
        mirrored: m.cnt0(),
        gaps: kw("BR_GAPS"),
        drops: kw("BR_DROPS"),
    }
}

/// Source frames after `a`'s up to `b`'s that are neither mirrored nor counted (negative: counted
/// twice).
pub fn unaccounted(a: &Count, b: &Count) -> i64 {
    let published = b.src_cnt0 - a.src_cnt0;
    let told = (b.mirrored - a.mirrored) + (b.gaps - a.gaps) + (b.drops - a.drops);
    published as i64 - told as i64
}

/// Writes `n` checksummed frames after `k`, one every `pause`; returns the last number.
pub fn write_more(src: &mut shmim_core::Stream, k: u64, n: u64, pause: Duration) -> u64 {
    for j in k + 1..=k + n {
        write_checksummed(src, j);
        std::thread::sleep(pause);
    }
    k + n
}

/// A subscriber of `shmim/**` and a publisher of a 16x16 f32 stream `cam` that listens too (so
/// that a test session connected to both can inject into the one and ask the other), the
/// mirror holding the newest frame.
pub struct Watched {
    pub src_dir: TempDir,
    pub dst: TempDir,
    pub sub: Bridge,
    pub publisher: Bridge,
    pub src: shmim_core::Stream,
    /// The last frame written (and mirrored).
    pub k: u64,
    /// The subscriber's and the publisher's ports.
    pub ports: [u16; 2],
}

/// Starts a [`Watched`] pair in directories tagged `tag`.
pub fn watched_cam(tag: &str) -> Watched {
    let (src_dir, dst) = (
        TempDir::new(&format!("{tag}-src")),
        TempDir::new(&format!("{tag}-dst")),
    );
    let ports = [free_port(), free_port()];
    let sub = listening_subscriber("shmim/**", dst.path(), ports[0], &[]);
    let mut src = source(
        src_dir.path(),
        "cam",
        &[16, 16],
        shmim_core::Datatype::Float,
    );
    let listen = endpoint(ports[1]);
    let publisher = connecting_publisher(src_dir.path(), "cam", ports[0], &["--listen", &listen]);
    let k = push_until_current(&mut src, dst.path(), "cam", 0);
    Watched {
        src_dir,
        dst,
        sub,
        publisher,
        src,
        k,
        ports,
    }
}
