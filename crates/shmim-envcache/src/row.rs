//! One row of the table: an entry written once, then published by a flag.
//!
//! A row has two states. *Unpublished*: `ready` is false, `entry` is `None`, and only the thread
//! holding the table's fill lock may touch `entry`. *Published*: `ready` is true, `entry` is
//! `Some`, and nobody writes it again; any thread may read it. The only transition is
//! [`Row::publish`], and there is no way back.

use std::ffi::{OsStr, OsString};

use crate::primitive::{AtomicBool, Ordering, UnsafeCell};

/// A cached variable: its name, and its value at first read (`None`: it was absent).
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) name: OsString,
    pub(crate) value: Option<OsString>,
}

impl Entry {
    /// Whether this entry caches `name` (byte-wise comparison, as the C library's `getenv`).
    #[inline]
    pub(crate) fn is_for(&self, name: &OsStr) -> bool {
        let (mine, theirs) = (self.name.as_encoded_bytes(), name.as_encoded_bytes());
        mine.len() == theirs.len() && same_len_eq(mine, theirs)
    }
}

/// Byte equality of two slices of equal length. Up to 16 bytes (`MILK_SHM_DIR` is 12) it is two
/// overlapping compares of at most a word each, inline: a call to `memcmp` would be most of the
/// cost of a hit. Longer names fall back to the slice comparison.
#[inline(always)]
fn same_len_eq(a: &[u8], b: &[u8]) -> bool {
    /// The first and the last `W` bytes (they overlap when `s` is shorter than `2 * W`).
    fn ends<const W: usize>(s: &[u8]) -> Option<(&[u8; W], &[u8; W])> {
        Some((s.first_chunk()?, s.last_chunk()?))
    }
    match a.len() {
        0 => true,
        1 => a[0] == b[0],
        2..4 => ends::<2>(a) == ends::<2>(b),
        4..8 => ends::<4>(a) == ends::<4>(b),
        8..=16 => ends::<8>(a) == ends::<8>(b),
        _ => a == b,
    }
}

pub(crate) struct Row {
    /// False → true once, in [`Row::publish`]; never cleared.
    ready: AtomicBool,
    /// Written only while `ready` is false, by the holder of the table's fill lock.
    entry: UnsafeCell<Option<Entry>>,
}

impl Row {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self {
            ready: AtomicBool::new(false),
            entry: UnsafeCell::new(None),
        }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self {
            ready: AtomicBool::new(false),
            entry: UnsafeCell::new(None),
        }
    }

    /// The entry, if this row is published. Lock-free; any thread.
    #[inline]
    pub(crate) fn published(&self) -> Option<&Entry> {
        // Acquire pairs with the Release store in `publish`: reading `true` means the write of
        // `entry` that preceded that store happens-before the read below.
        if !self.ready.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `ready` was true under Acquire, so the one write of `entry` (in `publish`)
        // happens-before this read; `publish` is the only writer and its contract forbids
        // publishing a row twice, so no write can overlap this read or any later use of the
        // reference, which lives no longer than `&self`.
        self.entry.with(|entry| unsafe { (*entry).as_ref() })
    }

    /// The entry, if this row is published, read by the holder of the fill lock.
    ///
    /// # Safety
    /// The caller holds the fill lock of the table that owns this row.
    #[inline]
    pub(crate) unsafe fn published_locked(&self) -> Option<&Entry> {
        // Relaxed: every store to `ready` is made with the fill lock held, and taking the lock
        // synchronises with its previous release, so every earlier publication (flag and entry)
        // already happens-before this load. The lock does the ordering.
        if !self.ready.load(Ordering::Relaxed) {
            return None;
        }
        // SAFETY: the row is published and its writer released the lock we now hold, so the
        // write happens-before this read; published rows are never written again.
        self.entry.with(|entry| unsafe { (*entry).as_ref() })
    }

    /// Fills this row with `entry` and publishes it; returns the published entry.
    ///
    /// # Safety
    /// The caller holds the fill lock of the table that owns this row, and has seen this row
    /// unpublished (`published_locked` returned `None`) while holding it.
    pub(crate) unsafe fn publish(&self, entry: Entry) -> &Entry {
        // SAFETY: the row is unpublished, so no reader touches `entry` (readers need `ready` to be
        // true), and every writer holds the fill lock, which the caller holds: this write is the
        // only access. The returned reference is shared and the row is never written again.
        let entry: &Entry = self.entry.with_mut(|slot| unsafe { (*slot).insert(entry) });
        // Release pairs with the Acquire load in `published`: a reader that sees `true` also sees
        // the entry written above, never a half-written one.
        self.ready.store(true, Ordering::Release);
        entry
    }
}
