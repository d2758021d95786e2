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
/// copy is made of relaxed atomic loads instead (aligned 8-byte words, bytes at the edges), which
/// is race-free in the Rust memory model; loom, Miri and ThreadSanitizer runs use it.
///
/// # Safety
/// `src` must be valid for reads of `dst.len()` bytes (the mapping outlives the call) and must not
/// overlap `dst`.
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
/// relaxed atomic stores). The caller holds the write flag.
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes and must not overlap `src`.
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

/// Copies `dst.len()` bytes of shared memory at `src` with relaxed atomic loads (8-byte words,
/// bytes at the edges), whatever the `strict` feature says: for small entries that several
/// threads of one process may write through different handles (keywords, proc-trace entries),
/// where a plain copy would be a data race in the Rust memory model.
///
/// # Safety
/// As for [`copy_out`].
#[inline]
pub unsafe fn copy_out_words(dst: &mut [u8], src: *const u8) {
    // SAFETY: forwarded to the caller.
    unsafe { strict::copy_out(dst, src) }
}

/// The writer side of [`copy_out_words`]: relaxed atomic stores.
///
/// # Safety
/// As for [`copy_in`].
#[inline]
pub unsafe fn copy_in_words(dst: *mut u8, src: &[u8]) {
    // SAFETY: forwarded to the caller.
    unsafe { strict::copy_in(dst, src) }
}

/// Copies `len` bytes between two places of live shared memory (the writer's copy of a frame into
/// a circular-buffer slot): a plain copy, or relaxed atomic words under `strict`.
///
/// # Safety
/// `src` must be readable and `dst` writable for `len` bytes, and the ranges must not overlap.
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
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::atomic::{AtomicU8, AtomicU64};

    /// Splits `[p, p + len)` into an unaligned head, 8-byte words, and a tail.
    fn split(p: usize, len: usize) -> (usize, usize) {
        let head = (p.next_multiple_of(8) - p).min(len);
        let words = (len - head) / 8;
        (head, words)
    }

    /// # Safety
    /// As for `super::copy_out`.
    pub(super) unsafe fn copy_out(dst: &mut [u8], src: *const u8) {
        let len = dst.len();
        let (head, words) = split(src.addr(), len);
        let mut i = 0;
        while i < len {
            if i >= head && i < head + words * 8 {
                // SAFETY: `src + i` is 8-aligned (past the head) and readable for 8 bytes (inside
                // the words); shared memory is only accessed atomically under `strict`.
                let w = unsafe { AtomicU64::from_ptr(src.add(i).cast_mut().cast::<u64>()) }
                    .load(Relaxed);
                dst[i..i + 8].copy_from_slice(&w.to_ne_bytes());
                i += 8;
            } else {
                // SAFETY: `src + i` is readable (i < len); bytes have alignment 1.
                dst[i] = unsafe { AtomicU8::from_ptr(src.add(i).cast_mut()) }.load(Relaxed);
                i += 1;
            }
        }
    }

    /// # Safety
    /// As for `super::copy_in`.
    pub(super) unsafe fn copy_in(dst: *mut u8, src: &[u8]) {
        let len = src.len();
        let (head, words) = split(dst.addr(), len);
        let mut i = 0;
        while i < len {
            if i >= head && i < head + words * 8 {
                let mut w = [0u8; 8];
                w.copy_from_slice(&src[i..i + 8]);
                // SAFETY: `dst + i` is 8-aligned and writable for 8 bytes (inside the words).
                unsafe { AtomicU64::from_ptr(dst.add(i).cast::<u64>()) }
                    .store(u64::from_ne_bytes(w), Relaxed);
                i += 8;
            } else {
                // SAFETY: `dst + i` is writable (i < len).
                unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(src[i], Relaxed);
                i += 1;
            }
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
                // A fresh buffer per case: one region of a stream is always split the same way,
                // so bytes never see atomics of two sizes (which Miri rejects).
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
