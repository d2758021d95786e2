//! Operations the legacy C API (`shmim-capi`) needs beyond the safe API. Hidden from the docs:
//! Rust users have the typed API.
//!
//! A C program holds its stream as an `IMAGE` struct it may copy by value, so the C library
//! cannot keep a Rust handle per stream: every call re-derives one from the `IMAGE`'s `md` pointer
//! and `memsize`. [`View::new`] does that — it copies the header, validates it against the mapped
//! length and bounds every later access by the validated geometry, exactly as an open does — and
//! the operations below are the legacy calls expressed on it, built on the same protocol code as
//! the Rust API (`writer::commit`, `writer::post_all`, `slot::claim`).

use shmim_layout::{IMAGE_METADATA_SIZE, Timespec};
use shmim_sync::semaphore::{Post, Semaphore};
use shmim_sync::{liveness, pid, slot};

use crate::error::{Error, Result};
use crate::mapping::{Mapping, md};
use crate::validate::{Geometry, validate};

/// Validates the header of a process-local image (`shared = 0`) alone: the C API allocates its
/// metadata, pixels and keywords as separate blocks, as the legacy library does, so there is no
/// stream-sized block to check the header against. The same checks as an open, with the file
/// length taken to be the one the header describes; the geometry's sizes (`frame_bytes`, the
/// axes, `nb_kw`) are what the separate blocks were allocated with, its regions describe no
/// memory and must not be used to reach any.
pub fn validate_local_header(header: &[u8; IMAGE_METADATA_SIZE]) -> Result<Geometry> {
    let invalid = |check| Error::Invalid {
        path: "<process-local IMAGE metadata>".into(),
        check,
    };
    let md: shmim_layout::ImageMetadata = bytemuck::pod_read_unaligned(header);
    let regions = shmim_layout::RegionSpec::from_metadata(&md)
        .regions()
        .map_err(|e| invalid(crate::validate::Invalid::Geometry(e)))?;
    validate(header, regions.file_size).map_err(invalid)
}

/// A validated view of stream memory owned by a C `IMAGE`.
///
/// Made for one call and dropped at its end, by the thread that made it: it costs no allocation
/// (its mapping's seldom-used part, which only a [`crate::Stream`] uses, is never made).
pub struct View {
    map: Mapping,
}

impl View {
    /// Validates the header at `base` against `len` and views the memory.
    ///
    /// # Safety
    /// `base` must be 8-aligned and valid for reads and writes of `len` bytes for as long as the
    /// returned view lives (the C caller's `IMAGE` keeps the mapping, or heap block, alive).
    pub unsafe fn new(base: *mut u8, len: usize) -> Result<Self> {
        let mut header = [0u8; IMAGE_METADATA_SIZE];
        if len >= IMAGE_METADATA_SIZE {
            // SAFETY: `base` is readable for `len` ≥ header bytes (caller contract); the copy is
            // the seqlock's raw copy, never a reference into shared memory.
            unsafe { shmim_sync::seqlock::copy_out(&mut header, base) };
        }
        let geo = validate(&header, len as u64).map_err(|check| Error::Invalid {
            path: "<IMAGE memory>".into(),
            check,
        })?;
        // SAFETY: forwarded to the caller; `len` equals the validated size.
        let map = unsafe { Mapping::borrowed(base, geo) };
        Ok(Self { map })
    }

    /// Views memory whose regions the caller located and bounded itself, with no validation of
    /// the header: the C library does this on every call, from the pointers its `IMAGE` was
    /// opened with and the counts the header holds now, so that programs that edit a stream's
    /// metadata in place (milk reshapes streams) keep working while every access stays inside
    /// the mapping.
    ///
    /// # Safety
    /// `base` must be 8-aligned and valid for reads and writes of `geo.regions.file_size` bytes
    /// for as long as the returned view lives, and every region of `geo` must lie inside those
    /// bytes, its offset 8-aligned (what [`View::new`] establishes by validation).
    pub unsafe fn bounded(base: *mut u8, geo: Geometry) -> Self {
        // SAFETY: forwarded to the caller.
        let map = unsafe { Mapping::borrowed(base, geo) };
        Self { map }
    }

