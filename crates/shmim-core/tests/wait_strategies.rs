//! Every wait strategy returns each frame at most once, with the writer in another process
//! (issue 16.7: `wait_hybrid`'s spin saw `cnt0` before the writer posted, the post stayed
//! pending, and the next wait returned at once with the old frame: 216–416 of 2000 frames).
//!
//! A child writer publishes frames paced a little apart (so that waits of every kind really
//! wait); the reader, registered before the first frame, calls one strategy until it has seen
//! the last frame. The frame numbers it gets must strictly increase; frames it misses (a slow
//! reader) are allowed.

mod common;

use std::time::{Duration, Instant};

use common::{Peer, StreamDir, arg, command, role, try_wait_until};
use shmim_core::{Datatype, Reader, Stream, StreamSpec};

/// Between two frames of the writer.
const PERIOD: Duration = Duration::from_micros(200);
/// The hybrid wait's spin: half a period, so it sometimes catches the frame spinning and
/// sometimes blocks.
const HYBRID_SPIN: Duration = Duration::from_micros(100);
/// Watchdog of each wait, not a performance bound.
const WATCHDOG: Duration = Duration::from_secs(30);

#[test]
fn child() {
    let Some(role) = role() else { return };
    assert_eq!(role, "paced_writer");
    let mut s = Stream::open(&arg("STREAM")).unwrap();
    let frames: u64 = arg("FRAMES").parse().unwrap();
    assert_eq!(command().as_deref(), Some("go"));
    let mut next = Instant::now();
    for _ in 0..frames {
        while Instant::now() < next {
            std::hint::spin_loop();
        }
        s.write_frame(&[1u8; 4]).unwrap();
        next += PERIOD;
    }
}

/// Runs `wait` against a writer of `frames` frames in another process; returns how many frames
/// the reader got, asserting none came twice.
fn each_frame_at_most_once(tag: &str, frames: u64, mut wait: impl FnMut(&mut Reader) -> u64) {
    // One strategy at a time: with two CPUs, concurrent pairs would mostly wait for a CPU
    // instead of for frames.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = StreamDir::new(tag);
    let spec = StreamSpec::new(&[4], Datatype::U8).dir(dir.path());
    let stream = Stream::create("paced", &spec).unwrap();
    let mut reader = stream.reader().unwrap();
    let env = [("STREAM", "paced".into()), ("FRAMES", frames.to_string())];
    let mut writer = Peer::spawn("child", "paced_writer", dir.path(), &env);
    writer.send("go");
    let (mut got, mut again, mut last) = (0u64, Vec::new(), 0u64);
    while last < frames {
        let frame = wait(&mut reader);
        if frame <= last {
            again.push((last, frame));
        }
        got += 1;
        last = last.max(frame);
    }
    writer.finish();
    eprintln!(
        "{tag}: {got} frames of {frames} returned, {} missed",
        reader.missed()
    );
    assert!(
        again.is_empty(),
        "{tag}: {} of {got} returns repeated a frame already returned ((last, got): {:?})",
        again.len(),
        &again[..again.len().min(10)]
    );
}

#[test]
fn wait_hybrid_returns_each_frame_at_most_once() {
    each_frame_at_most_once("hybrid", 2000, |r| {
        r.wait_hybrid(HYBRID_SPIN, WATCHDOG).unwrap()
    });
}

#[test]
fn blocking_wait_returns_each_frame_at_most_once() {
    each_frame_at_most_once("wait", 500, |r| r.wait().unwrap());
}

#[test]
fn wait_timeout_returns_each_frame_at_most_once() {
    each_frame_at_most_once("wait-timeout", 500, |r| r.wait_timeout(WATCHDOG).unwrap());
}

#[test]
fn try_wait_returns_each_frame_at_most_once() {
    each_frame_at_most_once("try-wait", 500, |r| {
        try_wait_until(r, Instant::now() + WATCHDOG)
            .unwrap()
            .expect("watchdog")
    });
}

#[test]
fn wait_latest_returns_each_frame_at_most_once() {
    each_frame_at_most_once("wait-latest", 500, |r| r.wait_latest(WATCHDOG).unwrap());
}

#[test]
fn poll_spin_returns_each_frame_at_most_once() {
    each_frame_at_most_once("poll-spin", 500, |r| {
        r.poll_spin(Instant::now() + WATCHDOG).unwrap()
    });
}

#[test]
fn mixed_strategies_return_each_frame_at_most_once() {
    let mut turn = 0u32;
    each_frame_at_most_once("mixed", 1000, |r| {
        turn += 1;
        match turn % 4 {
            0 => r.wait_hybrid(HYBRID_SPIN, WATCHDOG).unwrap(),
            1 => r.wait_timeout(WATCHDOG).unwrap(),
            2 => r.poll_spin(Instant::now() + WATCHDOG).unwrap(),
            _ => r.wait_latest(WATCHDOG).unwrap(),
        }
    });
}
