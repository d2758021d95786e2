//! Frame buffers lent to Zenoh and returned when it is done with them.
//!
//! A published frame is a buffer Zenoh owns until the frame has left (it may queue it, fragment
//! it, send it from another thread). Allocating a fresh zeroed buffer per frame costs a page-fault
//! or memset pass over the whole frame (as much as the copy itself for large frames); instead the
//! buffer travels as a `bytes::Bytes` whose owner puts it back here when Zenoh drops it.

use std::sync::{Arc, Mutex};

/// Buffers kept for reuse (a publisher has at most a few frames in flight).
const KEEP: usize = 4;

/// A pool of equally sized frame buffers.
#[derive(Debug, Default)]
pub struct Pool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// A buffer on loan; returns to its pool when dropped.
struct Lent {
    buf: Vec<u8>,
    pool: Arc<Pool>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut free = self.pool.free.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() < KEEP {
            free.push(buf);
        }
    }
}

impl Pool {
    /// A buffer of exactly `len` bytes (reused when one is free; contents unspecified).
    pub fn take(&self, len: usize) -> Vec<u8> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(b) = free.pop() {
            if b.len() == len {
                return b;
            }
        }
        vec![0u8; len]
    }

    /// `buf` as a Zenoh payload that comes back to `pool` when Zenoh drops it.
    pub fn lend(pool: &Arc<Self>, buf: Vec<u8>) -> zenoh::bytes::ZBytes {
        bytes::Bytes::from_owner(Lent {
            buf,
            pool: Arc::clone(pool),
        })
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_when_the_payload_is_dropped() {
        let pool = Arc::new(Pool::default());
        let mut b = pool.take(16);
        b[0] = 7;
        let payload = Pool::lend(&pool, b);
        assert_eq!(payload.to_bytes()[0], 7);
        assert!(pool.free.lock().unwrap().is_empty(), "on loan");
        drop(payload);
        assert_eq!(pool.take(16)[0], 7, "the same buffer, reused");
    }
}
