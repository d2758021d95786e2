//! Reading frames: registered [`Reader`]s and their wait strategies.
//!
//! A reader registers in a semaphore slot: it writes its PID into `semReadPID[i]` with
//! compare-and-swap (free slots hold ≤ 0 or a dead PID) and sets the `READY` bit of `semctrl[i]`.
//! The writer posts every semaphore after each frame, so the reader's semaphore counts frames
//! (saturating at `SEMAPHORE_MAXVAL`: a slow reader may wake for frames it already missed; the
//! reader counts `cnt0` gaps in [`Reader::missed`], and [`Reader::wait_latest`] drains the backlog).
//!
//! **Each frame at most once.** A frame is its `cnt0`. Every strategy returns a frame only when
//! `cnt0` moved past the last one this reader returned; a post that brings no new frame (one the
//! busy-poll phase of [`Reader::wait_hybrid`] already returned, a backlog of saturated posts, a
//! post without a publish) is consumed and the wait goes on. The post waits of `post.rs`
//! ([`Reader::wait_post`]…) are the exception, on purpose: they return for any post, as the
//! legacy C waits do.
//!
//! **Replacement.** When the stream is re-created, the creator clears `READY` in every slot and
//! posts nothing: a waiter must never be told a frame arrived when none did. So every strategy
//! looks by itself (`watch.rs`): `READY` on every call (one load), and the stream's path at least
//! every 100 ms ([`REPLACEMENT_CHECK_EVERY`]). `READY` cleared on our slot, or a different file at
//! the stream's path, is [`Error::Replaced`]; no file at the path is [`Error::Removed`]. Blocking
//! waits are therefore sliced: timed waits of at most 100 ms, which cost nothing while frames flow
//! (a post ends the slice at once). The busy-poll checks at the start of every call, before it
//! first looks at `cnt0`: a writer that still publishes on the replaced file (it mapped it before)
//! would otherwise hand every call a frame before any check ran.
//!
//! **Fork.** A `Reader` inherited by a forked child belongs to the parent: dropping it there
//! leaves the slot and its bits alone (the reader remembers the PID that registered it).
//!
//! Readers that only poll `cnt0` need no slot: [`Stream::poller`]. The design is in
//! `docs/protocol.md` ("Registered readers", "Waiting", "Replacing and removing a stream", "Fork").

use std::sync::Arc;
use std::time::{Duration, Instant};

use shmim_layout::{SEMCTRL_READY, SEMSTATUS_CONNECTED};
use shmim_sync::semaphore::Semaphore;
use shmim_sync::spin::{Gave, Spin, wait_for_change};
use shmim_sync::{liveness, pid, slot};

use crate::consistent::{consistent_copy_counted, deadline_after, wait_for_no_write};
use crate::error::{Error, Result};
use crate::mapping::{Mapping, md};
use crate::pixel::Pixel;
use crate::stream::Stream;
use crate::watch::{REPLACEMENT_CHECK_EVERY, Watch};

/// A registered (or polling) reader of a stream.
pub struct Reader {
    map: Arc<Mapping>,
    name: String,
    /// The PID that registered the slot: only that process releases it.
    me: i32,
    frames: Frames,
    watch: Watch,
    retries: u64,
    read_timeout: Duration,
    pure_spin: Duration,
}

/// The frames a reader returned: the last one, and the gaps.
pub(crate) struct Frames {
    pub(crate) last: u64,
    missed: u64,
}

/// What a post means to a wait: `Some` ends the wait with it, `None` consumes it and waits on.
pub(crate) type OnPost<T> = fn(&mut Frames, &Mapping) -> Option<T>;

/// Default pure-spin phase of [`Reader::poll_spin`]: long enough to cover any handoff between two
/// running processes (hundreds of nanoseconds) many times over, short enough that a poller
/// sharing a CPU with its writer delays it by little before it starts yielding.
pub const DEFAULT_PURE_SPIN: Duration = Duration::from_micros(50);

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("stream", &self.name)
            .field("slot", &self.watch.slot)
            .field("last", &self.frames.last)
            .finish()
    }
}

impl Stream {
    /// Registers a reader in the first free semaphore slot.
    pub fn reader(&self) -> Result<Reader> {
        self.register(None)
    }

    /// Registers a reader, preferring slot `preferred` if it is free (the legacy
    /// `getsemwaitindex` rule), else the first free one.
    pub fn reader_at(&self, preferred: u16) -> Result<Reader> {
        if preferred >= self.geometry().nb_sem {
            return Err(Error::IndexOutOfRange {
                what: "semaphore",
                index: preferred.into(),
                count: self.geometry().nb_sem.into(),
            });
        }
        self.register(Some(preferred))
    }

