//! The bytes of mirror files a subscriber may create in all (`--max-total-bytes`).
//!
//! Every stream published under a subscribed key expression gets a mirror: a peer on the network
//! decides how many and how large. `--max-bytes` bounds one mirror file; this bounds their sum.
//! A mirror holds a [`Reservation`] of its file size for as long as it is open.

use std::sync::{Arc, Mutex};

use crate::error::{BridgeError, Result};

/// The budget of one subscriber.
#[derive(Debug)]
pub struct Budget {
    max: u64,
    used: Mutex<u64>,
}

/// Bytes of a budget held by one mirror; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Budget {
    /// A budget of `max` bytes.
    pub fn new(max: u64) -> Arc<Self> {
        Arc::new(Self {
            max,
            used: Mutex::new(0),
        })
    }

    /// Takes `bytes` for mirror `name`, or says that they do not fit.
    pub fn reserve(self: &Arc<Self>, name: &str, bytes: u64) -> Result<Reservation> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let total = used.saturating_add(bytes);
        if total > self.max {
            return Err(BridgeError::OverBudget {
                name: name.to_owned(),
                bytes,
                used: *used,
                max: self.max,
            });
        }
        *used = total;
        Ok(Reservation {
            budget: Arc::clone(self),
            bytes,
        })
    }
}

impl Reservation {
    /// The bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut used = self.budget.used.lock().unwrap_or_else(|p| p.into_inner());
        *used = used.saturating_sub(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_fit_the_budget_and_come_back_when_dropped() {
        let b = Budget::new(100);
        let a = b.reserve("a", 60).unwrap();
        assert!(matches!(
            b.reserve("b", 50),
            Err(BridgeError::OverBudget { used: 60, .. })
        ));
        drop(a);
        let _b = b.reserve("b", 50).unwrap();
        assert!(b.reserve("c", u64::MAX).is_err(), "no overflow");
    }
}
