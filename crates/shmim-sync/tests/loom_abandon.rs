//! Loom model: a writer that abandons a frame half written, against a consistent reader.
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

use loom::sync::Arc;
use loom::sync::atomic::Ordering::Relaxed;
use loom::sync::atomic::{AtomicI32, AtomicU8, AtomicU64};
use shmim_sync::spin::Spin;
use shmim_sync::{seqlock, write_flag};
use std::time::Duration;

const WORDS: usize = 2;
const ME: i32 = 10;

fn pixel(frame: u64, i: usize) -> u64 {
    (frame << 8) | i as u64
}

struct Stream {
    cnt0: AtomicU64,
    write: AtomicU8,
    owner: AtomicI32,
    pixels: [AtomicU64; WORDS],
}

impl Stream {
    fn new() -> Self {
        Self {
            cnt0: AtomicU64::new(0),
            write: AtomicU8::new(0),
            owner: AtomicI32::new(0),
            pixels: std::array::from_fn(|i| AtomicU64::new(pixel(0, i))),
        }
    }

    /// Begins frame 1 and writes only its first word: the abandoned, half-written frame.
    fn abandon_half_frame(&self) {
        write_flag::begin(&self.write, &self.owner, ME).unwrap();
        self.pixels[0].store(pixel(1, 0), Relaxed);
    }

    fn read(&self) -> Result<(u64, [u64; WORDS]), seqlock::Contention> {
        let mut copy = [0; WORDS];
        let mut spin = Spin::for_duration(Duration::from_secs(1));
        let c = seqlock::read(&self.cnt0, &self.write, &mut spin, || {
            for (dst, p) in copy.iter_mut().zip(&self.pixels) {
                *dst = p.load(Relaxed);
            }
        })?;
        Ok((c, copy))
    }
}

fn assert_whole(c: u64, words: [u64; WORDS]) {
    for (i, w) in words.iter().enumerate() {
        assert_eq!(*w, pixel(c, i), "accepted frame {c} holds {words:x?}");
    }
}

#[test]
fn reader_never_accepts_an_abandoned_frame() {
    loom::model(|| {
        let s = Arc::new(Stream::new());
        let writer = {
            let s = s.clone();
            loom::thread::spawn(move || s.abandon_half_frame())
        };
        // Concurrently: only the old, whole frame 0 may be accepted.
        if let Ok((c, words)) = s.read() {
            assert_eq!(c, 0);
            assert_whole(c, words);
        }
        writer.join().unwrap();
        // Afterwards: the flag stays set, so nothing is accepted at all.
        assert_eq!(s.read(), Err(seqlock::Contention::WriterBusy));
        assert_eq!(s.cnt0.load(Relaxed), 0, "an abandon publishes nothing");
    });
}

#[test]
fn the_abandoning_writer_resumes_and_its_next_frame_is_whole() {
    loom::model(|| {
        let s = Arc::new(Stream::new());
        let writer = {
            let s = s.clone();
            loom::thread::spawn(move || {
                s.abandon_half_frame();
                // The same writer comes back: it still owns the flag, rewrites the frame whole.
                write_flag::resume(&s.write, &s.owner, ME).unwrap();
                for (i, p) in s.pixels.iter().enumerate() {
                    p.store(pixel(1, i), Relaxed);
                }
                write_flag::publish(&s.cnt0, &s.write)
            })
        };
        if let Ok((c, words)) = s.read() {
            assert_whole(c, words);
        }
        assert_eq!(writer.join().unwrap(), 1);
        let (c, words) = s.read().unwrap();
        assert_eq!(c, 1);
        assert_whole(c, words);
    });
}

#[test]
fn a_new_writer_takes_over_a_dead_writers_flag_and_no_torn_frame_is_accepted() {
    loom::model(|| {
        let s = Arc::new(Stream::new());
        // A reader that overlaps both the dying writer and its successor.
        let reader = {
            let s = s.clone();
            loom::thread::spawn(move || {
                if let Ok((c, words)) = s.read() {
                    assert_whole(c, words);
                }
            })
        };
        let dying = {
            let s = s.clone();
            loom::thread::spawn(move || s.abandon_half_frame())
        };
        // Its death: a dead process's stores are all done (the join), and the successor learns
        // of it out of band (`kill(pid, 0)`), with no ordering through the stream.
        dying.join().unwrap();
        let successor = {
            let s = s.clone();
            loom::thread::spawn(move || {
                write_flag::take_over(&s.write, &s.owner, ME + 1);
                for (i, p) in s.pixels.iter().enumerate() {
                    p.store(pixel(1, i), Relaxed);
                }
                write_flag::publish(&s.cnt0, &s.write)
            })
        };
        assert_eq!(successor.join().unwrap(), 1);
        reader.join().unwrap();
        assert_eq!(s.owner.load(Relaxed), ME + 1);
        assert_eq!(s.read().map(|(c, _)| c), Ok(1));
    });
}
