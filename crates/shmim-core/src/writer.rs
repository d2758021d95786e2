//! Writing frames: the [`WriteGuard`].
//!
//! `stream.write()` takes the write flag and claims it (`shmim-sync`'s `write_flag`: the claim PID
//! and ticket in the header's padding; `ownerPID` is never touched) and returns the guard, the
//! only way to get `&mut` access to the pixels. `guard.commit()` publishes in the order of
//! `docs/protocol.md`: circular-buffer copy, times, `cnt0 += 1`, claim cleared, `write = 0`, then
//! semaphores. A guard dropped without `commit` (an early return, a `?`, a panic) is an
//! **abandon**: the flag stays set and claimed, so no consistent reader can accept the
//! half-written frame, no semaphore is posted, and this process remembers that it owns the flag
//! (`abandoned.rs`): the next write through *any* handle of this process to the same file
//! resumes it, and its commit clears it. Readers meanwhile see a stuck writer.
//!
//! A guard can also be set aside on purpose, [`WriteGuard::hold`], for a binding whose write spans
//! several calls (Python's `with stream.write() as a:` block) and so cannot keep a guard that
//! borrows the stream: the flag stays set and claimed exactly as under the live guard, but is
//! recorded nowhere, so no other handle of the process can adopt it; only the returned
//! [`HeldWrite`], given back to [`Stream::resume`], continues the frame. A `HeldWrite` dropped
//! instead is an abandon like any other.

use std::sync::Arc;

use shmim_layout::{CbFrameMd, Timespec};
use shmim_sync::abandoned::Take;
use shmim_sync::write_flag::{Busy, StreamFlag};
use shmim_sync::{liveness, pid};

use crate::abandoned;
use crate::error::{Error, Result};
use crate::mapping::{Mapping, md, now};
use crate::pixel::Pixel;
use crate::stream::Stream;
use crate::writer_pixels::Staging;

/// Exclusive write access to a stream's current frame; commit it or it is abandoned.
#[must_use = "a WriteGuard dropped without commit() abandons the frame: readers see a stuck writer"]
pub struct WriteGuard<'s> {
    pub(crate) stream: &'s mut Stream,
    atime: Option<Timespec>,
    committed: bool,
    /// In-place pixel access under `strict` (`writer_pixels.rs`); empty otherwise.
    #[cfg_attr(not(feature = "strict"), allow(dead_code))]
    pub(crate) staged: Staging,
}

/// A frame whose [`WriteGuard`] was set aside by [`WriteGuard::hold`]: the write flag is still
/// set and claimed by this process, nothing is published, and no other handle of the process can
/// adopt the frame (unlike an abandoned one). [`Stream::resume`] on the handle that held it
/// continues the frame; dropping it abandons the frame (recorded as `abandoned.rs` says, so the
/// next writer of this process resumes it).
#[must_use = "a HeldWrite dropped without Stream::resume abandons the frame"]
pub struct HeldWrite {
    map: Arc<Mapping>,
    name: String,
    /// The claim ticket when the guard was held: a different one at resume or drop means the
    /// flag was taken over (forced) and published since, so it is no longer ours.
    ticket: u32,
    /// Cleared by [`Stream::resume`]: the frame went back to a guard, nothing to abandon.
    armed: bool,
}

impl std::fmt::Debug for HeldWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldWrite")
            .field("stream", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for HeldWrite {
    fn drop(&mut self) {
        // Still our flag (set, claimed by us, same ticket): abandon it as a dropped guard does,
        // so this process's next writer resumes it. Otherwise it was taken over: nothing is ours.
        let me = pid::current();
        let ours = md!(self.map, write).peek() != 0
            && md!(self.map, claim_pid).peek() == me
            && md!(self.map, claim_ticket).peek() == self.ticket;
        if self.armed && ours {
            abandoned::remember(&self.map, &write_flag(&self.map));
        }
    }
}

/// The write protocol on `map`'s header: `write`, `cnt0` and the two claim words.
pub(crate) fn write_flag(map: &Mapping) -> StreamFlag<'_> {
    StreamFlag::from_fields(
        md!(map, write),
        md!(map, cnt0),
        md!(map, claim_pid),
        md!(map, claim_ticket),
    )
}

