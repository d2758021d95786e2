//! From samples, query replies and liveliness tokens to the streams' mailboxes.
//!
//! A key gets a [`Mailbox`] and a [`Worker`] thread only when a valid description names the
//! stream its key names, and at most [`MAX_STREAMS`] keys do; everything else on keys without a
//! stream is counted by [`Strays`]. A publisher's liveliness token, or a frame on a key without a
//! stream, makes the router ask the key's queryable for its description (ever less often per
//! key). A key whose worker has no mirror and that has been silent for
//! [`strays::FORGET_AFTER`], or whose publisher left, is removed with its thread. So is a key
//! whose worker has a mirror once no publisher's liveliness token is on it and no message has
//! come for [`DEPARTED_AFTER`]: its thread, file descriptors, share of `--max-total-bytes`, slot
//! and local name are given back; the mirror file stays, and is opened again (reused, inode and
//! all) when a publisher of the key comes back. Without this, keys that come and go (a peer's
//! made-up keys, or honest streams renamed over months) would use up the [`MAX_STREAMS`] slots
//! for good.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use zenoh::bytes::ZBytes;
use zenoh::sample::{Sample, SampleKind};
use zenoh::{Session, Wait};

use super::follow::{Origin, Verdict};
use super::mailbox::{Mailbox, Mode, Progress};
use super::parse::{Parsed, parse};
use super::queued::Queued;
use super::strays::{self, Strays};
use super::worker::{Target, Worker, drain, log_malformed};
use crate::error::BridgeError;
use crate::log::log;
use crate::mirror::EXTRA_KEYWORDS;
use crate::wire::{StreamMeta, WireError};

/// Most streams one subscriber mirrors.
pub const MAX_STREAMS: usize = 1024;

/// How long a key with a mirror but no publisher's token must be silent before its worker is
/// closed (long enough that a publisher restarting, or a link coming back, finds it open).
pub const DEPARTED_AFTER: Duration = Duration::from_secs(60);

/// Largest frame the subscription callback mirrors itself (when the worker is idle). Copying it
/// takes a few microseconds, far less than the thread hand-off it saves. A larger frame always
/// goes to the worker thread: in `latest` mode so that the callback never waits (the mode's
/// promise), in `every` mode so that Zenoh's receiving thread reads the next frame while the
/// worker copies this one (the two CPUs work in parallel).
const DIRECT_MAX: usize = 64 * 1024;

/// One stream's mailbox and worker.
#[derive(Clone)]
struct Entry {
    mailbox: Arc<Mailbox>,
    worker: Option<Arc<Mutex<Worker>>>,
}

/// The streams of one subscriber, by key.
pub struct Router {
    session: Session,
    mode: Mode,
    target: Arc<Target>,
    queued: Arc<Queued>,
    streams: Mutex<HashMap<String, Entry>>,
    /// Keys on which a publisher's liveliness token is (as many as Zenoh itself holds).
    tokens: Mutex<HashSet<String>>,
    /// [`DEPARTED_AFTER`], shorter in tests.
    departed_after: Duration,
    strays: Strays,
    me: Weak<Router>,
}

