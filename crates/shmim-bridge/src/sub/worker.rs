//! The per-stream worker of `sub`: applies descriptions and frames to the mirror.
//!
//! The mirror is named after the key (its last chunk, unescaped) or `--as`, never after what a
//! description says (a description whose name differs from its key's never gets here). The
//! worker writes only a mirror whose mark names its key and whose lock it holds; it looks now
//! and then whether the mirror's path still names its file (removed or replaced by someone:
//! made again, or refused), and tries again after a refusal (another bridge holding the mirror
//! may go away).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::account::{Account, Order};
use super::backoff::Backoff;
use super::claims::Claims;
use super::mailbox::{Arrived, Mailbox, Work};
use crate::log::log;
use crate::mirror::{Foreign, Limits, Mirror, Place};
use crate::wire::{StreamMeta, frame_header_len};

/// Where and how mirrors are made.
#[derive(Debug)]
pub struct Target {
    /// Stream directory of the mirrors.
    pub dir: PathBuf,
    /// The one mirror's name (`--as`), else the key's.
    pub as_name: Option<String>,
    /// Largest mirror file, and the total of all.
    pub limits: Limits,
    /// Local names taken by keys.
    pub claims: Claims,
}

/// How long an idle worker waits before looking at its mirror (or asking for a description).
pub const IDLE_TICK: Duration = Duration::from_secs(2);
/// While frames flow, how often the worker looks whether its mirror is still there.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// How long after a refusal the worker tries the mirror again.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Mirrors one key.
pub struct Worker {
    key: String,
    /// The local stream name.
    name: String,
    mailbox: Arc<Mailbox>,
    target: Arc<Target>,
    /// Asks the publisher's queryable for the description (the reply lands in the mailbox).
    request_meta: Box<dyn Fn() + Send>,
    meta: Option<StreamMeta>,
    mirror: Option<Mirror>,
    /// Why the mirror could not be opened last (logged once per reason).
    refused: Option<String>,
    retry_at: Option<Instant>,
    requests: Backoff,
    claimed: bool,
    /// Whether a mirror was opened in this process (the counts are resumed then).
    opened_once: bool,
    account: Account,
    /// When the worker last looked whether its mirror is still there.
    looked: Instant,
    /// Whether reserved keyword names from the network were reported.
    said_reserved: bool,
    /// Whether the last frame could not be written to the mirror.
    failing: bool,
}

impl Worker {
    /// A worker with no description yet, mirroring `key` into the local stream `name`.
    pub fn new(
        key: String,
        name: String,
        mailbox: Arc<Mailbox>,
        target: Arc<Target>,
        request_meta: Box<dyn Fn() + Send>,
    ) -> Self {
        Self {
            key,
            name,
            mailbox,
            target,
            request_meta,
            meta: None,
            mirror: None,
            refused: None,
            retry_at: None,
            requests: Backoff::default(),
            claimed: false,
            opened_once: false,
            account: Account::default(),
            looked: Instant::now(),
            said_reserved: false,
            failing: false,
        }
    }

    /// Starts the worker's thread; the returned handle lets the subscription callback do the
    /// worker's job itself when the worker is idle ([`drain`]).
    pub fn spawn(self, name: String) -> std::io::Result<Arc<Mutex<Self>>> {
        let mailbox = Arc::clone(&self.mailbox);
        let state = Arc::new(Mutex::new(self));
        let s = Arc::clone(&state);
        std::thread::Builder::new().name(name).spawn(move || {
            loop {
                match mailbox.wait_for_work(IDLE_TICK) {
                    Work::Closed => return,
                    Work::Idle => s
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .apply(Work::Idle),
                    _ => {
                        let mut w = s.lock().unwrap_or_else(|p| p.into_inner());
                        while let Some(work) = mailbox.take_now() {
                            w.apply(work);
                        }
                    }
                }
            }
        })?;
        Ok(state)
    }