impl Stream {
    /// Takes the write flag. `WriterBusy` if another writer holds it.
    ///
    /// A frame abandoned by this process (a guard dropped without commit, through this handle or
    /// another one to the same file, even one dropped since) is resumed: the flag is still ours,
    /// and this guard's commit publishes a complete frame over the half-written one. A forked
    /// child never resumes its parent's abandoned frames (their claim names the parent).
    pub fn write(&mut self) -> Result<WriteGuard<'_>> {
        self.take_flag(Take::Begin)
    }

    /// Takes over a write flag left set by a dead writer (or by a stuck one, with `force`): the
    /// returned guard's commit publishes a complete new frame and clears the flag. The flag is
    /// never cleared without a new frame, so readers never accept the dead writer's half frame.
    ///
    /// Without `force`, the flag is taken only on the evidence of [`Error::WriterDied`] (its
    /// claim names a process that no longer runs, and the flag is still the one that process
    /// took), by a single compare-and-swap of the claim: of any number of concurrent recoverers
    /// and writers, in any processes, at most one wins; the others get [`Error::WriterBusy`]. A
    /// clear flag is simply taken, as by [`Self::write`], and so is a frame this process
    /// abandoned.
    ///
    /// `force` takes the flag whatever holds it: **if its holder is alive after all, two writers
    /// then write at once** and readers may accept a torn frame. For an operator who checked by
    /// hand (a legacy writer's flag, which carries no claim, or a writer in another PID
    /// namespace).
    pub fn recover_writer(&mut self, force: bool) -> Result<WriteGuard<'_>> {
        self.take_flag(if force { Take::Force } else { Take::Recover })
    }

    /// Continues the frame set aside by [`WriteGuard::hold`]: a guard over the same flag, which
    /// the handle never released. `held` must come from this handle (the same open stream);
    /// another one is [`Error::HeldElsewhere`] and `held` is dropped, i.e. abandoned, so the
    /// next writer of this process to its file resumes it. If the flag was forced away and
    /// published since (see [`Self::recover_writer`]), this is a plain [`Self::write`].
    pub fn resume(&mut self, mut held: HeldWrite) -> Result<WriteGuard<'_>> {
        if !Arc::ptr_eq(&held.map, &self.map) {
            return Err(Error::HeldElsewhere {
                name: held.name.clone(),
            });
        }
        held.armed = false;
        if md!(self.map, claim_ticket).peek() != held.ticket {
            return self.write();
        }
        // Still the flag this handle held, recorded nowhere: resumed directly, never through the
        // registry (no other handle may have it).
        self.check_cpu()?;
        let taken = write_flag(&self.map).resume(pid::current(), liveness::is_dead);
        self.guard_after(taken)
    }

    /// Takes the flag as `how` says: through this process's registry of abandoned frames
    /// (`abandoned.rs`) for a file, or resuming this handle's own abandon for a process-local
    /// image.
    fn take_flag(&mut self, how: Take) -> Result<WriteGuard<'_>> {
        self.check_cpu()?;
        let taken = {
            let flag = write_flag(&self.map);
            if self.owns_flag && how != Take::Force {
                flag.resume(pid::current(), liveness::is_dead)
            } else {
                abandoned::take(&self.map, &flag, how)
            }
        };
        self.guard_after(taken)
    }

    /// The guard over a flag taken (`Ok`), or `WriterBusy`.
    fn guard_after(&mut self, taken: std::result::Result<(), Busy>) -> Result<WriteGuard<'_>> {
        taken.map_err(|busy| Error::WriterBusy { writer: busy.claim })?;
        self.owns_flag = false;
        Ok(WriteGuard {
            stream: self,
            atime: None,
            committed: false,
            staged: Staging::default(),
        })
    }

    /// Writes a whole frame from `src` and commits it; returns the new frame number.
    pub fn write_frame<T: Pixel>(&mut self, src: &[T]) -> Result<u64> {
        self.check_type::<T>()?;
        if src.len() as u64 != self.nelement() {
            return Err(Error::LengthMismatch {
                expected: self.nelement(),
                found: src.len(),
            });
        }
        let mut guard = self.write()?;
        guard.copy_from_bytes(bytemuck::cast_slice(src))?;
        guard.commit()
    }
}

impl WriteGuard<'_> {
    fn map(&self) -> &Mapping {
        &self.stream.map
    }

    pub(crate) fn mapping(&self) -> &Mapping {
        &self.stream.map
    }

    /// Copies a whole frame in.
    pub fn copy_from<T: Pixel>(&mut self, src: &[T]) -> Result<()> {
        self.stream.check_type::<T>()?;
        self.copy_from_bytes(bytemuck::cast_slice(src))
    }

    /// Copies a whole frame of bytes in.
    pub fn copy_from_bytes(&mut self, src: &[u8]) -> Result<()> {
        let g = self.stream.geometry();
        g.check_frame_bytes(src.len())?;
        let offset = g.regions.data.offset as usize;
        self.settle();
        self.map().copy_in(offset, src);
        Ok(())
    }

    /// Sets `cnt1`, the slice of a cube this frame wrote (legacy convention: the writer's).
    pub fn set_cnt1(&mut self, slice: u64) {
        md!(self.map(), cnt1).set(slice);
    }

    /// Sets the acquisition time published with the frame (default: the commit time).
    pub fn set_atime(&mut self, atime: Timespec) {
        self.atime = Some(atime);
    }

    /// Sets the frame aside without publishing or abandoning it: the flag stays held, for this
    /// handle alone, until [`Stream::resume`] takes the returned [`HeldWrite`] back (module docs).
    /// Pixels written meanwhile through other means (a binding's array over
    /// [`Stream::live_pixels`]) are part of the frame the resumed guard commits.
    pub fn hold(mut self) -> HeldWrite {
        self.settle();
        // Not an abandon: nothing recorded, so no other handle of the process adopts the flag. A
        // process-local image has no other handle; it keeps the flag as after an abandon.
        self.committed = true;
        if self.stream.path().is_none() {
            self.stream.owns_flag = true;
        }
        HeldWrite {
            map: Arc::clone(&self.stream.map),
            name: self.stream.name.clone(),
            ticket: md!(self.stream.map, claim_ticket).peek(),
            armed: true,
        }
    }

    /// Publishes the frame; returns its frame number (the new `cnt0`).
    pub fn commit(mut self) -> Result<u64> {
        self.settle();
        let frame = commit(self.map(), self.atime, pid::current());
        self.committed = true;
        Ok(frame)
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        self.settle();
        if !self.committed {
            // Abandon: leave the flag set and claimed (see the module docs), and remember we own
            // it: process-wide for a file, in the handle for a process-local image.
            let map = &self.stream.map;
            if !abandoned::remember(map, &write_flag(map)) {
                self.stream.owns_flag = true;
            }
        }
    }
}

