//! `shmim-bridge sub KEYEXPR`: mirror every stream published under a key expression.
//!
//! One Zenoh subscription on `KEYEXPR` receives frames and descriptions; a liveliness
//! subscription (with history) on the same expression learns of publishers, including those that
//! were there first, and asks their queryables for the current description, so a late joiner has
//! its mirror at once. Each key gets a [`mailbox::Mailbox`] and a [`worker::Worker`] thread that
//! writes the mirror. Every malformed sample is counted against its key and dropped with a log
//! line; nothing from the network reaches a stream before it was decoded and checked.

pub mod mailbox;
pub mod worker;

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use zenoh::bytes::ZBytes;
use zenoh::sample::{Sample, SampleKind};
use zenoh::{Session, Wait};

use crate::error::{BridgeError, Result};
use crate::log::log;
use crate::session::NetArgs;
use crate::wire::{self, KIND_FRAME, Message, StreamMeta, WireError};
use mailbox::{Arrived, Mailbox, Mode};
use worker::{Target, Worker, drain, log_malformed};

/// `sub`'s options.
#[derive(Debug, Clone, Args)]
pub struct SubArgs {
    /// Key expression of the streams to mirror, e.g. shmim/cam or shmim/**.
    pub keyexpr: String,
    /// Local name of the mirror (only when KEYEXPR names one stream: no wildcard).
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    /// Stream directory of the mirrors (default: $MILK_SHM_DIR, else /milk/shm, else /tmp).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// latest: keep the newest frame (drops counted, never slows the publisher);
    /// every: bounded queue (a slow mirror slows the link; missed frames counted as gaps).
    #[arg(long, value_enum, default_value_t = Mode::Latest)]
    pub mode: Mode,
    /// Refuse streams whose frames are larger than this many bytes.
    #[arg(long, value_name = "N", default_value_t = 1 << 30)]
    pub max_bytes: u64,
    /// Exit after mirroring this many frames (all streams together).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Seconds between status lines (0: none).
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub status_every: f64,
    /// Network options (--listen, --connect, --config).
    #[command(flatten)]
    pub net: NetArgs,
}

/// The streams seen so far, by key.
struct Router {
    session: Session,
    mode: Mode,
    target: Arc<Target>,
    streams: Mutex<HashMap<String, Entry>>,
    /// Malformed messages on keys without a stream.
    stray: Mutex<u64>,
}

/// Most streams one subscriber mirrors.
const MAX_STREAMS: usize = 1024;

/// One stream's mailbox and worker.
#[derive(Clone)]
struct Entry {
    mailbox: Arc<Mailbox>,
    worker: Option<Arc<Mutex<Worker>>>,
}

/// Largest frame the subscription callback mirrors itself (when the worker is idle). Copying it
/// takes a few microseconds, far less than the thread hand-off it saves. A larger frame always
/// goes to the worker thread: in `latest` mode so that the callback never waits (the mode's
/// promise), in `every` mode so that Zenoh's receiving thread reads the next frame while the
/// worker copies this one (the two CPUs work in parallel).
const DIRECT_MAX: usize = 64 * 1024;

impl Router {
    /// The mailbox and worker of `key`, made on first sight.
    fn entry(&self, key: &str) -> Entry {
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = streams.get(key) {
            return e.clone();
        }
        let mailbox = Arc::new(Mailbox::new(self.mode));
        let request = request_meta(self.session.clone(), key.to_owned(), Arc::clone(&mailbox));
        let worker = Worker::new(
            key.to_owned(),
            Arc::clone(&mailbox),
            Arc::clone(&self.target),
            Box::new(request),
        )
        .spawn(format!("mirror {key}"));
        let worker = match worker {
            Ok(w) => Some(w),
            Err(e) => {
                log(format_args!("{key}: cannot start its worker: {e}"));
                None
            }
        };
        let e = Entry { mailbox, worker };
        streams.insert(key.to_owned(), e.clone());
        e
    }

    fn mailbox(&self, key: &str) -> Arc<Mailbox> {
        self.entry(key).mailbox
    }

    fn on_sample(&self, sample: &Sample) {
        if sample.kind() != SampleKind::Put {
            return;
        }
        let key = sample.key_expr().as_str();
        let received = crate::clock::now();
        let payload = sample.payload();
        let parsed = parse(payload, received);
        // A key gets a mailbox and a worker thread only for a message that passed the checks,
        // and only up to MAX_STREAMS keys: garbage on made-up keys costs a log line, not a thread.
        let entry = match (self.existing(key), &parsed) {
            (Some(e), _) => e,
            (None, Ok(_)) if self.count() < MAX_STREAMS => self.entry(key),
            (None, Ok(_)) => {
                log_malformed(
                    key,
                    self.stray(),
                    "too many streams for one subscriber; dropped",
                );
                return;
            }
            (None, Err(e)) => {
                log_malformed(key, self.stray(), &e.to_string());
                return;
            }
        };
        let direct = entry
            .worker
            .as_ref()
            .filter(|_| payload.len() <= DIRECT_MAX);
        deliver(key, parsed, &entry.mailbox, direct.is_none());
        if let Some(w) = direct {
            drain(w, &entry.mailbox);
        }
    }

    fn existing(&self, key: &str) -> Option<Entry> {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        streams.get(key).cloned()
    }

