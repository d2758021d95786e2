//! A writer thread and a reader thread of one process, on a process-local stream (heap memory, so
//! Miri can run it): with the `strict` feature the safe API has no data race and no mixed-size
//! atomic access in the Rust memory model. CI runs this under Miri and under ThreadSanitizer
//! (`cargo xtask ci --only miri`, `--only tsan`); alone it is an ordinary two-thread test.
//!
//! The writer fills frames in place through `WriteGuard::pixels_mut` (a staging buffer under
//! `strict`, written back with 8-byte atomic words at commit) and whole through `write_frame`;
//! the reader copies them with `Reader::read_into` while the writer works, and every frame it
//! accepts must be exactly one frame.

use std::time::Duration;

use shmim_core::{Datatype, Error, Stream, StreamSpec};

/// 3 × 5 u16 = 30 bytes: the last 8-byte word of the frame is partial.
const SHAPE: [u32; 2] = [3, 5];
const PIXELS: usize = 15;

/// Pixel `i` of frame `f`.
fn pixel(f: u64, i: usize) -> u16 {
    (f as u16).wrapping_mul(31).wrapping_add(i as u16)
}

fn frame(f: u64) -> Vec<u16> {
    (0..PIXELS).map(|i| pixel(f, i)).collect()
}

#[test]
fn a_writer_thread_and_a_reader_thread_of_one_local_stream_never_race() {
    let frames: u64 = if cfg!(miri) { 24 } else { 2_000 };
    let mut stream =
        Stream::create_local("local", &StreamSpec::new(&SHAPE, Datatype::U16)).unwrap();
    let mut reader = stream.poller();
    // A watchdog, not a performance bound (Miri's clock is virtual and slow threads are normal).
    reader.set_read_timeout(Duration::from_secs(600));
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut buf = vec![0u16; PIXELS];
            let mut last = 0;
            while last < frames {
                match reader.read_into(&mut buf) {
                    Ok(c) => {
                        let expected = if c == 0 { vec![0; PIXELS] } else { frame(c) };
                        assert_eq!(buf, expected, "frame {c} accepted torn");
                        assert!(c >= last, "cnt0 went back from {last} to {c}");
                        last = c;
                    }
                    Err(Error::WriterStuck { .. } | Error::Torn { .. }) => {}
                    Err(e) => panic!("read failed: {e}"),
                }
            }
        });
        for f in 1..=frames {
            if f % 2 == 0 {
                assert_eq!(stream.write_frame(&frame(f)).unwrap(), f);
            } else {
                let mut guard = stream.write().unwrap();
                let px = guard.pixels_mut::<u16>().unwrap();
                for (i, p) in px.iter_mut().enumerate() {
                    *p = pixel(f, i);
                }
                assert_eq!(guard.commit().unwrap(), f);
            }
        }
    });
}
