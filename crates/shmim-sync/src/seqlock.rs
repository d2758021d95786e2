//! The consistent read: a seqlock over `cnt0` (sequence) and `write` (writer busy).
//!
//! ```text
//! c  = cnt0            (Acquire: pairs with publish's Release increment; the frame counted c is visible)
//! if write != 0        → writer busy, back off and retry
//! copy pixels          (may race with a new writer; the copy is thrown away if so)
//! fence(Acquire)       (pairs with begin's release fence if the copy saw any new pixel)
//! w  = write           (Acquire: pairs with publish's Release of write = 0)
//! c' = cnt0
//! accept iff w == 0 && c' == c
//! ```
//!
//! If the copy observed any pixel stored by a writer that began after `c`, the fence pair makes
//! `w` read that writer's 1, or its later 0 — and that 0 was stored after its `cnt0` increment,
//! which the acquire on `w` then makes visible to `c'`. Either way the copy is rejected. The
//! initial `write` check is only an early exit: a stale 0 there is caught by validation.
//!
//! Retries are bounded by a deadline ([`crate::spin::Spin`]), not a count: on two cores a reader
//! spinning too eagerly can starve the writer it waits for.

use std::sync::atomic::Ordering::{Acquire, Relaxed};

use crate::field::AtomicCell;
use crate::spin::Spin;

/// Starts a consistent read: `Some(c)` with the frame counter to validate against, or `None` while
/// a writer holds the flag.
#[inline]
pub fn read_begin<C: AtomicCell<u64>, W: AtomicCell<u8>>(cnt0: &C, write: &W) -> Option<u64> {
    let c = cnt0.load(Acquire);
    // Relaxed: an early exit only; validation re-reads the flag with the ordering that matters.
    if write.load(Relaxed) != 0 {
        None
    } else {
        Some(c)
    }
}

/// Ends a consistent read begun with `c`: true iff no writer touched the frame meanwhile.
#[inline]
pub fn read_validate<C: AtomicCell<u64>, W: AtomicCell<u8>>(cnt0: &C, write: &W, c: u64) -> bool {
    let w = acquire_fence_then_load(write);
    // Relaxed: the acquire on `w` already ordered this load after the publish that stored w.
    let c2 = cnt0.load(Relaxed);
    w == 0 && c2 == c
}

/// Ends the copy of one circular-buffer slot: the newest frame whose write may have overlapped
/// the copy. A slot copy needs no quiet stream, only that its own slot was not rewritten, and a
/// writer rewrites the slot of frame `m` only when it writes frame `m + cb_size`.
///
/// ```text
/// copy slot of frame m   (frame m published: m ≤ cnt0 read with Acquire before the copy)
/// fence(Acquire)         (pairs with begin's release fence if the copy saw any store of a write)
/// c' = cnt0
/// newest touched = c' + 1
/// ```
///
/// A writer begins frame `k` (sets the flag, release fence) only after publishing `cnt0 = k - 1`,
/// itself or through the flag's hand-over from the writer before. If the copy observed any store
/// of that write, the fence pair makes everything before the writer's fence visible here, so
/// `c' ≥ k - 1`: every write the copy can have seen is of a frame `≤ c' + 1`. The copy of frame
/// `m` is therefore whole iff `c' + 1 < m + cb_size`. Nothing waits for the flag: a reader copies
/// an older slot while the writer fills the next one.
#[inline]
pub fn newest_frame_touched<C: AtomicCell<u64>, W: AtomicCell<u8>>(cnt0: &C, write: &W) -> u64 {
    // The flag's value does not matter (a write may be in progress or not: `+ 1` covers both);
    // its load is how the TSan build reads the latest value in place of the fence.
    let _ = acquire_fence_then_load(write);
    // Relaxed: ordered after the fence, and read-read coherence keeps it at or past what the
    // fence made visible.
    cnt0.load(Relaxed).saturating_add(1)
}