    /// The geometry validated when the view was made.
    pub fn geometry(&self) -> &Geometry {
        self.map.geometry()
    }

    /// `md->shared == 1` now.
    pub fn is_shared(&self) -> bool {
        md!(self.map, shared).peek() == 1
    }

    /// `md->inode` now.
    pub fn inode(&self) -> u64 {
        md!(self.map, inode).peek()
    }

    /// `md->cnt0` now (acquire: the frame it counts is visible).
    pub fn cnt0(&self) -> u64 {
        md!(self.map, cnt0).observe()
    }

    /// `md->cnt1` now.
    pub fn cnt1(&self) -> u64 {
        md!(self.map, cnt1).peek()
    }

    /// Legacy `UpdateIm`: publishes the frame the caller wrote (with or without taking the write
    /// flag first) in protocol.md's order — circular-buffer copy, times, `cnt0 += 1`, `write = 0`,
    /// then every semaphore below `SEMAPHORE_MAXVAL` and the log semaphore. Does nothing and
    /// returns `None` unless `md->shared == 1`, as the legacy library.
    pub fn update(&self, atime: Option<Timespec>) -> Result<Option<u64>> {
        if !self.is_shared() {
            return Ok(None);
        }
        let g = self.geometry();
        if g.location >= 0 && g.cb_size > 0 {
            // The frame is on a GPU: there is nothing in the file to copy into the buffer.
            return Err(Error::GpuStream {
                name: g.name.clone(),
                location: g.location,
            });
        }
        Ok(Some(crate::writer::commit(
            &self.map,
            atime,
            pid::current(),
        )))
    }

    /// Semaphore `i`.
    pub fn semaphore(&self, i: u16) -> Result<Semaphore<'_>> {
        self.map.sem(i)
    }

    /// The log semaphore.
    pub fn semlog(&self) -> Semaphore<'_> {
        self.map.semlog()
    }

    /// Legacy `sempost(index ≥ 0)`: posts semaphore `i` if it is below `SEMAPHORE_MAXVAL`,
    /// records this process in `semWritePID[i]`, and posts the log semaphore.
    pub fn post(&self, i: u16) -> Result<Post> {
        post(&self.map, i)
    }

    /// Legacy `sempost(index < 0)`: every semaphore and the log semaphore, as a publish does.
    pub fn post_all(&self) {
        crate::writer::post_all(&self.map, pid::current());
    }

    /// Legacy `sempost_excl`: every semaphore but `skip`, then the log semaphore.
    pub fn post_all_except(&self, skip: Option<u16>) {
        let me = pid::current();
        for i in (0..self.geometry().nb_sem).filter(|i| Some(*i) != skip) {
            if let (Ok(sem), Ok(writer)) = (self.map.sem(i), self.map.sem_write_pid(i)) {
                if writer.peek() != me {
                    writer.set(me);
                }
                sem.post();
            }
        }
        self.map.semlog().post();
    }

    /// Legacy `getsemwaitindex`: the slot already registered to this process (never one a native
    /// [`crate::Reader`] of it holds), else `preferred` if it is free, else the first free slot,
    /// claimed for this process (free: a PID ≤ 0, or a process that no longer exists). `None`
    /// when every slot belongs to a live process. Nothing is flushed or flagged (a killed
    /// `Reader`'s marks are cleared), and the slot is kept until the process ends (legacy
    /// semantics).
    pub fn claim_wait_slot(&self, preferred: Option<u16>) -> Option<u16> {
        claim_wait_slot(&self.map, preferred)
    }
}

/// `sempost(i)` on `map` (the shared body of [`View::post`] and `Stream::post`).
fn post(map: &Mapping, i: u16) -> Result<Post> {
    let sem = map.sem(i)?;
    let writer = map.sem_write_pid(i)?;
    let me = pid::current();
    if writer.peek() != me {
        writer.set(me);
    }
    let posted = sem.post();
    map.semlog().post();
    Ok(posted)
}

