//! Between the network and a mirror: the per-stream mailbox.
//!
//! Zenoh delivers samples on its own threads (the subscription callback); a worker thread per
//! stream writes the mirror. The mailbox between them decides what happens when the worker is
//! slower than the link:
//!
//! * [`Mode::Latest`]: one frame slot. A new frame replaces a pending one (counted in
//!   `drops`); the callback never waits, so the link, and therefore the publisher, is never
//!   slowed by this subscriber.
//! * [`Mode::Every`]: a bounded queue. When it is full the callback waits for room, which
//!   backs up Zenoh's reliable, blocking-congestion-control channel to the publisher; the
//!   publisher then misses source frames, and those show up here as gaps in source `cnt0`.
//!
//! Descriptions (metadata and keywords) never queue behind frames and are never dropped: a newer
//! description replaces an older pending one. Gaps are counted at arrival, per generation.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use zenoh::bytes::ZBytes;

use crate::mirror::Stats;
use crate::wire::{FrameHeader, StreamMeta};

/// How a subscription treats frames it cannot mirror as fast as they come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Keep only the newest frame per stream (never slows the publisher; drops counted).
    Latest,
    /// Queue frames (bounded); a full queue slows the link, and the frames the publisher then
    /// misses are counted as gaps.
    Every,
}

/// Frames the `every` queue holds.
pub const EVERY_QUEUE: usize = 8;

/// A frame as received: its header, the whole sample (pixels after the header) and when it came.
pub struct Arrived {
    /// The decoded header.
    pub header: FrameHeader,
    /// The sample's bytes (header included).
    pub payload: ZBytes,
    /// Transport latency: reception − `header.sent`, ns.
    pub latency_ns: i64,
}

/// What the worker gets next.
pub enum Work {
    /// A description to apply.
    Meta(StreamMeta),
    /// A frame to mirror.
    Frame(Arrived),
    /// Nothing came within the wait.
    Idle,
    /// Work is waiting to be taken.
    Pending,
    /// The mailbox was closed.
    Closed,
}

#[derive(Default)]
struct State {
    meta: Option<StreamMeta>,
    frames: VecDeque<Arrived>,
    stats: Stats,
    /// (generation, source cnt0) of the last frame that arrived.
    last: Option<(u64, u64)>,
    received: u64,
    mirrored: u64,
    stale: u64,
    status: String,
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
    /// Gaps, drops, malformed, last latency.
    pub stats: Stats,
    /// What the worker is doing.
    pub status: String,
}

/// One stream's mailbox.
pub struct Mailbox {
    mode: Mode,
    state: Mutex<State>,
    /// Signalled when work arrives.
    work: Condvar,
    /// Signalled when the queue has room (every mode).
    room: Condvar,
}

impl Mailbox {
    /// An empty mailbox.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            room: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A description arrived (as a sample or a query reply).
    pub fn put_meta(&self, meta: StreamMeta) {
        self.lock().meta = Some(meta);
        self.work.notify_one();
    }

    /// A frame arrived: counts gaps, then queues it as the mode says. `wake`: signal the
    /// worker (the caller that is about to [`super::worker::drain`] itself passes `false`).
    pub fn put_frame(&self, frame: Arrived, wake: bool) {
        let mut s = self.lock();
        let h = frame.header;
        if let Some((generation, cnt0)) = s.last {
            if generation == h.generation && h.cnt0 > cnt0.saturating_add(1) {
                s.stats.gaps += h.cnt0 - cnt0 - 1;
            }
        }
        s.last = Some((h.generation, h.cnt0));
        s.received += 1;
        match self.mode {
            Mode::Latest => {
                if s.frames.pop_front().is_some() {
                    s.stats.drops += 1;
                }
                s.frames.push_back(frame);
            }
            Mode::Every => {
                while s.frames.len() >= EVERY_QUEUE && !s.closed {
                    self.work.notify_one();
                    s = self.room.wait(s).unwrap_or_else(|p| p.into_inner());
                }
                s.frames.push_back(frame);
            }
        }
        drop(s);
        if wake {
            self.work.notify_one();
        }
    }

    /// Signals the worker that work is pending.
    pub fn wake(&self) {
        self.work.notify_one();
    }

    /// Continues the counts an earlier process recorded in the mirror: its gap, drop and
    /// malformed totals, and its last source `cnt0` (so frames missed while no subscriber ran
    /// count as gaps), for source generation `generation`.
    pub fn resume(&self, recorded: &Stats, generation: u64) {
        let mut s = self.lock();
        s.stats.gaps += recorded.gaps;
        s.stats.drops += recorded.drops;
        s.stats.malformed += recorded.malformed;
        if s.last.is_none() && recorded.src_cnt0 > 0 {
            s.last = Some((generation, recorded.src_cnt0));
        }
    }

    /// Counts a malformed message for this stream.
    pub fn malformed(&self) -> u64 {
        let mut s = self.lock();
        s.stats.malformed += 1;
        s.stats.malformed
    }

