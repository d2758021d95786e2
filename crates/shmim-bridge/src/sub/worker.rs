//! The per-stream worker of `sub`: applies descriptions and frames to the mirror.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::mailbox::{Arrived, Mailbox, Work};
use crate::log::log;
use crate::mirror::{Foreign, Mirror};
use crate::wire::{StreamMeta, frame_header_len};

/// Where and how mirrors are made.
#[derive(Debug, Clone)]
pub struct Target {
    /// Stream directory of the mirrors.
    pub dir: PathBuf,
    /// The one mirror's name (`--as`), else the source's.
    pub as_name: Option<String>,
    /// Largest frame accepted (`--max-bytes`).
    pub max_bytes: u64,
}

/// How long the worker waits before asking again for a description it lacks.
const REQUEST_EVERY: Duration = Duration::from_millis(500);

/// Mirrors one key.
pub struct Worker {
    /// The stream's key.
    pub key: String,
    /// Its mailbox.
    pub mailbox: Arc<Mailbox>,
    /// Where mirrors go.
    pub target: Arc<Target>,
    /// Asks the publisher's queryable for the description (the reply lands in the mailbox).
    pub request_meta: Box<dyn Fn() + Send>,
    meta: Option<StreamMeta>,
    mirror: Option<Mirror>,
    /// Generation whose description was refused (logged once).
    refused: Option<u64>,
    last_request: Option<Instant>,
    /// Whether the counts of an earlier process were taken over (once per process).
    resumed: bool,
    /// Whether the last frame could not be written to the mirror.
    failing: bool,
}

impl Worker {
    /// A worker with no description yet.
    pub fn new(
        key: String,
        mailbox: Arc<Mailbox>,
        target: Arc<Target>,
        request_meta: Box<dyn Fn() + Send>,
    ) -> Self {
        Self {
            key,
            mailbox,
            target,
            request_meta,
            meta: None,
            mirror: None,
            refused: None,
            last_request: None,
            resumed: false,
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
                match mailbox.wait_for_work(Duration::from_millis(250)) {
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
            Work::Idle => {
                if self.mirror.is_none() && self.refused.is_none() {
                    self.request();
                }
            }
            Work::Meta(m) => self.apply_meta(m),
            Work::Frame(f) => self.apply_frame(f),
        }
    }

    fn request(&mut self) {
        if self
            .last_request
            .is_none_or(|t| t.elapsed() >= REQUEST_EVERY)
        {
            self.last_request = Some(Instant::now());
            (self.request_meta)();
        }
    }

    fn apply_meta(&mut self, m: StreamMeta) {
        let name = self
            .target
            .as_name
            .clone()
            .unwrap_or_else(|| m.name.clone());
        let bytes = m.layout.frame_bytes().unwrap_or(u64::MAX);
        if bytes > self.target.max_bytes {
            if self.refused != Some(m.generation) {
                log(format_args!(
                    "{}: refused: frames of {bytes} bytes exceed --max-bytes {}",
                    self.key, self.target.max_bytes
                ));
                self.mailbox
                    .set_status(format!("refused: {bytes}-byte frames > --max-bytes"));
            }
            self.refused = Some(m.generation);
            self.mirror = None;
            self.meta = None;
            return;
        }
        let layout = m.layout.clone();
        let same = self.mirror.as_ref().is_some_and(|mr| {
            mr.layout() == &layout && mr.stream().path().is_some_and(|p| p.exists())
        });
        if !same {
            self.mirror = None;
            match Mirror::open_or_create(
                &self.target.dir,
                &name,
                &layout,
                "zenoh",
                &self.key,
                Foreign::Refuse,
            ) {
                Ok(mr) => {
                    log(format_args!(
                        "{}: mirroring into {} ({:?} {:?})",
                        self.key,
                        mr.stream()
                            .path()
                            .map_or_else(String::new, |p| p.display().to_string()),
                        layout.shape,
                        layout.datatype
                    ));
                    self.mailbox.set_status(format!("mirroring into {name}"));
                    if let Some(recorded) = mr.recorded_stats() {
                        if !self.resumed {
                            self.mailbox.resume(&recorded, m.generation);
                        }
                    }
                    self.resumed = true;
                    self.mirror = Some(mr);
                }
                Err(e) => {
                    if self.refused != Some(m.generation) {
                        log(format_args!("{}: refused: {e}", self.key));
                        self.mailbox.set_status(format!("refused: {e}"));
                    }
                    self.refused = Some(m.generation);
                    self.meta = None;
                    return;
                }
            }
        }
        if let Some(mr) = &self.mirror {
            if let Err(e) = mr.set_source_keywords(&m.keywords) {
                log(format_args!("{}: keywords not mirrored: {e}", self.key));
            }
        }
        self.refused = None;
        self.meta = Some(m);
    }

    fn apply_frame(&mut self, f: Arrived) {
        let (Some(meta), Some(mirror)) = (&self.meta, &mut self.mirror) else {
            self.mailbox.count_stale();
            if self.refused.is_none() {
                self.request();
            }
            return;
        };
        if meta.generation != f.header.generation {
            // A frame of another incarnation of the source: its description is on its way (or
            // must be asked for); never write it with the wrong layout.
            self.mailbox.count_stale();
            self.request();
            return;
        }
        let skip = frame_header_len();
        if f.payload.len() != skip + mirror.frame_bytes() {
            let n = self.mailbox.malformed();
            log_malformed(
                &self.key,
                n,
                &format!(
                    "frame of {} pixel bytes, the stream's frames have {}",
                    f.payload.len().saturating_sub(skip),
                    mirror.frame_bytes()
                ),
            );
            return;
        }
        let mut stats = self.mailbox.stats();
        stats.src_cnt0 = f.header.cnt0;
        stats.latency_ns = f.latency_ns;
        stats.src_writetime_ns = f.header.writetime.as_nanos().clamp(0, i64::MAX as i128) as i64;
        let payload = &f.payload;
        let done = mirror.publish(f.header.cnt1, Some(f.header.atime), Some(&stats), |dst| {
            copy_after(payload, skip, dst)
        });
        match done {
            Ok(_) => {
                self.mailbox.count_mirrored(&stats);
                self.failing = false;
            }
            // Said once per run of failures (e.g. another writer holds the mirror's flag).
            Err(e) if !self.failing => {
                self.failing = true;
                log(format_args!(
                    "{}: frame {} not mirrored: {e} (said once until a frame is mirrored again)",
                    self.key, f.header.cnt0
                ));
            }
            Err(_) => {}
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