/// The acquire fence and acquire load of the flag in [`read_validate`].
#[inline]
fn acquire_fence_then_load<W: AtomicCell<u8>>(write: &W) -> u8 {
    #[cfg(not(shmim_tsan))]
    {
        crate::primitive::fence(Acquire);
        write.load(Acquire)
    }
    // TSan ignores fences; an AcqRel RMW reads the latest flag value and synchronises with the
    // writer's RMW in `write_flag::release_fence_after` (see there).
    #[cfg(shmim_tsan)]
    write.fetch_add(0, std::sync::atomic::Ordering::AcqRel)
}

/// Why a consistent read gave up at its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contention {
    /// Every attempt found the write flag set.
    WriterBusy,
    /// The frame kept changing under the copy.
    Changing,
}

/// Copies with [`read_begin`] / `copy` / [`read_validate`] until a copy validates or `spin`
/// runs out. Returns the frame counter of the copied frame.
#[inline]
pub fn read<C: AtomicCell<u64>, W: AtomicCell<u8>>(
    cnt0: &C,
    write: &W,
    spin: &mut Spin,
    mut copy: impl FnMut(),
) -> Result<u64, Contention> {
    loop {
        let last = match read_begin(cnt0, write) {
            Some(c) => {
                copy();
                if read_validate(cnt0, write, c) {
                    return Ok(c);
                }
                Contention::Changing
            }
            None => Contention::WriterBusy,
        };
        if !spin.pause() {
            return Err(last);
        }
    }
}

/// Copies `dst.len()` bytes of live shared memory at `src` into `dst`.
///
/// This is the one deliberate data race of shmim (the one every seqlock makes): a writer may be
/// storing into `src` meanwhile, and the result is then discarded by [`read_validate`]. It is done
/// through raw pointers, never through a reference to the mapping. With the `strict` feature the
/// copy is made of relaxed atomic loads instead, every one an aligned 8-byte word (the words at
/// the edges are read whole and only the range's bytes kept), which is race-free in the Rust
/// memory model; loom, Miri and ThreadSanitizer runs use it.
///
/// # Safety
/// `src` must be valid for reads of `dst.len()` bytes (the mapping outlives the call) and must not
/// overlap `dst`; under `strict` the aligned 8-byte words containing the range must be readable
/// (always true of a stream mapping or a heap stream, which are whole words).
#[inline]
pub unsafe fn copy_out(dst: &mut [u8], src: *const u8) {
    #[cfg(not(feature = "strict"))]
    // SAFETY: the caller guarantees `src` is readable for `dst.len()` bytes and disjoint from
    // `dst`; concurrent writers are the seqlock's business (the copy is validated after).
    unsafe {
        core::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len())
    };
    #[cfg(feature = "strict")]
    // SAFETY: as above; the strict copy only performs atomic loads on `src`.
    unsafe {
        strict::copy_out(dst, src)
    };
}

/// Copies `src` into live shared memory at `dst` (the writer side of [`copy_out`]; under `strict`,
/// relaxed atomic stores of aligned 8-byte words, a compare-and-swap for a word the range covers
/// only in part, so its other bytes are kept). The caller holds the write flag.
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes and must not overlap `src`; under `strict`
/// the aligned 8-byte words containing the range must be writable.
#[inline]
pub unsafe fn copy_in(dst: *mut u8, src: &[u8]) {
    #[cfg(not(feature = "strict"))]
    // SAFETY: the caller guarantees `dst` is writable for `src.len()` bytes and disjoint.
    unsafe {
        core::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len())
    };
    #[cfg(feature = "strict")]
    // SAFETY: as above; the strict copy only performs atomic stores on `dst`.
    unsafe {
        strict::copy_in(dst, src)
    };
}

