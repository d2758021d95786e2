//! Between the network and a mirror: the per-stream mailbox.
//!
//! Zenoh delivers samples on its own threads (the subscription callback); a worker thread per
//! stream writes the mirror. Every message is first judged by the stream's [`Follow`] (right
//! generation, right frame size, one source); what passes is queued in arrival order, and the
//! mode decides what happens when the worker is slower than the link:
//!
//! * [`Mode::Latest`]: one frame slot. A new frame replaces a pending one and carries the count
//!   of frames it replaced (the worker counts them as drops); the callback never waits, so the
//!   link, and therefore the publisher, is never slowed by this subscriber.
//! * [`Mode::Every`]: a bounded queue ([`EVERY_QUEUE`] frames, and all streams' queues together
//!   at most `--queue-bytes`, see [`Queued`]). When it is full the callback waits for room,
//!   which backs up Zenoh's reliable, blocking-congestion-control channel to the publisher; the
//!   publisher then misses source frames, and the worker counts those as gaps in source `cnt0`.
//!
//! A description is never dropped: a newer one replaces a pending one in place. The mailbox
//! counts what never reaches the worker (stale frames, malformed messages, a second source's);
//! the worker counts the rest (gaps, drops), because only it knows which frames it mirrored.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use zenoh::bytes::ZBytes;

use super::follow::{Follow, Origin, Verdict};
use super::queued::Queued;
use crate::mirror::Stats;
use crate::wire::{FrameHeader, StreamMeta, frame_header_len};

/// How a subscription treats frames it cannot mirror as fast as they come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Keep only the newest frame per stream (never slows the publisher; drops counted).
    Latest,
    /// Queue frames (bounded); a full queue slows the link, and the frames the publisher then
    /// misses are counted as gaps.
    Every,
}

/// Frames the `every` queue of one stream holds.
pub const EVERY_QUEUE: usize = 8;

/// A frame as received: its header, the whole sample (pixels after the header) and when it came.
pub struct Arrived {
    /// The decoded header.
    pub header: FrameHeader,
    /// The sample's bytes (header included).
    pub payload: ZBytes,
    /// Transport latency: reception − `header.sent`, ns.
    pub latency_ns: i64,
    /// Frames this one replaced in the `latest` slot before the worker took it.
    pub replaced: u64,
}

impl Arrived {
    /// Pixel bytes the frame carries.
    pub fn pixel_bytes(&self) -> u64 {
        self.payload.len().saturating_sub(frame_header_len()) as u64
    }
}

/// What the worker gets next.
pub enum Work {
    /// A description to apply.
    Meta(StreamMeta),
    /// A frame to mirror.
    Frame(Arrived),
    /// Ask the publisher for the description (a stale or contradicting message came).
    Request,
    /// Nothing came within the wait.
    Idle,
    /// Work is waiting to be taken.
    Pending,
    /// The mailbox was closed.
    Closed,
}

enum Item {
    Meta(StreamMeta),
    Frame(Arrived),
}

struct State {
    items: VecDeque<Item>,
    /// Frames among `items`.
    frames: usize,
    follow: Follow,
    /// The description [`Follow`] holds (queued when a frame of its generation comes).
    held: Option<StreamMeta>,
    want_meta: bool,
    received: u64,
    stale: u64,
    malformed: u64,
    other: u64,
    shown: Stats,
    mirrored: u64,
    status: String,
    has_mirror: bool,
    last_activity: Instant,
    closed: bool,
}

/// A stream's figures for the status line.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Frames received.
    pub received: u64,
    /// Frames written to the mirror.
    pub mirrored: u64,
    /// Frames dropped for want of their description.
    pub stale: u64,
    /// Messages of a second source on the key, ignored.
    pub other: u64,
    /// The mirror's figures (gaps, drops, malformed, last latency, source cnt0).
    pub stats: Stats,
    /// What the worker is doing.
    pub status: String,
    /// Whether the worker has a mirror open.
    pub has_mirror: bool,
    /// When a message last arrived.
    pub last_activity: Instant,
}

