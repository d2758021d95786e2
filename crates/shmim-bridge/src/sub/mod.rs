//! `shmim-bridge sub KEYEXPR`: mirror every stream published under a key expression.
//!
//! One Zenoh subscription on `KEYEXPR` receives frames and descriptions; a liveliness
//! subscription (with history) on the same expression learns of publishers, including those that
//! were there first, and asks their queryables for the current description, so a late joiner has
//! its mirror at once. The [`router::Router`] gives each key with a valid description a
//! [`mailbox::Mailbox`] and a [`worker::Worker`] thread that writes the mirror. Every malformed
//! sample is counted against its key and dropped with a log line; nothing from the network
//! reaches a stream before it was decoded and checked.

pub mod account;
pub mod backoff;
pub mod claims;
pub mod follow;
pub mod mailbox;
pub mod parse;
pub mod queued;
pub mod router;
pub mod strays;
pub mod worker;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use zenoh::Wait;

use crate::error::{BridgeError, Result};
use crate::log::{log, printable};
use crate::mirror::Limits;
use crate::mirror::budget::Budget;
use crate::session::NetArgs;
use mailbox::Mode;
use queued::Queued;
use router::Router;
use worker::Target;

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
    /// Refuse streams whose mirror file (frames, circular buffer, keywords, semaphores) would be
    /// larger than this many bytes.
    #[arg(long, value_name = "N", default_value_t = 1 << 30)]
    pub max_bytes: u64,
    /// Refuse a stream when the mirror files of this subscriber would take more than this many
    /// bytes together.
    #[arg(long, value_name = "N", default_value_t = 4 << 30)]
    pub max_total_bytes: u64,
    /// In every mode, the frames queued for all streams together hold at most this many bytes
    /// (a stream with an empty queue may always queue one frame).
    #[arg(long, value_name = "N", default_value_t = 256 << 20)]
    pub queue_bytes: u64,
    /// Exit after mirroring this many frames (all streams together).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Seconds between status lines (0: none).
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    pub status_every: f64,
    /// Seconds a mirrored key without a publisher must be silent before its worker closes
    /// (tests shorten it; the default is router::DEPARTED_AFTER).
    #[arg(long, value_name = "S", hide = true, default_value_t = router::DEPARTED_AFTER.as_secs_f64())]
    pub departed_after: f64,
    /// Network options (--listen, --connect, --config).
    #[command(flatten)]
    pub net: NetArgs,
}

/// How often keys without a mirror are looked at (and forgotten when silent).
const SWEEP_EVERY: Duration = Duration::from_secs(5);

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
    let departed_after = Duration::try_from_secs_f64(a.departed_after).map_err(|_| {
        BridgeError::Usage(format!(
            "--departed-after {}: give a number of seconds",
            a.departed_after
        ))
    })?;
    if !(a.status_every.is_finite() && a.status_every >= 0.0) {
        return Err(BridgeError::Usage(format!(
            "--status-every {}: give a number of seconds (0: no status lines)",
            a.status_every
        )));
    }
    let dir = crate::source::stream_dir(a.dir.as_deref())?;
    let session = a.net.open()?;
    let target = Arc::new(Target {
        dir,
        as_name: a.as_name.clone(),
        limits: Limits {
            max_bytes: a.max_bytes,
            budget: Some(Budget::new(a.max_total_bytes)),
        },
        claims: Default::default(),
    });
    let router = Router::new(
        session.clone(),
        a.mode,
        target,
        Arc::new(Queued::new(a.queue_bytes)),
        departed_after,
    );
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
        .callback(move |token| r.on_token(token.key_expr().as_str(), token.kind()))
        .wait()
        .map_err(|e| BridgeError::zenoh(format!("watch publishers of {keyexpr}"), e))?;
    log(format_args!("subscribed to {keyexpr} ({:?} mode)", a.mode));
    status_loop(&router, a)
}

/// Prints a status line per stream every `--status-every` seconds and sweeps silent keys;
/// returns when `--count` frames were mirrored (never otherwise). It wakes only for those (and
/// every 20 ms when `--count` is given, to notice it).
fn status_loop(router: &Router, a: &SubArgs) -> Result<ExitCode> {
    let every = (a.status_every > 0.0).then(|| Duration::from_secs_f64(a.status_every));
    let tick = match (a.count, every) {
        (Some(_), _) => Duration::from_millis(20),
        (None, Some(e)) => e.min(SWEEP_EVERY),
        (None, None) => SWEEP_EVERY,
    };
    let (mut printed, mut swept) = (Instant::now(), Instant::now());
    loop {
        std::thread::sleep(tick);
        let now = Instant::now();
        if now.duration_since(swept) >= SWEEP_EVERY {
            swept = now;
            router.sweep(now);
        }
        let due = every.is_some_and(|e| now.duration_since(printed) >= e);
        if !due && a.count.is_none() {
            continue;
        }
        let snap = router.snapshot();
        let mirrored: u64 = snap.iter().map(|(_, p)| p.mirrored).sum();
        let done = a.count.is_some_and(|n| mirrored >= n);
        if done || due {
            printed = now;
            for (key, p) in &snap {
                // Keys and the status text come from the network: escaped like log lines.
                println!(
                    "{}",
                    printable(&format!(
                        "{key}: received {} mirrored {} gaps {} drops {} stale {} malformed {} other-source {} latency {:.1} us src cnt0 {} [{}]",
                        p.received,
                        p.mirrored,
                        p.stats.gaps,
                        p.stats.drops,
                        p.stale,
                        p.stats.malformed,
                        p.other,
                        p.stats.latency_ns as f64 / 1e3,
                        p.stats.src_cnt0,
                        p.status
                    ))
                );
            }
        }
        if done {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