/// Copies `dst.len()` bytes of shared memory at `src` with relaxed atomic loads of aligned 8-byte
/// words, whatever the `strict` feature says: for small entries that several
/// threads of one process may write through different handles (keywords, proc-trace entries),
/// where a plain copy would be a data race in the Rust memory model.
///
/// # Safety
/// As for [`copy_out`] under `strict`.
#[inline]
pub unsafe fn copy_out_words(dst: &mut [u8], src: *const u8) {
    // SAFETY: forwarded to the caller.
    unsafe { strict::copy_out(dst, src) }
}

/// The writer side of [`copy_out_words`]: relaxed atomic stores.
///
/// # Safety
/// As for [`copy_in`] under `strict`.
#[inline]
pub unsafe fn copy_in_words(dst: *mut u8, src: &[u8]) {
    // SAFETY: forwarded to the caller.
    unsafe { strict::copy_in(dst, src) }
}

/// Copies `len` bytes between two places of live shared memory (the writer's copy of a frame into
/// a circular-buffer slot): a plain copy, or relaxed atomic words under `strict`.
///
/// # Safety
/// `src` must be readable and `dst` writable for `len` bytes, and the ranges must not overlap;
/// under `strict` the aligned 8-byte words containing them must be readable and writable.
#[inline]
pub unsafe fn copy_shared(dst: *mut u8, src: *const u8, len: usize) {
    #[cfg(not(feature = "strict"))]
    // SAFETY: forwarded to the caller.
    unsafe {
        core::ptr::copy_nonoverlapping(src, dst, len)
    };
    #[cfg(feature = "strict")]
    {
        let mut buf = [0u8; 4096];
        let mut at = 0;
        while at < len {
            let n = (len - at).min(buf.len());
            // SAFETY: `at + n ≤ len`, inside both ranges by the caller's contract; `buf` is ours.
            unsafe {
                strict::copy_out(&mut buf[..n], src.add(at));
                strict::copy_in(dst.add(at), &buf[..n]);
            }
            at += n;
        }
    }
}

/// Whether a counter still holds `before` after a copy it guards: an acquire fence (so the copy's
/// loads cannot be ordered after this check), then the load. The counter pairs with a writer that
/// stores its data, then increments the counter with Release.
#[inline]
pub fn counter_unchanged<C: AtomicCell<u64>>(counter: &C, before: u64) -> bool {
    #[cfg(not(shmim_tsan))]
    {
        crate::primitive::fence(Acquire);
        counter.load(Relaxed) == before
    }
    // TSan ignores fences: an AcqRel read-modify-write reads the latest value instead.
    #[cfg(shmim_tsan)]
    {
        counter.fetch_add(0, std::sync::atomic::Ordering::AcqRel) == before
    }
}

mod strict {
    //! Atomic copies to and from shared memory in which **every access is an aligned 8-byte
    //! atomic**. The Rust memory model forbids racing atomic accesses of different sizes to
    //! overlapping bytes; with one access size and the words fixed by the address (word `k` is
    //! bytes `[8k, 8k + 8)`), a copy of a slice at any offset and a copy of the whole frame touch
    //! the same words the same way. A range that starts or ends inside a word reads that whole
    //! word and keeps its own bytes; a store to part of a word is a compare-and-swap that changes
    //! only those bytes, so another writer's bytes in the same word are never undone.
    //!
    //! The words containing the range must therefore lie inside the allocation: true of a stream
    //! mapping (page-granular) and of a heap stream (a `Box<[u64]>`).

    use std::sync::atomic::AtomicU64;
    use std::sync::atomic::Ordering::Relaxed;

    /// The aligned word containing `p`, and `p`'s byte index in it.
    fn word_of(p: *const u8) -> (*mut u64, usize) {
        let at = p.addr() % 8;
        (p.cast_mut().map_addr(|a| a - at).cast::<u64>(), at)
    }

    /// One relaxed 8-byte load.
    ///
    /// # Safety
    /// `w` is 8-aligned and readable, and accessed only atomically while we read it.
    unsafe fn load(w: *mut u64) -> [u8; 8] {
        // SAFETY: forwarded to the caller.
        unsafe { AtomicU64::from_ptr(w) }
            .load(Relaxed)
            .to_ne_bytes()
    }