    /// A reader without a slot: it can poll `cnt0` and copy frames, not block on a semaphore.
    pub fn poller(&self) -> Reader {
        let mapped = self
            .map
            .file()
            .and_then(|(file, _, _)| rustix::fs::fstat(file).ok())
            .map(|st| (st.st_dev, st.st_ino));
        Reader {
            map: Arc::clone(&self.map),
            name: self.name.clone(),
            me: pid::current(),
            frames: Frames {
                last: self.cnt0(),
                missed: 0,
            },
            watch: Watch {
                slot: None,
                mapped,
                checked: Instant::now(),
            },
            retries: 0,
            read_timeout: self.read_timeout,
            pure_spin: DEFAULT_PURE_SPIN,
        }
    }

    fn register(&self, preferred: Option<u16>) -> Result<Reader> {
        let me = pid::current();
        let n = self.geometry().nb_sem;
        let order = preferred
            .into_iter()
            .chain((0..n).filter(|i| Some(*i) != preferred));
        for i in order {
            let pid_slot = self.map.sem_read_pid(i)?;
            if slot::claim(pid_slot.cell(), me, liveness::is_dead) {
                // Frames posted before we came are not ours to report.
                self.map.sem(i)?.flush();
                set_bits(&self.map, i, true);
                let mut reader = self.poller();
                reader.watch.slot = Some(i);
                // A replacement that cleared READY just before our bit was set would go
                // unnoticed through the bit: look at the path once, now that READY is set
                // (dropping the reader on error releases the slot).
                reader.watch.path(&reader.map, &reader.name)?;
                return Ok(reader);
            }
        }
        Err(Error::NoFreeSlot {
            name: self.name.clone(),
            slots: n,
        })
    }
}

/// Whether a native `Reader` holds slot `i`: it sets the slot's `CONNECTED` status bit while it
/// is registered (`set_bits`); the legacy claim sets no bit. (A `Reader` claims the PID first and
/// sets the bit just after: a legacy claim of the same process in that window of a few
/// instructions still takes the slot for its own.)
pub(crate) fn held_by_reader(map: &Mapping, i: u16) -> bool {
    map.semstatus(i)
        .is_ok_and(|s| s.peek() & SEMSTATUS_CONNECTED != 0)
}

/// Sets (or clears) this slot's `READY` control bit and `CONNECTED` status bit.
pub(crate) fn set_bits(map: &Mapping, i: u16, on: bool) {
    for (field, bit) in [
        (map.semctrl(i), SEMCTRL_READY),
        (map.semstatus(i), SEMSTATUS_CONNECTED),
    ] {
        let Ok(field) = field else { continue };
        let mut v = field.peek();
        loop {
            let want = if on { v | bit } else { v & !bit };
            if want == v {
                break;
            }
            match field.replace(v, want) {
                Ok(_) => break,
                Err(actual) => v = actual,
            }
        }
    }
}

impl Frames {
    /// Records `cnt0` as returned, counting the frames skipped since the last one.
    fn saw(&mut self, cnt0: u64) -> u64 {
        if cnt0 > self.last.wrapping_add(1) && cnt0 > self.last {
            self.missed = self.missed.saturating_add(cnt0 - self.last - 1);
        }
        self.last = cnt0;
        cnt0
    }

    /// `map`'s frame counter now, if it moved past the last frame returned (then recorded): the
    /// frame waits' [`OnPost`], which consumes a post that brings no new frame.
    pub(crate) fn new_frame(&mut self, map: &Mapping) -> Option<u64> {
        let c = md!(map, cnt0).observe();
        (c != self.last).then(|| self.saw(c))
    }
}

/// The semaphore of a reader's `slot` (an error for a poller, which has none). A free function,
/// so that it borrows the mapping alone and a wait can update the rest of its reader meanwhile.
fn slot_semaphore(map: &Mapping, slot: Option<u16>) -> Result<Semaphore<'_>> {
    match slot {
        Some(i) => map.sem(i),
        None => Err(Error::IndexOutOfRange {
            what: "reader slot (poller has none)",
            index: 0,
            count: 0,
        }),
    }
}

impl Reader {
    /// The semaphore slot, if registered.
    pub fn slot(&self) -> Option<u16> {
        self.watch.slot
    }

    /// The frame number this reader last saw.
    pub fn last_frame(&self) -> u64 {
        self.frames.last
    }

    /// Frames published that this reader never saw (gaps in `cnt0` between its waits).
    pub fn missed(&self) -> u64 {
        self.frames.missed
    }

