//! Every source frame is either mirrored or counted: `mirrored + BR_GAPS + BR_DROPS` equals the
//! source frames published since the first one mirrored, across a subscriber restart, with a fast
//! source, and whatever a peer injects.

mod support;

use std::time::{Duration, Instant};

use shmim_core::{Datatype, Stream};
use support::{
    TempDir, count, frame_message, free_port, injector_to, live_generation, long_keyword,
    publisher, push_until_current, source, subscriber, unaccounted, wait_until, watched_cam,
    write_more,
};
use zenoh::Wait;

#[test]
fn every_source_frame_is_mirrored_or_counted_across_a_subscriber_restart() {
    for mode in ["every", "latest"] {
        let (src_dir, dst) = (TempDir::new("acc-g-src"), TempDir::new("acc-g-dst"));
        let port = free_port();
        let mut src = source(src_dir.path(), "g", &[8, 8], Datatype::Float);
        let _pub = publisher(src_dir.path(), "g", port);
        let first = subscriber("shmim/g", dst.path(), port, &["--mode", mode]);
        let mut k = push_until_current(&mut src, dst.path(), "g", 0);
        let m = Stream::open_in(dst.path(), "g").unwrap();
        let start = count(&m);
        k = write_more(&mut src, k, 300, Duration::from_millis(2));
        first.kill();
        k = write_more(&mut src, k, 500, Duration::from_millis(2));
        let _second = subscriber("shmim/g", dst.path(), port, &["--mode", mode]);
        // Frames keep coming while the new subscriber starts: some arrive before its description.
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(2) {
            k = write_more(&mut src, k, 1, Duration::from_millis(2));
        }
        push_until_current(&mut src, dst.path(), "g", k);
        let end = count(&m);
        // A subscriber killed between a frame's counters and its commit takes that one frame
        // with it, uncounted (docs/bridge.md); nothing else may go missing.
        let lost = unaccounted(&start, &end);
        assert!(
            (0..=1).contains(&lost),
            "{mode}: {lost} frames unaccounted ({} published, {} mirrored, {} gaps, {} drops)",
            end.src_cnt0 - start.src_cnt0,
            end.mirrored - start.mirrored,
            end.gaps - start.gaps,
            end.drops - start.drops
        );
    }
}

#[test]
fn every_source_frame_of_a_fast_source_is_mirrored_or_counted() {
    for mode in ["latest", "every"] {
        let (src_dir, dst) = (TempDir::new("acc-s-src"), TempDir::new("acc-s-dst"));
        let port = free_port();
        let mut src = source(src_dir.path(), "s", &[256, 256], Datatype::Float);
        let _pub = publisher(src_dir.path(), "s", port);
        let _sub = subscriber("shmim/s", dst.path(), port, &["--mode", mode]);
        let mut k = push_until_current(&mut src, dst.path(), "s", 0);
        let m = Stream::open_in(dst.path(), "s").unwrap();
        let start = count(&m);
        k = write_more(&mut src, k, 2000, Duration::from_micros(200));
        push_until_current(&mut src, dst.path(), "s", k);
        let end = count(&m);
        assert_eq!(unaccounted(&start, &end), 0, "{mode}");
    }
}

#[test]
fn a_frame_of_the_wrong_size_leaves_the_gap_count_alone() {
    let mut w = watched_cam("acc-m");
    let m = Stream::open_in(w.dst.path(), "cam").unwrap();
    let start = count(&m);
    let evil = injector_to(&w.ports);
    let generation = live_generation(&evil, "shmim/cam");
    // The live generation, a frame number far ahead, 10 bytes of pixels instead of 1024.
    evil.put(
        "shmim/cam",
        frame_message(generation, u64::MAX - 5, &[0; 10]),
    )
    .wait()
    .unwrap();
    w.sub.wait_log("malformed message #1");
    push_until_current(&mut w.src, w.dst.path(), "cam", w.k);
    let end = count(&m);
    assert_eq!(long_keyword(&m, "BR_MALFORMED"), Some(1));
    assert_eq!(unaccounted(&start, &end), 0);
    assert!(end.gaps < 1000, "BR_GAPS {}", end.gaps);
}

#[test]
fn a_frame_far_ahead_of_the_source_leaves_the_gap_count_alone() {
    let mut w = watched_cam("acc-far");
    let m = Stream::open_in(w.dst.path(), "cam").unwrap();
    let start = count(&m);
    let evil = injector_to(&w.ports);
    let generation = live_generation(&evil, "shmim/cam");
    // The live generation and the right size: well-formed, and numbered far ahead.
    let far = 1u64 << 62;
    evil.put("shmim/cam", frame_message(generation, far, &[0; 1024]))
        .wait()
        .unwrap();
    wait_until("the injected frame mirrored", || {
        long_keyword(&m, "BR_SRC_CNT0") == Some(far as i64)
    });
    let k = write_more(&mut w.src, w.k, 100, Duration::from_millis(3));
    push_until_current(&mut w.src, w.dst.path(), "cam", k);
    w.sub.wait_log(&format!("after frame {far}"));
    let end = count(&m);
    assert!(end.gaps < 1000, "BR_GAPS {}", end.gaps);
    assert_eq!(long_keyword(&m, "BR_MALFORMED"), Some(1));
    assert_eq!(
        unaccounted(&start, &end),
        -1,
        "only the injected frame, mirrored, is counted beyond the source's"
    );
}
