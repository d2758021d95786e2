//! When to ask a publisher for its description again: at once, then ever less often.

use std::time::{Duration, Instant};

/// The first pause between two requests.
const FIRST: Duration = Duration::from_millis(500);
/// The longest pause.
const LONGEST: Duration = Duration::from_secs(8);

/// Requests for one key: the first is due at once, each later one after twice the last pause
/// (0.5 s, 1 s, 2 s … 8 s), until [`Self::reset`] (a description arrived).
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Option<Instant>,
    pause: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: None,
            pause: FIRST,
        }
    }
}

impl Backoff {
    /// Whether a request is due at `now`; if so, the next one is scheduled.
    pub fn due(&mut self, now: Instant) -> bool {
        if self.next.is_some_and(|t| now < t) {
            return false;
        }
        self.next = Some(now + self.pause);
        self.pause = (self.pause * 2).min(LONGEST);
        true
    }

    /// Starts again from the first pause.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// When the last request was scheduled to be followed by the next.
    pub fn next(&self) -> Option<Instant> {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_come_at_once_then_ever_less_often() {
        let (mut b, t) = (Backoff::default(), Instant::now());
        assert!(b.due(t));
        assert!(!b.due(t + Duration::from_millis(499)));
        assert!(b.due(t + FIRST));
        assert!(!b.due(t + FIRST + Duration::from_millis(999)));
        assert!(b.due(t + FIRST * 3));
        for _ in 0..10 {
            b.due(t + Duration::from_secs(3600));
        }
        assert_eq!(b.pause, LONGEST);
        b.reset();
        assert!(b.due(t));
    }
}