    /// Stores `bytes` at byte `at` of word `w`, leaving its other bytes as they are: a plain
    /// relaxed store for a whole word, a compare-and-swap for part of one.
    ///
    /// # Safety
    /// `w` is 8-aligned and writable, and accessed only atomically while we write it;
    /// `at + bytes.len() ≤ 8`.
    unsafe fn store(w: *mut u64, at: usize, bytes: &[u8]) {
        // SAFETY: forwarded to the caller.
        let word = unsafe { AtomicU64::from_ptr(w) };
        if let Ok(whole) = <[u8; 8]>::try_from(bytes) {
            word.store(u64::from_ne_bytes(whole), Relaxed);
            return;
        }
        let merge = |old: u64| {
            let mut b = old.to_ne_bytes();
            b[at..at + bytes.len()].copy_from_slice(bytes);
            Some(u64::from_ne_bytes(b))
        };
        // Relaxed: publication is the protocol's (flag, counter) business, as for whole words.
        let _ = word.fetch_update(Relaxed, Relaxed, merge);
    }

    /// # Safety
    /// As for `super::copy_out`, and the 8-byte words containing `[src, src + dst.len())` are
    /// readable.
    pub(super) unsafe fn copy_out(dst: &mut [u8], src: *const u8) {
        let mut done = 0;
        while done < dst.len() {
            let (w, at) = word_of(src.wrapping_add(done));
            let n = (8 - at).min(dst.len() - done);
            // SAFETY: `w` is the aligned word containing byte `done` of the source range, readable
            // by the caller's contract; shared memory is only accessed atomically under `strict`.
            let bytes = unsafe { load(w) };
            dst[done..done + n].copy_from_slice(&bytes[at..at + n]);
            done += n;
        }
    }