    /// Waits up to `timeout` until work is pending (without taking it: whoever applies work
    /// takes it with [`Self::take_now`] under the worker's lock, which keeps frames in order).
    pub fn wait_for_work(&self, timeout: Duration) -> Work {
        let mut s = self.lock();
        if s.meta.is_none() && s.frames.is_empty() && !s.closed {
            s = self
                .work
                .wait_timeout(s, timeout)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        if s.closed {
            Work::Closed
        } else if s.meta.is_some() || !s.frames.is_empty() {
            Work::Pending
        } else {
            Work::Idle
        }
    }

    /// The next piece of work, if any: a pending description first, then the oldest frame.
    pub fn take_now(&self) -> Option<Work> {
        let mut s = self.lock();
        if let Some(m) = s.meta.take() {
            return Some(Work::Meta(m));
        }
        let f = s.frames.pop_front()?;
        drop(s);
        self.room.notify_one();
        Some(Work::Frame(f))
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Counts a frame written to the mirror and remembers its source figures.
    pub fn count_mirrored(&self, last: &Stats) {
        let mut s = self.lock();
        s.mirrored += 1;
        s.stats.src_cnt0 = last.src_cnt0;
        s.stats.latency_ns = last.latency_ns;
        s.stats.src_writetime_ns = last.src_writetime_ns;
    }

    /// Counts a frame dropped because its description is missing or of another generation.
    pub fn count_stale(&self) {
        self.lock().stale += 1;
    }

    /// Sets the status line's text (what the worker is doing).
    pub fn set_status(&self, status: String) {
        self.lock().status = status;
    }

    /// Received, mirrored and stale frames, the counters and the status, for the status line.
    pub fn progress(&self) -> Progress {
        let s = self.lock();
        Progress {
            received: s.received,
            mirrored: s.mirrored,
            stale: s.stale,
            stats: s.stats,
            status: s.status.clone(),
        }
    }

    /// Stops the worker and releases a waiting callback.
    pub fn close(&self) {
        self.lock().closed = true;
        self.work.notify_all();
        self.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shmim_core::Timespec;

    use super::*;

    fn frame(generation: u64, cnt0: u64) -> Arrived {
        Arrived {
            header: FrameHeader {
                generation,
                cnt0,
                cnt1: 0,
                atime: Timespec::default(),
                writetime: Timespec::default(),
                sent: Timespec::default(),
            },
            payload: ZBytes::from(vec![cnt0 as u8]),
            latency_ns: 0,
        }
    }

    fn next_cnt0(m: &Mailbox) -> Option<u64> {
        match m.take_now()? {
            Work::Frame(f) => Some(f.header.cnt0),
            _ => None,
        }
    }

    #[test]
    fn latest_keeps_only_the_newest_frame_and_counts_the_others_as_drops() {
        let m = Mailbox::new(Mode::Latest);
        for c in 1..=5 {
            m.put_frame(frame(1, c), true);
        }
        assert_eq!(next_cnt0(&m), Some(5));
        assert!(m.take_now().is_none());
        assert_eq!(
            (m.stats().drops, m.stats().gaps, m.progress().received),
            (4, 0, 5)
        );
    }

    #[test]
    fn gaps_in_source_cnt0_are_counted_within_a_generation_only() {
        let m = Mailbox::new(Mode::Every);
        for (g, c) in [(1, 10), (1, 11), (1, 15), (2, 1), (2, 3)] {
            m.put_frame(frame(g, c), true);
            let _ = m.take_now();
        }
        assert_eq!(
            m.stats().gaps,
            3 + 1,
            "11→15 and 1→3; the new generation restarts"
        );
    }

    #[test]
    fn a_pending_description_is_taken_before_frames() {
        let m = Mailbox::new(Mode::Every);
        m.put_frame(frame(1, 1), true);
        let meta = crate::wire::StreamMeta {
            generation: 1,
            name: "x".into(),
            layout: crate::layout::Layout {
                datatype: shmim_core::Datatype::U8,
                shape: vec![1],
                imagetype: 0,
                semaphores: 1,
                keyword_slots: 0,
                cb_size: 0,
            },
            keywords: vec![],
        };
        m.put_meta(meta);
        assert!(matches!(m.take_now(), Some(Work::Meta(_))));
        assert_eq!(next_cnt0(&m), Some(1));
    }

    #[test]
    fn every_mode_keeps_order_and_makes_the_producer_wait_when_full() {
        let m = Arc::new(Mailbox::new(Mode::Every));
        for c in 1..=EVERY_QUEUE as u64 {
            m.put_frame(frame(1, c), true);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let producer = {
            let m = Arc::clone(&m);
            std::thread::spawn(move || {
                m.put_frame(frame(1, 100), true);
                tx.send(()).unwrap();
            })
        };
        // The queue is full: the producer cannot have returned yet (on a slow machine this can
        // only pass wrongly, never fail wrongly).
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        assert_eq!(next_cnt0(&m), Some(1));
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the producer got room");
        producer.join().unwrap();
        let rest: Vec<u64> = std::iter::from_fn(|| next_cnt0(&m)).collect();
        assert_eq!(
            rest,
            (2..=EVERY_QUEUE as u64).chain([100]).collect::<Vec<_>>()
        );
        assert_eq!(m.stats().drops, 0);
    }
}
