//! Messages on keys that have no stream (yet): counted and logged, never a thread.
//!
//! A key gets a mailbox and a worker only when a valid description arrives for it. Before that,
//! its frames are dropped (a publisher's frames can overtake its description only at start-up)
//! and its publisher's queryable is asked for the description, at once and then ever less often
//! per key ([`Backoff`]); at most [`MAX_ASKED`] keys are remembered, and a key not heard of for
//! [`FORGET_AFTER`] is forgotten. Liveliness tokens go the same way. So a peer announcing
//! thousands of keys, or sending frames on made-up keys, costs a log line and a few queries, not
//! a thread per key.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::worker::log_malformed;
use crate::log::log;

/// Keys without a stream whose publishers are being asked for a description.
pub const MAX_ASKED: usize = 1024;
/// How long a key without a stream is remembered after its last message.
pub const FORGET_AFTER: Duration = Duration::from_secs(60);

#[derive(Default)]
struct State {
    malformed: u64,
    frames: u64,
    refused: u64,
    asked: HashMap<String, (Backoff, Instant)>,
}

/// The keys without a stream.
#[derive(Default)]
pub struct Strays {
    state: Mutex<State>,
}

impl Strays {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A malformed message on `key`: counted and logged (the first ten, then one in a thousand).
    pub fn malformed(&self, key: &str, why: &str) {
        let n = {
            let mut s = self.lock();
            s.malformed += 1;
            s.malformed
        };
        log_malformed(key, n, why);
    }

    /// A valid description on `key` that cannot have a stream (`why`): counted and logged like
    /// a malformed message.
    pub fn refused(&self, key: &str, why: &str) {
        let n = {
            let mut s = self.lock();
            s.refused += 1;
            s.refused
        };
        if n <= 10 || n % 1000 == 0 {
            log(format_args!("{key}: refused (#{n} of its kind): {why}"));
        }
    }

    /// A frame on `key` before any description: counted and logged; returns whether to ask
    /// the key's publisher for the description now.
    pub fn frame(&self, key: &str) -> bool {
        let n = {
            let mut s = self.lock();
            s.frames += 1;
            s.frames
        };
        if n <= 10 || n % 1000 == 0 {
            log(format_args!(
                "{key}: frame without a description dropped (#{n} on keys without a stream)"
            ));
        }
        self.ask(key)
    }

    /// Whether to ask `key`'s publisher for its description now (a publisher appeared, or a
    /// frame came): at once the first time, then ever less often, for at most
    /// [`MAX_ASKED`] keys.
    pub fn ask(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut s = self.lock();
        if !s.asked.contains_key(key) && s.asked.len() >= MAX_ASKED {
            return false;
        }
        let (backoff, seen) = s
            .asked
            .entry(key.to_owned())
            .or_insert_with(|| (Backoff::default(), now));
        *seen = now;
        backoff.due(now)
    }

    /// `key` has a stream now (or its publisher left): stop asking.
    pub fn forget(&self, key: &str) {
        self.lock().asked.remove(key);
    }

    /// Forgets keys not heard of for [`FORGET_AFTER`].
    pub fn sweep(&self, now: Instant) {
        self.lock()
            .asked
            .retain(|_, (_, seen)| now.duration_since(*seen) < FORGET_AFTER);
    }

    /// Malformed messages on keys without a stream.
    pub fn malformed_count(&self) -> u64 {
        self.lock().malformed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_asked_at_once_then_less_often_and_only_so_many_keys() {
        let s = Strays::default();
        assert!(s.ask("a"));
        assert!(!s.ask("a"), "not again at once");
        for i in 1..MAX_ASKED {
            assert!(s.ask(&format!("k{i}")));
        }
        assert!(!s.ask("one too many"));
        s.forget("a");
        assert!(s.ask("one too many"));
        s.sweep(Instant::now() + FORGET_AFTER);
        assert!(s.ask("a"));
    }
}