    /// Does one piece of work.
    pub fn apply(&mut self, work: Work) {
        match work {
            Work::Closed | Work::Pending => {}
            Work::Idle => self.idle(),
            Work::Request => self.request(),
            Work::Meta(m) => self.apply_meta(m),
            Work::Frame(f) => self.apply_frame(f),
        }
    }

    fn idle(&mut self) {
        let now = Instant::now();
        if self.mailbox.held_and_silent() {
            self.request();
        }
        if self.mirror.is_some() {
            self.look(now);
        } else if self.meta.is_none() {
            self.request();
        } else if self.retry_at.is_some_and(|t| now >= t) {
            self.open();
        }
    }

    /// Asks for the description, at once and then ever less often.
    fn request(&mut self) {
        if self.requests.due(Instant::now()) {
            (self.request_meta)();
        }
    }

    /// Whether the mirror's path still names the mirror's file; if not, makes it again (or is
    /// refused: someone's own stream is there now).
    fn look(&mut self, now: Instant) {
        self.looked = now;
        if !self.mirror.as_ref().is_some_and(Mirror::is_gone) {
            return;
        }
        log(format_args!(
            "{}: the mirror {} was removed or replaced; making it again",
            self.key, self.name
        ));
        self.mirror = None;
        self.open();
    }

    fn apply_meta(&mut self, m: StreamMeta) {
        self.requests.reset();
        let same = self
            .mirror
            .as_ref()
            .is_some_and(|mr| mr.layout() == &m.layout && !mr.is_gone());
        self.meta = Some(m);
        if same {
            self.set_keywords();
        } else {
            self.mirror = None;
            self.open();
        }
    }

    /// Opens (or makes) the mirror for the current description.
    fn open(&mut self) {
        let Some(m) = &self.meta else {
            return;
        };
        if !self.claimed {
            if let Err(other) = self.target.claims.claim(&self.name, &self.key) {
                return self.refuse(format!(
                    "the mirror {} already mirrors {other} (both keys end in that name: \
                     mirror this one with its own `sub {} --as NAME`)",
                    self.name, self.key
                ));
            }
            self.claimed = true;
        }
        let place = Place {
            dir: &self.target.dir,
            name: &self.name,
            origin: "zenoh",
            source: &self.key,
            foreign: Foreign::Refuse,
        };
        match Mirror::open_or_create(&place, &m.layout, &self.target.limits) {
            Ok(mr) => {
                log(format_args!(
                    "{}: mirroring into {} ({:?} {:?})",
                    self.key,
                    mr.stream()
                        .path()
                        .map_or_else(String::new, |p| p.display().to_string()),
                    m.layout.shape,
                    m.layout.datatype
                ));
                if !self.opened_once {
                    self.account.resume(mr.recorded_stats());
                    self.opened_once = true;
                }
                self.refused = None;
                self.retry_at = None;
                self.looked = Instant::now();
                self.mailbox
                    .set_status(format!("mirroring into {}", self.name), true);
                self.mailbox
                    .show(&self.account.stats(self.mailbox.malformed_count()));
                self.mirror = Some(mr);
                self.set_keywords();
            }
            Err(e) => self.refuse(e.to_string()),
        }
    }

    /// Says why there is no mirror (once per reason) and tries again later.
    fn refuse(&mut self, why: String) {
        if self.refused.as_deref() != Some(why.as_str()) {
            log(format_args!("{}: refused: {why}", self.key));
        }
        self.mailbox.set_status(format!("refused: {why}"), false);
        self.refused = Some(why);
        self.retry_at = Some(Instant::now() + RETRY_EVERY);
    }

    /// Writes the description's keywords into the mirror.
    fn set_keywords(&mut self) {
        let (Some(m), Some(mr)) = (&self.meta, &self.mirror) else {
            return;
        };
        match mr.set_source_keywords(&m.keywords) {
            Ok(0) => {}
            Ok(n) => {
                if !self.said_reserved {
                    log(format_args!(
                        "{}: {n} keywords with the bridge's own names (SHMIM_MIRROR, BR_*) not \
                         mirrored (an upstream mirror's, or forged); said once",
                        self.key
                    ));
                    self.said_reserved = true;
                }
            }
            Err(e) => log(format_args!("{}: keywords not mirrored: {e}", self.key)),
        }
    }

