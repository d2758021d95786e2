//! Reading frames: registered [`Reader`]s and their wait strategies.
//!
//! A reader registers in a semaphore slot: it writes its PID into `semReadPID[i]` with
//! compare-and-swap (free slots hold ≤ 0 or a dead PID) and sets the `READY` bit of `semctrl[i]`.
//! The writer posts every semaphore after each frame, so the reader's semaphore counts frames
//! (saturating at `SEMAPHORE_MAXVAL`: a slow reader may wake for frames it already missed; the
//! reader counts `cnt0` gaps in [`Reader::missed`], and [`Reader::wait_latest`] drains the backlog).
//! When the stream is re-created, the creator clears `READY` and posts, and a waiting reader returns
//! [`Error::Replaced`]. Dropping the reader releases the slot.
//!
//! Readers that only poll `cnt0` need no slot: [`Stream::poller`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use shmim_layout::{SEMCTRL_READY, SEMSTATUS_CONNECTED};
use shmim_sync::spin::{Gave, Spin, wait_for_change};
use shmim_sync::{liveness, pid, slot};

use crate::consistent::{consistent_copy_counted, wait_for_no_write};
use crate::error::{Error, Result};
use crate::mapping::{Mapping, md};
use crate::pixel::Pixel;
use crate::stream::Stream;

/// A registered (or polling) reader of a stream.
pub struct Reader {
    map: Arc<Mapping>,
    name: String,
    slot: Option<u16>,
    me: i32,
    last: u64,
    missed: u64,
    retries: u64,
    read_timeout: Duration,
    pure_spin: Duration,
}

/// Default pure-spin phase of [`Reader::poll_spin`]: long enough to cover any handoff between two
/// running processes (hundreds of nanoseconds) many times over, short enough that a poller
/// sharing a CPU with its writer delays it by little before it starts yielding.
pub const DEFAULT_PURE_SPIN: Duration = Duration::from_micros(50);

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("stream", &self.name)
            .field("slot", &self.slot)
            .field("last", &self.last)
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
        Reader {
            map: Arc::clone(&self.map),
            name: self.name.clone(),
            slot: None,
            me: pid::current(),
            last: self.cnt0(),
            missed: 0,
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
                reader.slot = Some(i);
                // A replacement that cleared READY and posted just before our bits were set would
                // go unnoticed by this reader's waits: look once, now that READY is set.
                if self.inode_changed()? {
                    return Err(Error::Replaced {
                        name: self.name.clone(),
                    });
                }
                return Ok(reader);
            }
        }
        Err(Error::NoFreeSlot {
            name: self.name.clone(),
            slots: n,
        })
    }
}

/// Sets (or clears) this slot's `READY` control bit and `CONNECTED` status bit.
fn set_bits(map: &Mapping, i: u16, on: bool) {
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

impl Reader {
    /// The semaphore slot, if registered.
    pub fn slot(&self) -> Option<u16> {
        self.slot
    }

    /// The frame number this reader last saw.
    pub fn last_frame(&self) -> u64 {
        self.last
    }

    /// Frames published that this reader never saw (gaps in `cnt0` between its waits).
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Copies [`Self::read_into`] threw away because a writer touched the frame during the copy.
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// Bound of consistent reads facing a busy writer.
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.read_timeout = timeout;
    }

    fn semaphore(&self) -> Result<shmim_sync::semaphore::Semaphore<'_>> {
        match self.slot {
            Some(i) => self.map.sem(i),
            None => Err(Error::IndexOutOfRange {
                what: "reader slot (poller has none)",
                index: 0,
                count: 0,
            }),
        }
    }

    /// After a wake-up: replaced stream? Otherwise note the new frame number.
    fn woke(&mut self) -> Result<u64> {
        if let Some(i) = self.slot {
            if self.map.semctrl(i)?.peek() & SEMCTRL_READY == 0 {
                return Err(Error::Replaced {
                    name: self.name.clone(),
                });
            }
        }
        Ok(self.saw(md!(self.map, cnt0).observe()))
    }

    fn saw(&mut self, cnt0: u64) -> u64 {
        if cnt0 > self.last.wrapping_add(1) && cnt0 > self.last {
            self.missed = self.missed.saturating_add(cnt0 - self.last - 1);
        }
        self.last = cnt0;
        cnt0
    }

    /// Blocks until the writer posts; returns the frame number then current.
    pub fn wait(&mut self) -> Result<u64> {
        self.semaphore()?.wait()?;
        self.woke()
    }

    /// Like [`Self::wait`], for at most `timeout` ([`Error::Timeout`] after it).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<u64> {
        if self.semaphore()?.wait_timeout(timeout)? {
            self.woke()
        } else {
            Err(Error::Timeout(timeout))
        }
    }

    /// Takes a pending post if there is one (no blocking, no system call).
    pub fn try_wait(&mut self) -> Result<Option<u64>> {
        if self.semaphore()?.try_wait() {
            self.woke().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Waits for a post, then drains the backlog, so the next wait is for a new frame.
    pub fn wait_latest(&mut self, timeout: Duration) -> Result<u64> {
        let frame = self.wait_timeout(timeout)?;
        self.semaphore()?.flush();
        Ok(frame)
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
    /// the deadline. Burns a CPU while it waits.
    pub fn poll_spin(&mut self, deadline: Instant) -> Result<u64> {
        let budget = self.pure_spin;
        self.poll(Spin::until(deadline).pure_for(budget), deadline)
    }

    fn poll(&mut self, mut spin: Spin, deadline: Instant) -> Result<u64> {
        match wait_for_change(md!(self.map, cnt0).cell(), self.last, &mut spin, || true) {
            Ok(c) => Ok(self.saw(c)),
            Err(Gave::Timeout | Gave::PeerGone) => Err(Error::Timeout(
                deadline.saturating_duration_since(Instant::now()),
            )),
        }
    }

    /// Hybrid wait: busy-poll for `spin` (a pure spin, the lowest latency when frames come
    /// within it), then block on the semaphore for the rest of `timeout` (no CPU burned when they
    /// do not).
    pub fn wait_hybrid(&mut self, spin: Duration, timeout: Duration) -> Result<u64> {
        let start = Instant::now();
        let until = crate::consistent::deadline_after(start, spin);
        if let Ok(frame) = self.poll(Spin::until(until).pure_for(spin), until) {
            // The post that came with this frame is still pending: take it, so a later blocking
            // wait does not return at once for a frame we already have.
            if let Ok(sem) = self.semaphore() {
                sem.try_wait();
            }
            return Ok(frame);
        }
        self.wait_timeout(timeout.saturating_sub(start.elapsed()))
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
        if buf.len() != g.frame_bytes() {
            return Err(Error::LengthMismatch {
                expected: g.regions.imdatamemsize,
                found: buf.len(),
            });
        }
        let offset = g.regions.data.offset as usize;
        let map = &self.map;
        // Pixels through the readers' own mapping: never the memory a WriteGuard of this
        // process hands out as `&mut` (mapping.rs).
        let pixels = map.reader_pixels()?;
        let (frame, retries) =
            consistent_copy_counted(map, self.read_timeout, || pixels.copy_out(offset, buf))?;
        self.retries += retries;
        Ok(self.saw(frame))
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
        if let Some(i) = self.slot {
            set_bits(&self.map, i, false);
            if let Ok(pid_slot) = self.map.sem_read_pid(i) {
                slot::release(pid_slot.cell(), self.me);
            }
        }
    }
}