    /// # Safety
    /// As for `super::copy_in`, and the 8-byte words containing `[dst, dst + src.len())` are
    /// writable.
    pub(super) unsafe fn copy_in(dst: *mut u8, src: &[u8]) {
        let mut done = 0;
        while done < src.len() {
            let (w, at) = word_of(dst.wrapping_add(done));
            let n = (8 - at).min(src.len() - done);
            // SAFETY: `w` is the aligned word containing byte `done` of the destination range,
            // writable by the caller's contract; `at + n ≤ 8`.
            unsafe { store(w, at, &src[done..done + n]) };
            done += n;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! Heap-buffer tests, also run under Miri (`--features strict`, strict provenance).

    use super::*;
    use crate::field::Field;
    use crate::write_flag;
    use std::time::Duration;

    /// The four protocol fields, laid out as in a stream (plain integers reached through views).
    #[repr(C)]
    #[derive(Default)]
    struct Md {
        cnt0: u64,
        write: u8,
        claim: i32,
        ticket: u32,
    }

    struct Views<'a> {
        cnt0: Field<'a, u64>,
        write: Field<'a, u8>,
        claim: Field<'a, i32>,
        ticket: Field<'a, u32>,
    }

    impl Views<'_> {
        fn flag(&self) -> write_flag::StreamFlag<'_> {
            write_flag::StreamFlag::from_fields(self.write, self.cnt0, self.claim, self.ticket)
        }
    }

    fn views(md: &mut Box<Md>) -> Views<'_> {
        let p: *mut Md = &mut **md;
        // SAFETY: `p` is a live, aligned heap allocation borrowed for the views' lifetime, and
        // every access below goes through the views.
        unsafe {
            Views {
                cnt0: Field::new(&raw mut (*p).cnt0),
                write: Field::new(&raw mut (*p).write),
                claim: Field::new(&raw mut (*p).claim),
                ticket: Field::new(&raw mut (*p).ticket),
            }
        }
    }

    /// A raw pixel buffer shared between threads; accessed only through `copy_in` / `copy_out`.
    #[derive(Clone, Copy)]
    struct Pixels(*mut u8, usize);
    // SAFETY: the buffer outlives the scoped threads, and concurrent access is the seqlock's
    // (through copy_in / copy_out, atomic under `strict`).
    unsafe impl Send for Pixels {}
    // SAFETY: as above.
    unsafe impl Sync for Pixels {}

    impl Pixels {
        fn of(buf: &mut [u64]) -> Self {
            Self(buf.as_mut_ptr().cast(), size_of_val(buf))
        }
        fn ptr(self) -> *mut u8 {
            self.0
        }
        fn write_frame(self, frame: u64) {
            let words: Vec<u8> = (0..self.1 / 8)
                .flat_map(|i| (frame ^ (i as u64) << 32).to_ne_bytes())
                .collect();
            // SAFETY: the buffer holds `self.1` bytes and is disjoint from `words`.
            unsafe { copy_in(self.0, &words) };
        }
        fn read(self) -> Vec<u8> {
            let mut out = vec![0; self.1];
            // SAFETY: the buffer holds `self.1` bytes and is disjoint from `out`.
            unsafe { copy_out(&mut out, self.0) };
            out
        }
    }

    /// True iff `bytes` is frame `frame` as written by `Pixels::write_frame`.
    fn is_frame(bytes: &[u8], frame: u64) -> bool {
        bytes
            .chunks_exact(8)
            .enumerate()
            .all(|(i, w)| u64::from_ne_bytes(w.try_into().unwrap()) == frame ^ (i as u64) << 32)
    }

    #[test]
    fn copy_in_and_copy_out_round_trip_at_every_alignment_and_length() {
        for offset in 0..8 {
            for len in [0, 1, 7, 8, 9, 16, 23, 40] {
                let mut buf = vec![0u64; 8];
                let base: *mut u8 = buf.as_mut_ptr().cast();
                let src: Vec<u8> = (0..len).map(|i| (i * 7 + offset + 1) as u8).collect();
                let mut back = vec![0; len];
                // SAFETY: offset + len ≤ 48 < 64 bytes of `buf`; `src`/`back` are disjoint
                // heap vectors.
                unsafe {
                    copy_in(base.add(offset), &src);
                    copy_out(&mut back, base.add(offset));
                }
                assert_eq!(back, src, "offset {offset}, len {len}");
            }
        }
    }

    /// Writer `w`'s byte in round `r`: never 0, so a final state of zeros shows a lost store.
    fn marker(w: u8, r: u32) -> u8 {
        1 + w * 100 + (r % 97) as u8
    }

    #[test]
    fn partial_copies_and_whole_copies_touch_the_same_aligned_words() {
        // Two writers of disjoint ranges that start and end inside words, and share word 1;
        // a reader of the whole buffer. Every access must be the same aligned 8-byte atomic
        // (Miri rejects racing atomics of different sizes), and neither writer may undo the
        // other's bytes in the word they share.
        let rounds: u32 = if cfg!(miri) { 8 } else { 2_000 };
        let mut buf = vec![0u64; 4];
        let px = Pixels::of(&mut buf);
        let (first, second) = ((4usize, 8usize), (12usize, 15usize));
        std::thread::scope(|s| {
            for (w, (at, len)) in [(0u8, first), (1, second)] {
                s.spawn(move || {
                    for r in 0..rounds {
                        let bytes = vec![marker(w, r); len];
                        // SAFETY: at + len ≤ 27 < 32 bytes of the buffer; `bytes` is ours.
                        unsafe { copy_in_words(px.ptr().wrapping_add(at), &bytes) };
                    }
                });
            }
            s.spawn(move || {
                for _ in 0..rounds {
                    let mut out = [0u8; 32];
                    // SAFETY: the buffer holds 32 bytes; `out` is ours.
                    unsafe { copy_out_words(&mut out, px.ptr()) };
                    assert!(out[..4].iter().chain(&out[27..]).all(|&b| b == 0));
                }
            });
        });
        let mut out = [0u8; 32];
        // SAFETY: as above; the threads are joined.
        unsafe { copy_out_words(&mut out, px.0) };
        let last = rounds - 1;
        assert_eq!(out[4..12], [marker(0, last); 8]);
        assert_eq!(out[12..27], [marker(1, last); 15]);
        assert!(out[..4].iter().chain(&out[27..]).all(|&b| b == 0));
    }

    #[test]
    fn a_quiet_frame_validates_and_a_write_in_between_does_not() {
        let mut md = Box::<Md>::default();
        let v = views(&mut md);
        let mut buf = vec![0u64; 4];
        let px = Pixels::of(&mut buf);
        px.write_frame(0);

        let c = read_begin(v.cnt0.cell(), v.write.cell()).expect("no writer");
        assert!(is_frame(&px.read(), 0));
        assert!(read_validate(v.cnt0.cell(), v.write.cell(), c));

        // A read that overlaps a whole write + publish.
        let c = read_begin(v.cnt0.cell(), v.write.cell()).unwrap();
        v.flag().begin(42, |_| false).unwrap();
        assert_eq!(v.claim.peek(), 42, "begin records the claim");
        assert_eq!(
            read_begin(v.cnt0.cell(), v.write.cell()),
            None,
            "writer busy"
        );
        assert!(!read_validate(v.cnt0.cell(), v.write.cell(), c), "flag set");
        px.write_frame(1);
        assert_eq!(v.flag().publish(42), 1);
        assert!(
            !read_validate(v.cnt0.cell(), v.write.cell(), c),
            "cnt0 moved"
        );

        let mut spin = Spin::for_duration(Duration::from_secs(60));
        let mut copy = Vec::new();
        let got = read(v.cnt0.cell(), v.write.cell(), &mut spin, || {
            copy = px.read()
        });
        assert_eq!(got, Ok(1));
        assert!(is_frame(&copy, 1));
    }

    #[test]
    fn an_abandoned_frame_is_never_accepted() {
        let mut md = Box::<Md>::default();
        let v = views(&mut md);
        let mut buf = vec![0u64; 2];
        let px = Pixels::of(&mut buf);
        v.flag().begin(42, |_| false).unwrap();
        px.write_frame(1);
        // Abandon: no publish. A bounded read gives up, naming the busy writer.
        let mut spin = Spin::for_duration(Duration::ZERO);
        let got = read(v.cnt0.cell(), v.write.cell(), &mut spin, || {
            panic!("must not copy while the flag is set")
        });
        assert_eq!(got, Err(Contention::WriterBusy));
        // The owner resumes and publishes: the frame becomes valid.
        v.flag().resume(42, |_| false).unwrap();
        assert_eq!(v.flag().publish(42), 1);
        assert_eq!(read_begin(v.cnt0.cell(), v.write.cell()), Some(1));
    }

    #[test]
    fn a_reader_thread_never_accepts_a_torn_frame_from_a_writer_thread() {
        let frames: u64 = if cfg!(miri) { 12 } else { 5_000 };
        let mut md = Box::<Md>::default();
        let v = views(&mut md);
        let mut buf = vec![0u64; 16];
        let px = Pixels::of(&mut buf);
        px.write_frame(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..frames {
                    v.flag().begin(1, |_| false).unwrap();
                    px.write_frame(v.cnt0.peek() + 1);
                    v.flag().publish(1);
                }
            });
            let mut accepted = 0u64;
            loop {
                // Watchdog, not a performance bound.
                let mut spin = Spin::for_duration(Duration::from_secs(60));
                let mut copy = Vec::new();
                let c = read(v.cnt0.cell(), v.write.cell(), &mut spin, || {
                    copy = px.read()
                })
                .expect("a frame within the watchdog deadline");
                assert!(is_frame(&copy, c), "accepted a torn frame {c}");
                accepted += 1;
                if c == frames {
                    break;
                }
            }
            assert!(accepted >= 1);
        });
    }
}