    fn apply_frame(&mut self, f: Arrived) {
        if self.looked.elapsed() >= LOOK_EVERY {
            self.look(Instant::now());
        }
        let h = f.header;
        if let Order::Backwards { after } = self.account.take(h.generation, h.cnt0, f.replaced) {
            log_malformed(
                &self.key,
                self.mailbox.malformed(),
                &format!(
                    "frame {} came after frame {after} of the same source generation (one of \
                     them was not the source's); the gaps counted above it are taken back",
                    h.cnt0
                ),
            );
        }
        let skip = frame_header_len();
        let fits = match (&self.meta, &self.mirror) {
            (Some(meta), Some(mirror)) => {
                meta.generation == h.generation && f.payload.len() == skip + mirror.frame_bytes()
            }
            _ => {
                self.account.dropped();
                return;
            }
        };
        if !fits {
            // The mailbox lets through only frames of the description it queued last; one that
            // does not fit means that description was not applied: ask again.
            self.account.dropped();
            self.request();
            return;
        }
        let mut stats = self.account.stats(self.mailbox.malformed_count());
        stats.src_cnt0 = h.cnt0;
        stats.latency_ns = f.latency_ns;
        stats.src_writetime_ns = h.writetime.as_nanos().clamp(0, i64::MAX as i128) as i64;
        let payload = &f.payload;
        let Some(mirror) = &mut self.mirror else {
            return;
        };
        let done = mirror.publish(h.cnt1, Some(h.atime), Some(&stats), |dst| {
            copy_after(payload, skip, dst)
        });
        match done {
            Ok(_) => {
                self.account
                    .mirrored(stats.src_cnt0, stats.latency_ns, stats.src_writetime_ns);
                self.mailbox.count_mirrored(&stats);
                self.failing = false;
            }
            Err(e) => {
                self.account.dropped();
                // Said once per run of failures (e.g. another writer holds the mirror's flag).
                if !self.failing {
                    self.failing = true;
                    log(format_args!(
                        "{}: frame {} not mirrored: {e} (said once until a frame is mirrored again)",
                        self.key, h.cnt0
                    ));
                }
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.claimed {
            self.target.claims.release(&self.name, &self.key);
        }
    }
}

/// Does the worker's pending work on the calling thread (the subscription callback) if the worker
/// is idle, sparing a thread hand-off (two context switches) per frame; when it is busy, the
/// work stays queued and the worker is signalled. Work is only ever taken under the worker's
/// lock, so frames are applied in the order they arrived whoever applies them.
pub fn drain(worker: &Mutex<Worker>, mailbox: &Mailbox) {
    match worker.try_lock() {
        Ok(mut w) => {
            while let Some(work) = mailbox.take_now() {
                w.apply(work);
            }
        }
        Err(_) => mailbox.wake(),
    }
}

/// Copies the sample's bytes after the first `skip` into `dst` (lengths checked by the caller),
/// slice by slice: a fragmented sample is never made contiguous first.
fn copy_after(payload: &zenoh::bytes::ZBytes, mut skip: usize, dst: &mut [u8]) {
    let mut at = 0;
    for s in payload.slices() {
        if skip >= s.len() {
            skip -= s.len();
            continue;
        }
        let s = &s[skip..];
        skip = 0;
        let n = s.len().min(dst.len() - at);
        dst[at..at + n].copy_from_slice(&s[..n]);
        at += n;
    }
}

/// Logs the first malformed messages of a stream, then one in a thousand.
pub fn log_malformed(key: &str, count: u64, why: &str) {
    if count <= 10 || count % 1000 == 0 {
        log(format_args!(
            "{key}: malformed message #{count} dropped: {why}"
        ));
    }
}