/// The publish sequence, for a writer holding the flag (also the C API's `UpdateIm`).
pub(crate) fn commit(map: &Mapping, atime: Option<Timespec>, me: i32) -> u64 {
    let g = map.geometry();
    let t = now();
    if g.cb_size > 0 {
        copy_to_circular_buffer(map, t, atime.unwrap_or(t));
    }
    let md = map.md_ptr();
    // SAFETY: pointer projections inside the header, which is valid while `map` lives.
    let (writetime, atime_field) = unsafe { (&raw mut (*md).writetime, &raw mut (*md).atime) };
    Mapping::set_time(writetime, t);
    Mapping::set_time(atime_field, atime.unwrap_or(t));
    // cnt0 += 1, our claim cleared, write = 0 (shmim-sync decides the orderings). `ownerPID` is
    // the stream owner's (milk), never ours to touch. The last writer is recorded in
    // `semWritePID` by the posts.
    let frame = write_flag(map).publish(me);
    post_all(map, me);
    frame
}

/// Advances `CBindex` (wrapping, counting `CBcycle`), copies the frame into that slot and records
/// its metadata there. Runs under the write flag, before `cnt0` is published.
///
/// One slot per frame number, even across a writer's death: a commit killed after it advanced
/// `CBindex` (its slot's metadata already names the frame `cnt0 + 1` it never published) took the
/// slot of that frame, and the next commit of the same frame, a recoverer's, fills that slot
/// again instead of advancing a second time. Advancing twice would put every later frame one
/// slot off from where a reader's anchor expects it, and rewrite the slot of frame
/// `cnt0 + 2 - CBsize` while readers count on it being safe until frame `cnt0 + 2`
/// (`circular.rs`). A commit killed at a wrap between its `CBindex` and `CBcycle` stores leaves
/// `CBcycle` one short: nothing in the file tells whether it counted the wrap.
fn copy_to_circular_buffer(map: &Mapping, writetime: Timespec, atime: Timespec) {
    let g = map.geometry();
    let (index, cycle) = (md!(map, cb_index), md!(map, cb_cycle));
    let frame = md!(map, cnt0).peek().wrapping_add(1);
    // Our own values (we hold the flag); a hostile out-of-range index restarts at slot 0.
    let current = index.peek();
    let (next, wraps) = if slot_frame(map, current) == Some(frame) {
        (current, cycle.peek())
    } else {
        match current.wrapping_add(1) {
            after if after < g.cb_size => (after, cycle.peek()),
            _ => (0, cycle.peek().wrapping_add(1)),
        }
    };
    let (Ok(slot), Ok(slot_md)) = (map.cb_frame_ptr(next), map.cb_md_ptr(next)) else {
        return;
    };
    let len = g.frame_bytes();
    // SAFETY: both ranges are inside the mapping (validated geometry) and disjoint (the pixel
    // region precedes the circular buffer); this is the writer side of the seqlock race.
    unsafe { shmim_sync::seqlock::copy_shared(slot, map.data_ptr(), len) };
    let entry = CbFrameMd {
        cnt0: frame,
        cnt1: md!(map, cnt1).peek(),
        atime,
        writetime,
    };
    map.copy_in(map.offset_of(slot_md.cast()), bytemuck::bytes_of(&entry));
    index.set(next);
    cycle.set(wraps);
}

/// The frame number slot `i`'s metadata names (`None` for a slot outside the buffer). Written
/// only under the write flag, which we hold.
fn slot_frame(map: &Mapping, i: u32) -> Option<u64> {
    Some(map.copy_cb_md(map.cb_md_ptr(i).ok()?).cnt0)
}

/// Posts every semaphore below `SEMAPHORE_MAXVAL` and the log semaphore, recording the writer in
/// `semWritePID` (stored only when it changes, to keep the cache line clean).
pub(crate) fn post_all(map: &Mapping, me: i32) {
    for i in 0..map.geometry().nb_sem {
        if let (Ok(pid), Ok(sem)) = (map.sem_write_pid(i), map.sem(i)) {
            if pid.peek() != me {
                pid.set(me);
            }
            sem.post();
        }
    }
    map.semlog().post();
}
