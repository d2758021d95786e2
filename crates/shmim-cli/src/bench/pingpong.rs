//! The hardware baselines: two processes handing a token back and forth on one shared page,
//! with nothing of shmim's protocol around it.
//!
//! * cache-line ping-pong: each side publishes a counter on its own cache line and spins on the
//!   other's: the least any cross-process handoff can cost here;
//! * semaphore ping-pong: glibc `sem_post` on one process-shared semaphore, `sem_clockwait` on
//!   another: the cost of a futex wake-up, which every blocking wait pays.

use std::fs::OpenOptions;
use std::path::Path;
use std::time::{Duration, Instant};

use memmap2::MmapMut;
use shmim_layout::SemSlot;
use shmim_sync::Field;
use shmim_sync::semaphore::Semaphore;

use crate::failure::{Failure, Result};

/// Layout of the page: every word on its own pair of cache lines.
pub const PING: usize = 0;
pub const PONG: usize = 128;
pub const READY: usize = 256;
pub const SEM_PING: usize = 512;
pub const SEM_PONG: usize = 640;
/// Ten more semaphores, one per cache line, for the publish baseline.
pub const SEM_ROW: usize = 1024;
pub const SEM_ROW_LEN: usize = 10;
/// The protocol floor's flag sits this far after its counter, on the same cache line: `write`
/// is 24 bytes after `cnt0` in the stream header.
pub const FLAG_OFFSET: usize = 24;
/// Fan-out: the publisher's clock at publish, and one acknowledgement word per reader (up to
/// [`ACKS`], a cache line each).
pub const PUBLISHED_AT: usize = 1920;
pub const ACK: usize = 2048;
pub const ACKS: usize = 16;
const LEN: usize = 4096;

/// One page of a file, mapped shared by both processes.
pub struct SharedPage {
    // Keeps the mapping alive; all access goes through `base`.
    _map: MmapMut,
    base: *mut u8,
}

impl SharedPage {
    /// Creates the file (zeroed) and initialises its semaphores; before any peer maps it.
    pub fn create(path: &Path) -> Result<Self> {
        let page = Self::map(path, true)?;
        let row = (0..SEM_ROW_LEN).map(|i| SEM_ROW + 64 * i);
        for at in [SEM_PING, SEM_PONG].into_iter().chain(row) {
            // SAFETY: `at` is an 8-aligned offset inside the page-aligned mapping with 32 bytes to
            // spare; no process uses the slot yet (the peer starts after this returns).
            unsafe { Semaphore::init(page.base.add(at).cast::<SemSlot>(), 0) }
                .map_err(|e| Failure::new(format!("bench: {e} on {}", path.display())))?;
        }
        Ok(page)
    }

    /// Maps a file made by [`Self::create`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::map(path, false)
    }

    fn map(path: &Path, create: bool) -> Result<Self> {
        let fail = |e: std::io::Error| Failure::new(format!("bench: {}: {e}", path.display()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(create)
            .open(path)
            .map_err(fail)?;
        if create {
            file.set_len(LEN as u64).map_err(fail)?;
        }
        // SAFETY: the file is this bench's private file, sized to LEN above (or by the parent
        // before the peer starts) and never truncated while mapped; every shared access to it
        // goes through atomics or glibc semaphores, never through Rust references.
        let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(fail)?;
        if map.len() < LEN {
            return Err(Failure::new(format!(
                "bench: {} is shorter than a page",
                path.display()
            )));
        }
        let base = map.as_mut_ptr();
        Ok(Self { _map: map, base })
    }

    /// The `u64` word at `at` (one of the constants above).
    pub fn word(&self, at: usize) -> Field<'_, u64> {
        assert!(at % 8 == 0 && at + 8 <= LEN);
        // SAFETY: in bounds and 8-aligned (asserted; the mapping is page-aligned), valid while
        // `self` (and so the mapping) lives, and accessed only atomically by both processes.
        unsafe { Field::new(self.base.add(at).cast::<u64>()) }
    }

    /// The semaphore at `at` (one of the constants above).
    pub fn sem(&self, at: usize) -> Semaphore<'_> {
        assert!(at % 8 == 0 && at + 32 <= LEN);
        // SAFETY: in bounds and 8-aligned (asserted), initialised by `create`, valid while `self`
        // lives.
        unsafe { Semaphore::from_slot(self.base.add(at).cast::<SemSlot>()) }
    }

    /// glibc `sem_post` on the semaphore at `at` (the baseline does not use shmim's post).
    pub fn glibc_post(&self, at: usize) {
        let sem = self.sem(at);
        // SAFETY: `sem` is a valid, initialised process-shared semaphore in the live mapping.
        unsafe { libc::sem_post(sem.as_ptr()) };
    }
}

/// Spins until `word` holds `want`; false at `deadline`.
pub fn spin_until(word: Field<'_, u64>, want: u64, deadline: Instant) -> bool {
    let mut spins = 0u32;
    while word.observe() != want {
        std::hint::spin_loop();
        spins = spins.wrapping_add(1);
        if spins % 4096 == 0 && Instant::now() >= deadline {
            return false;
        }
    }
    true
}

/// One side's wait for a token on the semaphore at `at`; false after `limit`.
pub fn sem_wait(page: &SharedPage, at: usize, limit: Duration) -> Result<bool> {
    page.sem(at)
        .wait_timeout(limit)
        .map_err(|e| Failure::new(format!("bench: {e}")))
}