/// One stream's mailbox.
pub struct Mailbox {
    mode: Mode,
    state: Mutex<State>,
    /// Signalled when work arrives.
    work: Condvar,
    /// Signalled when the queue has room (every mode).
    room: Condvar,
    queued: Arc<Queued>,
}

impl Mailbox {
    /// An empty mailbox; `every`-mode frames count against `queued`.
    pub fn new(mode: Mode, queued: Arc<Queued>) -> Self {
        Self {
            mode,
            state: Mutex::new(State {
                items: VecDeque::new(),
                frames: 0,
                follow: Follow::default(),
                held: None,
                want_meta: false,
                received: 0,
                stale: 0,
                malformed: 0,
                other: 0,
                shown: Stats::default(),
                mirrored: 0,
                status: String::new(),
                has_mirror: false,
                last_activity: Instant::now(),
                closed: false,
            }),
            work: Condvar::new(),
            room: Condvar::new(),
            queued,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A description arrived (a sample or a query reply): queued if it belongs to the source
    /// followed (or starts following a new incarnation), held if it describes a new incarnation
    /// while the followed one sends frames, counted otherwise.
    pub fn put_meta(&self, meta: StreamMeta, origin: Origin) -> Verdict {
        let mut s = self.lock();
        let now = Instant::now();
        s.last_activity = now;
        let verdict = s.follow.on_meta(meta.generation, &meta.layout, origin, now);
        match verdict {
            Verdict::Held => s.held = Some(meta),
            Verdict::Accept => {
                let pending = s.items.iter_mut().find_map(|i| match i {
                    Item::Meta(m) => Some(m),
                    Item::Frame(_) => None,
                });
                match pending {
                    Some(m) => *m = meta,
                    None => s.items.push_back(Item::Meta(meta)),
                }
            }
            Verdict::Contradiction => {
                s.malformed += 1;
                s.want_meta = true;
            }
            _ => s.other += 1,
        }
        drop(s);
        self.work.notify_one();
        verdict
    }

    /// A frame arrived: queued as the mode says if it belongs to the source followed, counted
    /// otherwise. `wake`: signal the worker (a caller about to [`super::worker::drain`] itself
    /// passes `false`).
    pub fn put_frame(&self, frame: Arrived, wake: bool) -> Verdict {
        let mut s = self.lock();
        let now = Instant::now();
        s.received += 1;
        s.last_activity = now;
        let h = frame.header;
        let verdict = s.follow.on_frame(h.generation, frame.pixel_bytes(), now);
        match verdict {
            Verdict::Accept => {}
            Verdict::Switch => {
                // The held description proved itself: it goes before its frame.
                if let Some(m) = s.held.take() {
                    s.items.push_back(Item::Meta(m));
                }
            }
            Verdict::Stale | Verdict::WrongSize { .. } | Verdict::Contradiction | Verdict::Held => {
                if verdict == Verdict::Stale {
                    s.stale += 1;
                } else {
                    s.malformed += 1;
                }
                s.want_meta = true;
                drop(s);
                self.work.notify_one();
                return verdict;
            }
            Verdict::OtherSource { .. } => {
                s.other += 1;
                return verdict;
            }
        }
        match self.mode {
            Mode::Latest => {
                let mut frame = frame;
                if let Some(at) = s.items.iter().position(|i| matches!(i, Item::Frame(_))) {
                    if let Some(Item::Frame(old)) = s.items.remove(at) {
                        frame.replaced = old.replaced + 1;
                    }
                    s.frames -= 1;
                }
                s.items.push_back(Item::Frame(frame));
                s.frames += 1;
            }
            Mode::Every => {
                let bytes = frame.payload.len() as u64;
                loop {
                    if s.closed {
                        return verdict;
                    }
                    if s.frames < EVERY_QUEUE {
                        if self.queued.try_take(bytes, s.frames == 0) {
                            break;
                        }
                        // Other streams hold the bytes: wait for their workers.
                        drop(s);
                        self.queued.wait(Duration::from_millis(10));
                        s = self.lock();
                        continue;
                    }
                    self.work.notify_one();
                    s = self.room.wait(s).unwrap_or_else(|p| p.into_inner());
                }
                s.items.push_back(Item::Frame(frame));
                s.frames += 1;
            }
        }
        drop(s);
        if wake {
            self.work.notify_one();
        }
        verdict
    }

    /// Signals the worker that work is pending.
    pub fn wake(&self) {
        self.work.notify_one();
    }

    /// Whether a new incarnation's description is held while the followed one sends no frames
    /// (the worker then asks the publisher which is current).
    pub fn held_and_silent(&self) -> bool {
        self.lock().follow.held_and_silent(Instant::now())
    }

    /// Asks the worker to ask the publisher for the description.
    pub fn want_description(&self) {
        self.lock().want_meta = true;
        self.work.notify_one();
    }

    /// Counts a malformed message for this stream; returns the count.
    pub fn malformed(&self) -> u64 {
        let mut s = self.lock();
        s.malformed += 1;
        s.malformed
    }

    /// Malformed messages counted so far.
    pub fn malformed_count(&self) -> u64 {
        self.lock().malformed
    }

    /// Waits up to `timeout` until work is pending (without taking it: whoever applies work
    /// takes it with [`Self::take_now`] under the worker's lock, which keeps frames in order).
    pub fn wait_for_work(&self, timeout: Duration) -> Work {
        let mut s = self.lock();
        if s.items.is_empty() && !s.want_meta && !s.closed {
            s = self
                .work
                .wait_timeout(s, timeout)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        if s.closed {
            Work::Closed
        } else if s.want_meta || !s.items.is_empty() {
            Work::Pending
        } else {
            Work::Idle
        }
    }

    /// The next piece of work, if any, in arrival order (a request for the description first).
    pub fn take_now(&self) -> Option<Work> {
        let mut s = self.lock();
        if s.want_meta {
            s.want_meta = false;
            return Some(Work::Request);
        }
        match s.items.pop_front()? {
            Item::Meta(m) => Some(Work::Meta(m)),
            Item::Frame(f) => {
                s.frames -= 1;
                drop(s);
                if self.mode == Mode::Every {
                    self.queued.give(f.payload.len() as u64);
                    self.room.notify_one();
                }
                Some(Work::Frame(f))
            }
        }
    }

    /// Records a frame written to the mirror and the figures the mirror now shows.
    pub fn count_mirrored(&self, shown: &Stats) {
        let mut s = self.lock();
        s.mirrored += 1;
        s.shown = *shown;
    }

    /// Records the figures the mirror shows (without a new frame).
    pub fn show(&self, shown: &Stats) {
        self.lock().shown = *shown;
    }

    /// Sets the status line's text and whether a mirror is open.
    pub fn set_status(&self, status: String, has_mirror: bool) {
        let mut s = self.lock();
        s.status = status;
        s.has_mirror = has_mirror;
    }

    /// The figures and the status, for the status line.
    pub fn progress(&self) -> Progress {
        let s = self.lock();
        Progress {
            received: s.received,
            mirrored: s.mirrored,
            stale: s.stale,
            other: s.other,
            stats: Stats {
                malformed: s.shown.malformed.max(s.malformed),
                ..s.shown
            },
            status: s.status.clone(),
            has_mirror: s.has_mirror,
            last_activity: s.last_activity,
        }
    }

    /// Stops the worker and releases a waiting callback.
    pub fn close(&self) {
        let mut s = self.lock();
        s.closed = true;
        // Queued frames will never be taken: their bytes go back to the bound.
        if self.mode == Mode::Every {
            for i in &s.items {
                if let Item::Frame(f) = i {
                    self.queued.give(f.payload.len() as u64);
                }
            }
        }
        s.items.clear();
        s.frames = 0;
        drop(s);
        self.work.notify_all();
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests;
