//! Loom model: a writer that abandons a frame half written, against a consistent reader.
#![cfg(loom)]
#![allow(clippy::disallowed_types)]

mod support;

use loom::sync::Arc;
use loom::sync::atomic::AtomicU64;
use loom::sync::atomic::Ordering::Relaxed;
use shmim_sync::seqlock;
use support::loom_stream::{self, assert_whole, pixel};

const WORDS: usize = 2;
const ME: i32 = 10;

type Stream = loom_stream::Stream<[AtomicU64; WORDS]>;

impl Stream {
    /// Begins frame 1 and writes only its first word: the abandoned, half-written frame.
    fn abandon_half_frame(&self) {
        self.flag().begin(ME, |_| false).unwrap();
        self.pixels[0].store(pixel(1, 0), Relaxed);
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
                s.flag().resume(ME, |_| false).unwrap();
                s.write_and_publish(ME, 1)
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
fn a_recoverer_takes_over_a_dead_writers_flag_and_no_torn_frame_is_accepted() {
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
                s.flag().recover(ME + 1, |pid| pid == ME).unwrap();
                s.write_and_publish(ME + 1, 1)
            })
        };
        assert_eq!(successor.join().unwrap(), 1);
        reader.join().unwrap();
        assert_eq!(
            s.claim.load(Relaxed),
            0,
            "the successor's publish cleared its claim"
        );
        assert_eq!(s.read().map(|(c, _)| c), Ok(1));
    });
}