impl Router {
    /// A router with no streams yet; a key with a mirror but no publisher is closed after
    /// `departed_after` of silence.
    pub fn new(
        session: Session,
        mode: Mode,
        target: Arc<Target>,
        queued: Arc<Queued>,
        departed_after: Duration,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            session,
            mode,
            target,
            queued,
            streams: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashSet::new()),
            departed_after,
            strays: Strays::default(),
            me: me.clone(),
        })
    }

    fn streams(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A sample of the subscription.
    pub fn on_sample(&self, sample: &Sample) {
        if sample.kind() == SampleKind::Put {
            self.on_message(sample.key_expr().as_str(), sample.payload(), Origin::Sample);
        }
    }

    /// A message on `key`, as a sample or as a reply to this subscriber's query.
    fn on_message(&self, key: &str, payload: &ZBytes, origin: Origin) {
        let parsed = parse(key, payload, crate::clock::now());
        let existing = self.streams().get(key).cloned();
        let entry = match (existing, &parsed) {
            (Some(e), _) => e,
            (None, Ok(Parsed::Meta(m))) => match self.admit(m).and_then(|()| self.add(key)) {
                Ok(e) => e,
                Err(why) => return self.strays.refused(key, &why),
            },
            (None, Ok(Parsed::Frame(_))) => {
                if self.strays.frame(key) {
                    self.query(key);
                }
                return;
            }
            (None, Err(e)) => return self.strays.malformed(key, &e.to_string()),
        };
        let direct = entry
            .worker
            .as_ref()
            .filter(|_| payload.len() <= DIRECT_MAX);
        deliver(key, parsed, origin, &entry.mailbox, direct.is_none());
        if let Some(w) = direct {
            drain(w, &entry.mailbox);
        }
    }

    /// Whether a first description could ever have a mirror here: one over `--max-bytes` is
    /// refused before it costs a thread (the worker checks again, with the total budget).
    fn admit(&self, m: &StreamMeta) -> Result<(), String> {
        let slots = m.layout.keyword_slots.saturating_add(EXTRA_KEYWORDS);
        let bytes = m.layout.file_bytes(slots).unwrap_or(u64::MAX);
        let max = self.target.limits.max_bytes;
        if bytes > max {
            return Err(BridgeError::TooLarge {
                name: m.name.clone(),
                bytes,
                max,
            }
            .to_string());
        }
        Ok(())
    }

    /// Makes `key`'s mailbox and worker (its first valid description arrived).
    fn add(&self, key: &str) -> Result<Entry, String> {
        let mut streams = self.streams();
        if let Some(e) = streams.get(key) {
            return Ok(e.clone());
        }
        if streams.len() >= MAX_STREAMS {
            return Err(format!(
                "this subscriber already mirrors {MAX_STREAMS} streams, its most"
            ));
        }
        let Some(name) = self
            .target
            .as_name
            .clone()
            .or_else(|| crate::keys::name_of_key(key))
        else {
            return Err("the key names no stream".into());
        };
        let mailbox = Arc::new(Mailbox::new(self.mode, Arc::clone(&self.queued)));
        let me = self.me.clone();
        let k = key.to_owned();
        let request = move || {
            if let Some(r) = me.upgrade() {
                r.query(&k);
            }
        };
        let worker = Worker::new(
            key.to_owned(),
            name,
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
        drop(streams);
        self.strays.forget(key);
        Ok(e)
    }

    /// A publisher's liveliness token on `key` appeared or went away.
    pub fn on_token(&self, key: &str, kind: SampleKind) {
        let entry = self.streams().get(key).cloned();
        {
            let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            match kind {
                SampleKind::Put => tokens.insert(key.to_owned()),
                SampleKind::Delete => tokens.remove(key),
            };
        }
        match kind {
            SampleKind::Put => {
                log(format_args!("{key}: publisher present"));
                match entry {
                    Some(e) => e.mailbox.want_description(),
                    None if self.strays.ask(key) => self.query(key),
                    None => {}
                }
            }
            SampleKind::Delete => {
                log(format_args!("{key}: publisher gone (mirror kept)"));
                self.strays.forget(key);
                if entry.is_some_and(|e| !e.mailbox.progress().has_mirror) {
                    self.remove(key);
                }
            }
        }
    }

    /// Asks `key`'s queryable for its description; the reply goes the way of a sample.
    fn query(&self, key: &str) {
        let me = self.me.clone();
        let asked = self
            .session
            .get(key)
            .callback(move |reply| {
                if let (Ok(sample), Some(r)) = (reply.result(), me.upgrade()) {
                    r.on_message(sample.key_expr().as_str(), sample.payload(), Origin::Reply);
                }
            })
            .wait();
        if let Err(e) = asked {
            log(format_args!("{key}: cannot query its description: {e}"));
        }
    }

    /// Removes `key`'s stream; its worker thread ends (the mirror file stays).
    fn remove(&self, key: &str) {
        if let Some(e) = self.streams().remove(key) {
            e.mailbox.close();
        }
    }

    /// Removes streams that have no mirror and were silent for [`strays::FORGET_AFTER`], and
    /// those with a mirror but no publisher that were silent for `departed_after`; forgets
    /// silent keys without a stream.
    pub fn sweep(&self, now: Instant) {
        let snapshot = self.snapshot();
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let (forgotten, departed): (Vec<_>, Vec<_>) = snapshot
            .into_iter()
            .filter(|(key, p)| {
                let silent = now.duration_since(p.last_activity);
                if p.has_mirror {
                    silent >= self.departed_after && !tokens.contains(key)
                } else {
                    silent >= strays::FORGET_AFTER
                }
            })
            .partition(|(_, p)| !p.has_mirror);
        drop(tokens);
        for (key, _) in forgotten {
            log(format_args!("{key}: no mirror and silent: forgotten"));
            self.remove(&key);
        }
        for (key, _) in departed {
            log(format_args!(
                "{key}: no publisher and silent for {} s: worker closed (the mirror stays; it \
                 is opened again when a publisher comes back)",
                self.departed_after.as_secs_f64()
            ));
            self.remove(&key);
        }
        self.strays.sweep(now);
    }

    /// Every stream's figures, by key.
    pub fn snapshot(&self) -> Vec<(String, Progress)> {
        let entries: Vec<(String, Arc<Mailbox>)> = self
            .streams()
            .iter()
            .map(|(k, e)| (k.clone(), Arc::clone(&e.mailbox)))
            .collect();
        let mut v: Vec<_> = entries
            .into_iter()
            .map(|(k, m)| (k, m.progress()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// Hands a parsed message to the stream's mailbox, or counts it there as malformed.
fn deliver(
    key: &str,
    parsed: Result<Parsed, WireError>,
    origin: Origin,
    mailbox: &Mailbox,
    wake: bool,
) {
    let verdict = match parsed {
        Ok(Parsed::Frame(f)) => mailbox.put_frame(f, wake),
        Ok(Parsed::Meta(m)) => mailbox.put_meta(m, origin),
        Err(e) => return log_malformed(key, mailbox.malformed(), &e.to_string()),
    };
    match verdict {
        Verdict::Accept | Verdict::Stale | Verdict::Held | Verdict::Switch => {}
        Verdict::WrongSize { expected } => log_malformed(
            key,
            mailbox.malformed_count(),
            &format!("a frame of the wrong size: the stream's frames have {expected} bytes"),
        ),
        Verdict::Contradiction => log_malformed(
            key,
            mailbox.malformed_count(),
            "a description contradicts the layout already described for its generation \
             (asking the publisher)",
        ),
        Verdict::OtherSource {
            first: true,
            ignored,
            followed,
        } => log(format_args!(
            "{key}: two sources publish here (generations {ignored:016x} and {followed:016x}): \
             following {followed:016x}; the other is ignored while it keeps publishing"
        )),
        Verdict::OtherSource { .. } => {}
    }
}