/// `getsemwaitindex` on `map` (the shared body of [`View::claim_wait_slot`] and
/// `Stream::claim_wait_slot`). Claims use compare-and-swap, so two shmim readers never get the
/// same slot; unlike the Rust `Reader`, nothing is flushed or flagged (legacy C readers expect
/// neither), and the slot is kept until the process ends.
fn claim_wait_slot(map: &Mapping, preferred: Option<u16>) -> Option<u16> {
    let mine = claimed_wait_slot(map);
    if mine.is_some() {
        return mine;
    }
    let me = pid::current();
    let n = map.geometry().nb_sem;
    let order = preferred
        .filter(|&p| p < n)
        .into_iter()
        .chain((0..n).filter(|&i| Some(i) != preferred));
    for i in order {
        if let Ok(slot_pid) = map.sem_read_pid(i) {
            if slot::claim(slot_pid.cell(), me, liveness::is_dead) {
                // A native `Reader` killed in this slot left its marks: clear them, or the slot
                // would not be found as this process's claim next time.
                crate::reader::set_bits(map, i, false);
                return Some(i);
            }
        }
    }
    None
}

/// The slot an earlier legacy claim gave this process: its `semReadPID` is this process and no
/// native [`crate::Reader`] holds it. A `Reader` of this process registers with the same PID but
/// must keep its slot to itself — a legacy waiter sharing it would take the posts of the frames
/// the `Reader` waits for, and keep waiting there after the `Reader` released the slot to
/// another process — so the lookup passes over slots a `Reader` marked as its own
/// (`reader::held_by_reader`). The legacy claim marks nothing, as C readers expect.
fn claimed_wait_slot(map: &Mapping) -> Option<u16> {
    let me = pid::current();
    (0..map.geometry().nb_sem).find(|&i| {
        map.sem_read_pid(i).is_ok_and(|p| p.peek() == me) && !crate::reader::held_by_reader(map, i)
    })
}

/// The legacy semaphore calls on an open stream, for bindings of the legacy API (pyMilk's
/// `IMAGE.semwait(i)`, `sempost(i)`, `getsemwaitindex(i)` in the Python package's compat layer):
/// semaphores by index, with the C library's semantics (a post is a post, whether or not a frame
/// came with it). Rust programs use [`crate::Reader`].
impl crate::stream::Stream {
    /// Semaphore `i`.
    #[doc(hidden)]
    pub fn semaphore(&self, i: u16) -> Result<Semaphore<'_>> {
        self.map.sem(i)
    }

    /// Legacy `sempost(index ≥ 0)`: posts semaphore `i` if it is below `SEMAPHORE_MAXVAL`,
    /// records this process in `semWritePID[i]`, and posts the log semaphore.
    #[doc(hidden)]
    pub fn post(&self, i: u16) -> Result<Post> {
        post(&self.map, i)
    }

    /// Legacy `sempost(index < 0)`: every semaphore and the log semaphore, as a publish does.
    #[doc(hidden)]
    pub fn post_all(&self) {
        crate::writer::post_all(&self.map, pid::current());
    }

    /// Legacy `getsemwaitindex`: the slot already registered to this process (never one a native
    /// [`crate::Reader`] of it holds), else `preferred` if it is free, else the first free slot,
    /// claimed for this process (free: a PID ≤ 0, or a process that no longer exists). `None`
    /// when every slot belongs to a live process. Nothing is flushed or flagged (a killed
    /// `Reader`'s marks are cleared), and the slot is kept until the process ends (legacy
    /// semantics).
    #[doc(hidden)]
    pub fn claim_wait_slot(&self, preferred: Option<u16>) -> Option<u16> {
        claim_wait_slot(&self.map, preferred)
    }

    /// The slot [`Self::claim_wait_slot`] gave this process earlier, if any (never a native
    /// [`crate::Reader`]'s slot): a binding flushes a slot only when it claims it anew.
    #[doc(hidden)]
    pub fn claimed_wait_slot(&self) -> Option<u16> {
        claimed_wait_slot(&self.map)
    }
}