    /// Copies [`Self::read_into`] threw away because a writer touched the frame during the copy.
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// Bound of consistent reads facing a busy writer.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.read_timeout = timeout;
    }

    /// The registered slot's semaphore.
    fn semaphore(&self) -> Result<Semaphore<'_>> {
        slot_semaphore(&self.map, self.watch.slot)
    }

    /// Blocks on the slot's semaphore until a post that `on_post` accepts, or `deadline`
    /// (`Ok(None)`), in slices of at most [`REPLACEMENT_CHECK_EVERY`] with the replacement check
    /// between them.
    pub(crate) fn block<T>(
        &mut self,
        deadline: Option<Instant>,
        on_post: OnPost<T>,
    ) -> Result<Option<T>> {
        let sem = slot_semaphore(&self.map, self.watch.slot)?;
        let (map, name) = (&*self.map, self.name.as_str());
        loop {
            let now = Instant::now();
            self.watch.check(map, name, now)?;
            let slice_end = now + REPLACEMENT_CHECK_EVERY;
            let until = deadline.map_or(slice_end, |d| d.min(slice_end));
            if sem.wait_timeout(until.saturating_duration_since(now))? {
                // A post: taken, unless READY was cleared (then it is not a frame's: a writer
                // still writing the replaced file) or `on_post` waits on.
                self.watch.ready(map, name)?;
                if let Some(taken) = on_post(&mut self.frames, map) {
                    return Ok(Some(taken));
                }
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// Takes pending posts until one that `on_post` accepts (no blocking); `Ok(None)` when none
    /// is left. Checks `READY` on every call and the stream's path at most every 100 ms.
    pub(crate) fn take_pending<T>(&mut self, on_post: OnPost<T>) -> Result<Option<T>> {
        let sem = slot_semaphore(&self.map, self.watch.slot)?;
        let (map, name) = (&*self.map, self.name.as_str());
        self.watch.check(map, name, Instant::now())?;
        while sem.try_wait() {
            self.watch.ready(map, name)?;
            if let Some(taken) = on_post(&mut self.frames, map) {
                return Ok(Some(taken));
            }
        }
        Ok(None)
    }

    /// [`Self::block`] for ever (`timeout` `None`) or for at most `timeout` ([`Error::Timeout`]
    /// after it).
    pub(crate) fn wait_for<T>(
        &mut self,
        timeout: Option<Duration>,
        on_post: OnPost<T>,
    ) -> Result<T> {
        let deadline = timeout.map(|t| deadline_after(Instant::now(), t));
        // Without a deadline `block` returns only with a post or an error.
        self.block(deadline, on_post)?
            .ok_or(Error::Timeout(timeout.unwrap_or(Duration::MAX)))
    }

    /// Blocks until the writer publishes a new frame; returns its frame number. [`Error::Replaced`]
    /// or [`Error::Removed`] within 100 ms of the stream being re-created or deleted.
    pub fn wait(&mut self) -> Result<u64> {
        self.wait_for(None, Frames::new_frame)
    }

    /// Like [`Self::wait`], for at most `timeout` ([`Error::Timeout`] after it).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<u64> {
        self.wait_for(Some(timeout), Frames::new_frame)
    }

    /// Takes a pending post if it brings a new frame (no blocking, no system call while frames
    /// flow); posts that bring none are consumed. Checks `READY` on every call and the stream's
    /// path at most every 100 ms.
    pub fn try_wait(&mut self) -> Result<Option<u64>> {
        self.take_pending(Frames::new_frame)
    }

    /// Waits for a new frame, then drains the backlog and returns the newest frame, so the next
    /// wait is for a frame published after this one.
    pub fn wait_latest(&mut self, timeout: Duration) -> Result<u64> {
        let frame = self.wait_timeout(timeout)?;
        self.flush()?;
        // Frames published before the flush whose posts it drained: the newest is ours now.
        Ok(self.frames.new_frame(&self.map).unwrap_or(frame))
    }

    /// Drains pending posts.
    pub fn flush(&self) -> Result<u32> {
        Ok(self.semaphore()?.flush())
    }

    /// How long [`Self::poll_spin`] spins with one CPU hint per look at `cnt0` before it backs
    /// off and starts yielding its CPU ([`DEFAULT_PURE_SPIN`] unless set). Longer: lower latency
    /// for frames that come later; a writer sharing this reader's CPU waits up to this long.
    pub fn set_pure_spin(&mut self, budget: Duration) {
        self.pure_spin = budget;
    }

    /// The pure-spin phase of [`Self::poll_spin`].
    pub fn pure_spin(&self) -> Duration {
        self.pure_spin
    }

    /// Busy-polls `cnt0` until it moves past the last frame seen, or `deadline`: first a pure
    /// spin for [`Self::pure_spin`], then with backoff and yielding. Returns [`Error::Timeout`] at
    /// the deadline, [`Error::Replaced`] / [`Error::Removed`] within 100 ms of a replacement.
    /// Burns a CPU while it waits.
    pub fn poll_spin(&mut self, deadline: Instant) -> Result<u64> {
        let budget = self.pure_spin;
        self.poll(Spin::until(deadline).pure_for(budget), deadline)
    }

    fn poll(&mut self, mut spin: Spin, deadline: Instant) -> Result<u64> {
        let (map, name, watch) = (&*self.map, self.name.as_str(), &mut self.watch);
        // On every call, before the first look at cnt0: READY, and the path when it is due. The
        // spin's liveness callback below only runs after a millisecond of spinning in one call,
        // so a writer still publishing on a replaced file (a frame already there at every call)
        // would otherwise hide the replacement for ever. Done before the frame can arrive, so it
        // adds nothing to the wake-up; the time is the spin's own reading when it has one.
        watch.check(map, name, spin.clock_read().unwrap_or_else(Instant::now))?;
        let mut gone = None;
        // The spin asks this every millisecond or so: `READY` then, the path every 100 ms.
        let still_there = || match watch.check(map, name, Instant::now()) {
            Ok(()) => true,
            Err(e) => {
                gone = Some(e);
                false
            }
        };
        let last = self.frames.last;
        let outcome = wait_for_change(md!(map, cnt0).cell(), last, &mut spin, still_there);
        match outcome {
            Ok(c) => Ok(self.frames.saw(c)),
            Err(Gave::PeerGone) => Err(gone.unwrap_or_else(|| Error::Replaced {
                name: self.name.clone(),
            })),
            Err(Gave::Timeout) => Err(Error::Timeout(
                deadline.saturating_duration_since(Instant::now()),
            )),
        }
    }

    /// Hybrid wait: busy-poll for `spin` (a pure spin, the lowest latency when frames come
    /// within it), then block on the semaphore for the rest of `timeout` (no CPU burned when they
    /// do not).
    pub fn wait_hybrid(&mut self, spin: Duration, timeout: Duration) -> Result<u64> {
        let start = Instant::now();
        let until = deadline_after(start, spin.min(timeout));
        match self.poll(Spin::until(until).pure_for(spin), until) {
            Ok(frame) => {
                // The post of this frame may be pending, or still to come: take it if it is
                // there; if it comes later, the next wait consumes it as a post without a new
                // frame.
                self.semaphore()?.try_wait();
                Ok(frame)
            }
            Err(Error::Timeout(_)) => self
                .block(Some(deadline_after(start, timeout)), Frames::new_frame)?
                .ok_or(Error::Timeout(timeout)),
            Err(e) => Err(e),
        }
    }

    /// Copies the current frame into `buf` consistently; returns its frame number.
    pub fn read_into<T: Pixel>(&mut self, buf: &mut [T]) -> Result<u64> {
        let g = self.map.geometry();
        if T::DATATYPE != g.datatype {
            return Err(Error::TypeMismatch {
                stream: g.datatype,
                requested: T::DATATYPE,
            });
        }
        self.read_bytes_into(bytemuck::cast_slice_mut(buf))
    }

    /// Copies the current frame's bytes into `buf` (exactly one frame) consistently.
    pub fn read_bytes_into(&mut self, buf: &mut [u8]) -> Result<u64> {
        let g = self.map.geometry();
        if g.location >= 0 {
            return Err(Error::GpuStream {
                name: self.name.clone(),
                location: g.location,
            });
        }
        g.check_frame_bytes(buf.len())?;
        let offset = g.regions.data.offset as usize;
        let map = &self.map;
        // Pixels through the readers' own mapping: never the memory a WriteGuard of this
        // process hands out as `&mut` (mapping.rs).
        let pixels = map.reader_pixels()?;
        let (frame, retries) =
            consistent_copy_counted(map, self.read_timeout, || pixels.copy_out(offset, buf))?;
        self.retries += retries;
        Ok(self.frames.saw(frame))
    }

    /// Waits until no writer holds the flag; `WriterStuck`/`WriterDied` otherwise.
    pub fn busy_wait_for_no_write(&self, timeout: Duration) -> Result<()> {
        wait_for_no_write(&self.map, timeout)
    }

    pub(crate) fn mapping(&self) -> &Mapping {
        &self.map
    }

    pub(crate) fn read_timeout(&self) -> Duration {
        self.read_timeout
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // Only the registering process releases: a forked child's copy of this reader is the
        // parent's registration, still in use by the parent.
        if pid::current() != self.me {
            return;
        }
        if let Some(i) = self.watch.slot {
            set_bits(&self.map, i, false);
            if let Ok(pid_slot) = self.map.sem_read_pid(i) {
                slot::release(pid_slot.cell(), self.me);
            }
        }
    }
}
