//! One writer thread and three reader threads on a heap "stream": no reader ever accepts a torn
//! frame.
//!
//! Run normally by `cargo test`, and by CI under ThreadSanitizer with the `strict` copy and the
//! `shmim_tsan` fence substitutes (`cargo xtask ci --only tsan`), where it also proves the absence
//! of data races in the protocol (no suppressions).
//!
//! Every frame carries a checksum: word 0 is the frame number, the last word a hash of all the
//! others, so a reader can tell a torn copy without knowing what the writer wrote.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use shmim_sync::spin::Spin;
use shmim_sync::write_flag::StreamFlag;
use shmim_sync::{Field, seqlock};

const WORDS: usize = 64;
const READERS: usize = 3;
/// Watchdog for the whole test (a hung protocol fails here instead of hanging CI).
const WATCHDOG: Duration = Duration::from_secs(120);

#[repr(C)]
#[derive(Default)]
struct Md {
    cnt0: u64,
    write: u8,
    claim: i32,
    ticket: u32,
}

impl Md {
    /// Views of `cnt0` and `write`, and the write protocol over them and the claim words: every
    /// access to the fields goes through these.
    fn views(&mut self) -> (Field<'_, u64>, Field<'_, u8>, StreamFlag<'_>) {
        let md: *mut Md = self;
        // SAFETY: `md` is live and aligned, and borrowed for the views' lifetime; every access to
        // it goes through them.
        unsafe {
            let (cnt0, write) = (
                Field::new(&raw mut (*md).cnt0),
                Field::new(&raw mut (*md).write),
            );
            let flag = StreamFlag::from_fields(
                write,
                cnt0,
                Field::new(&raw mut (*md).claim),
                Field::new(&raw mut (*md).ticket),
            );
            (cnt0, write, flag)
        }
    }
}

/// The pixel buffer, shared by raw pointer and touched only through `copy_in` / `copy_out`.
#[derive(Clone, Copy)]
struct Pixels(*mut u8);
// SAFETY: the buffer outlives the scoped threads; concurrent access is the seqlock's business
// (through copy_in / copy_out, atomic under `strict`).
unsafe impl Send for Pixels {}
// SAFETY: as above.
unsafe impl Sync for Pixels {}

impl Pixels {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the raw field).
    fn ptr(self) -> *mut u8 {
        self.0
    }
}

fn mix(mut x: u64) -> u64 {
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn checksum(words: &[u64]) -> u64 {
    words.iter().fold(0x5eed, |h, &w| mix(h ^ w))
}

fn frame_bytes(frame: u64) -> Vec<u8> {
    let mut words = [0u64; WORDS];
    words[0] = frame;
    for (i, w) in words.iter_mut().enumerate().take(WORDS - 1).skip(1) {
        *w = mix(frame.wrapping_mul(WORDS as u64) + i as u64);
    }
    words[WORDS - 1] = checksum(&words[..WORDS - 1]);
    words.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

/// `Some(frame number)` when the copy is a whole frame.
fn whole(bytes: &[u8]) -> Option<u64> {
    let words: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    (checksum(&words[..WORDS - 1]) == words[WORDS - 1]).then_some(words[0])
}

#[test]
fn readers_never_accept_a_torn_frame_from_a_concurrent_writer() {
    let frames: u64 = 20_000;
    let mut md = Box::<Md>::default();
    let mut buf = vec![0u64; WORDS];
    let (cnt0, write, flag) = md.views();
    let px = Pixels(buf.as_mut_ptr().cast());
    // SAFETY: `buf` holds WORDS words; no other thread exists yet.
    unsafe { seqlock::copy_in(px.ptr(), &frame_bytes(0)) };
    let watchdog = Instant::now() + WATCHDOG;
    // Everyone starts together, so the threads really overlap.
    let start = Barrier::new(1 + READERS);

    std::thread::scope(|s| {
        s.spawn(|| {
            start.wait();
            for frame in 1..=frames {
                flag.begin(1, |_| false).expect("the only writer");
                // SAFETY: `buf` holds WORDS words; we hold the write flag.
                unsafe { seqlock::copy_in(px.ptr(), &frame_bytes(frame)) };
                assert_eq!(flag.publish(1), frame);
                if Instant::now() > watchdog {
                    panic!("watchdog: writer still running");
                }
            }
        });
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    let (mut accepted, mut torn) = (0u64, 0u64);
                    let mut copy = vec![0u8; WORDS * 8];
                    loop {
                        let mut spin = Spin::until(watchdog);
                        let c = seqlock::read(cnt0.cell(), write.cell(), &mut spin, || {
                            // SAFETY: `buf` holds WORDS * 8 bytes, disjoint from `copy`.
                            unsafe { seqlock::copy_out(&mut copy, px.ptr()) }
                        })
                        .expect("watchdog: no frame could be read");
                        accepted += 1;
                        if whole(&copy) != Some(c) {
                            torn += 1;
                        }
                        if c == frames {
                            return (accepted, torn);
                        }
                    }
                })
            })
            .collect();
        for r in readers {
            let (accepted, torn) = r.join().unwrap();
            assert!(accepted >= 1);
            assert_eq!(torn, 0, "{torn} torn frames accepted out of {accepted}");
        }
    });
}

/// Writer-side state that only the holder of the write flag touches, non-atomically (like the
/// circular-buffer bookkeeping of a commit). Under ThreadSanitizer a missing happens-before
/// between two writers' turns is reported as a data race on it.
struct WriterSide(std::cell::UnsafeCell<u64>);
// SAFETY: accessed only by the thread holding the write flag (the property under test).
unsafe impl Sync for WriterSide {}

#[test]
fn two_writers_take_turns_through_the_flag_without_a_data_race() {
    let turns: u64 = 2_000;
    let mut md = Box::<Md>::default();
    let (cnt0, _, flag) = md.views();
    let side = WriterSide(std::cell::UnsafeCell::new(0));
    let watchdog = Instant::now() + WATCHDOG;
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        for me in [1, 2] {
            let (side, start, flag) = (&side, &start, &flag);
            s.spawn(move || {
                start.wait();
                for _ in 0..turns {
                    let mut spin = Spin::until(watchdog);
                    while flag.begin(me, |_| false).is_err() {
                        assert!(spin.pause(), "watchdog: the other writer never published");
                    }
                    // SAFETY: we hold the write flag; begin's Acquire pairs with the previous
                    // holder's publish (Release), so its access happened before ours.
                    unsafe { *side.0.get() += 1 };
                    flag.publish(me);
                }
            });
        }
    });
    assert_eq!(side.0.into_inner(), 2 * turns);
    assert_eq!(cnt0.peek(), 2 * turns);
}
