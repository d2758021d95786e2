//! The bytes of frames all `every`-mode queues of one subscriber may hold (`--queue-bytes`).
//!
//! Each stream's queue holds at most [`super::mailbox::EVERY_QUEUE`] frames; with many large
//! streams that multiplies. This bounds the sum: a callback whose frame does not fit waits (the
//! same back-pressure as a full queue) until workers have taken enough frames, except that a
//! stream whose queue is empty may always queue one frame, so every stream moves and a frame
//! larger than the bound still passes.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// Queued frame bytes of one subscriber.
#[derive(Debug)]
pub struct Queued {
    max: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

impl Queued {
    /// A bound of `max` bytes.
    pub fn new(max: u64) -> Self {
        Self {
            max,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Takes `bytes` if they fit (or `always`: the stream's queue is empty).
    pub fn try_take(&self, bytes: u64, always: bool) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if always || used.saturating_add(bytes) <= self.max {
            *used = used.saturating_add(bytes);
            return true;
        }
        false
    }

    /// Gives back the bytes of a frame taken off a queue.
    pub fn give(&self, bytes: u64) {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(bytes);
        drop(used);
        self.freed.notify_all();
    }

    /// Waits until some bytes are given back, at most `timeout` (the caller looks again; the
    /// timeout covers a give that came between its look and this wait).
    pub fn wait(&self, timeout: Duration) {
        let used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.freed.wait_timeout(used, timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fit_the_bound_unless_their_queue_is_empty() {
        let q = Queued::new(100);
        assert!(q.try_take(60, false));
        assert!(!q.try_take(60, false));
        assert!(q.try_take(60, true), "an empty queue always takes one");
        q.give(60);
        q.give(60);
        assert!(q.try_take(100, false));
    }
}