    fn count(&self) -> usize {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Counts a malformed message on a key that has no stream; returns the count.
    fn stray(&self) -> u64 {
        let mut n = self.stray.lock().unwrap_or_else(|p| p.into_inner());
        *n += 1;
        *n
    }

    fn snapshot(&self) -> Vec<(String, mailbox::Progress)> {
        let streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<_> = streams
            .iter()
            .map(|(k, e)| (k.clone(), e.mailbox.progress()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// A message that passed the decoder's checks.
enum Parsed {
    Frame(Arrived),
    Meta(StreamMeta),
}

/// Decodes a sample: a frame's header only (its pixels are copied once, straight into the
/// mirror), a description whole.
fn parse(
    payload: &ZBytes,
    received: shmim_core::Timespec,
) -> std::result::Result<Parsed, WireError> {
    let mut head = [0u8; wire::frame_header_len()];
    let n = read_prefix(payload, &mut head);
    if wire::peek_kind(&head[..n])? == KIND_FRAME {
        let h = wire::decode_frame_header(&head[..n], payload.len())?;
        return Ok(Parsed::Frame(Arrived {
            header: h,
            payload: payload.clone(),
            latency_ns: crate::clock::nanos_between(h.sent, received),
        }));
    }
    match wire::decode(&payload.to_bytes())? {
        Message::Meta(m) => Ok(Parsed::Meta(m)),
        Message::Frame(..) => Err(WireError::Kind { found: KIND_FRAME }),
    }
}

/// Hands a parsed message to the stream's mailbox, or counts it there as malformed.
fn deliver(
    key: &str,
    parsed: std::result::Result<Parsed, WireError>,
    mailbox: &Mailbox,
    wake: bool,
) {
    match parsed {
        Ok(Parsed::Frame(f)) => mailbox.put_frame(f, wake),
        Ok(Parsed::Meta(m)) => mailbox.put_meta(m),
        Err(e) => log_malformed(key, mailbox.malformed(), &e.to_string()),
    }
}

/// Copies up to `buf.len()` leading bytes of `payload`; returns how many.
fn read_prefix(payload: &ZBytes, buf: &mut [u8]) -> usize {
    let mut r = payload.reader();
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// A closure that asks `key`'s queryable for its description; replies land in `mailbox`.
fn request_meta(session: Session, key: String, mailbox: Arc<Mailbox>) -> impl Fn() + Send {
    move || {
        let mb = Arc::clone(&mailbox);
        let k = key.clone();
        let asked = session
            .get(&key)
            .callback(move |reply| {
                if let Ok(sample) = reply.result() {
                    deliver(&k, parse(sample.payload(), crate::clock::now()), &mb, true);
                }
            })
            .wait();
        if let Err(e) = asked {
            log(format_args!("{key}: cannot query its description: {e}"));
        }
    }
}

/// Runs `sub`.
pub fn run(a: &SubArgs) -> Result<ExitCode> {
    let keyexpr = zenoh::key_expr::KeyExpr::try_from(a.keyexpr.clone())
        .map_err(|e| BridgeError::Usage(format!("{:?} is not a key expression: {e}", a.keyexpr)))?;
    if let Some(name) = &a.as_name {
        if crate::keys::has_wildcard(&a.keyexpr) {
            return Err(BridgeError::Usage(format!(
                "--as names one mirror, but {:?} can match many streams; name one stream (no * or $*) or drop --as",
                a.keyexpr
            )));
        }
        shmim_core::validate_name(name)?;
    }
    let dir = crate::source::dir_or_default(a.dir.as_deref());
    if !dir.is_dir() {
        return Err(BridgeError::Usage(format!(
            "the stream directory {} does not exist (create it or pass --dir)",
            dir.display()
        )));
    }
    let session = a.net.open()?;
    let router = Arc::new(Router {
        session: session.clone(),
        mode: a.mode,
        target: Arc::new(Target {
            dir,
            as_name: a.as_name.clone(),
            max_bytes: a.max_bytes,
        }),
        streams: Mutex::new(HashMap::new()),
        stray: Mutex::new(0),
    });
    let r = Arc::clone(&router);
    let _frames = session
        .declare_subscriber(keyexpr.clone())
        .callback(move |sample| r.on_sample(&sample))
        .wait()
        .map_err(|e| BridgeError::zenoh(format!("subscribe to {keyexpr}"), e))?;
    let r = Arc::clone(&router);
    let _publishers = session
        .liveliness()
        .declare_subscriber(keyexpr.clone())
        .history(true)
        .callback(move |token| {
            let key = token.key_expr().as_str();
            match token.kind() {
                SampleKind::Put => {
                    log(format_args!("{key}: publisher present"));
                    let mb = r.mailbox(key);
                    request_meta(r.session.clone(), key.to_owned(), mb)();
                }
                SampleKind::Delete => log(format_args!("{key}: publisher gone (mirror kept)")),
            }
        })
        .wait()
        .map_err(|e| BridgeError::zenoh(format!("watch publishers of {keyexpr}"), e))?;
    log(format_args!("subscribed to {keyexpr} ({:?} mode)", a.mode));
    status_loop(&router, a)
}

/// Prints a status line per stream every `--status-every` seconds; returns when `--count`
/// frames were mirrored (never otherwise).
fn status_loop(router: &Router, a: &SubArgs) -> Result<ExitCode> {
    let every = (a.status_every > 0.0).then(|| Duration::from_secs_f64(a.status_every));
    let mut last = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let snap = router.snapshot();
        let mirrored: u64 = snap.iter().map(|(_, p)| p.mirrored).sum();
        let done = a.count.is_some_and(|n| mirrored >= n);
        if done || every.is_some_and(|e| last.elapsed() >= e) {
            last = Instant::now();
            for (key, p) in &snap {
                println!(
                    "{key}: received {} mirrored {} gaps {} drops {} stale {} malformed {} latency {:.1} us src cnt0 {} [{}]",
                    p.received,
                    p.mirrored,
                    p.stats.gaps,
                    p.stats.drops,
                    p.stale,
                    p.stats.malformed,
                    p.stats.latency_ns as f64 / 1e3,
                    p.stats.src_cnt0,
                    p.status
                );
            }
        }
        if done {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
