//! What a subscriber spends on what the network sends it: no thread for a key until a valid
//! description arrives (liveliness tokens and frames on made-up keys cost none), mirror files
//! within `--max-bytes` each and `--max-total-bytes` together, and a huge junk sample is dropped
//! without being copied.

mod support;

use std::time::Duration;

use shmim_core::{Datatype, Stream};
use support::{
    TempDir, all_threads, connecting_publisher, frame_message, free_port, injector, inode,
    listening_subscriber, meta_message, plain_layout, push_until_current, source, threads_named,
    wait_until,
};
use zenoh::Wait;

#[test]
fn publisher_tokens_without_a_description_start_no_worker_thread() {
    let dst = TempDir::new("lim-a");
    let port = free_port();
    let sub = listening_subscriber("shmim/**", dst.path(), port, &[]);
    let s = injector(port);
    let base = all_threads(sub.pid());
    let n = 300;
    let _tokens: Vec<_> = (0..n)
        .map(|i| {
            s.liveliness()
                .declare_token(format!("shmim/tok{i}"))
                .wait()
                .unwrap()
        })
        .collect();
    wait_until("every token seen", || {
        sub.log().matches("publisher present").count() >= n
    });
    assert_eq!(threads_named(sub.pid(), "mirror"), 0);
    assert!(
        all_threads(sub.pid()) <= base + 4,
        "{} threads, {base} before the tokens",
        all_threads(sub.pid())
    );
}

#[test]
fn frames_on_made_up_keys_start_no_worker_and_a_real_stream_is_still_mirrored() {
    let (src_dir, dst) = (TempDir::new("lim-b-src"), TempDir::new("lim-b-dst"));
    let port = free_port();
    let sub = listening_subscriber("shmim/**", dst.path(), port, &[]);
    let s = injector(port);
    let n = 1100;
    for i in 0..n {
        s.put(format!("shmim/junk{i}"), frame_message(7, 1, &[]))
            .wait()
            .unwrap();
    }
    let mut src = source(src_dir.path(), "cam", &[8, 8], Datatype::Float);
    let _pub = connecting_publisher(src_dir.path(), "cam", port, &[]);
    push_until_current(&mut src, dst.path(), "cam", 0);
    assert_eq!(
        threads_named(sub.pid(), "mirror"),
        1,
        "only the real stream's"
    );
}

#[test]
fn workers_of_departed_publishers_close_and_their_mirrors_are_taken_up_again() {
    let (src_dir, dst) = (TempDir::new("lim-dep-src"), TempDir::new("lim-dep-dst"));
    let port = free_port();
    let sub = listening_subscriber("shmim/**", dst.path(), port, &["--departed-after", "1"]);
    // Descriptions on made-up keys, no publisher token: each gets a mirror, then silence.
    {
        let evil = injector(port);
        for i in 0..20 {
            let name = format!("junk{i}");
            let m = meta_message(&name, plain_layout(&[1, 1], Datatype::U8));
            evil.put(format!("shmim/{name}"), m).wait().unwrap();
        }
        wait_until("20 mirrors", || {
            std::fs::read_dir(dst.path()).unwrap().count() >= 20
        });
    }
    wait_until("the made-up keys' workers closed", || {
        threads_named(sub.pid(), "mirror") == 0
    });
    assert_eq!(
        std::fs::read_dir(dst.path()).unwrap().count(),
        20,
        "mirrors stay"
    );
    // A real publisher: mirrored; gone: its worker closes; back: the same mirror goes on.
    let mut src = source(src_dir.path(), "cam", &[4, 4], Datatype::U8);
    let publisher = connecting_publisher(src_dir.path(), "cam", port, &[]);
    let k = push_until_current(&mut src, dst.path(), "cam", 0);
    let before = inode(dst.path(), "cam");
    publisher.kill();
    sub.wait_log("shmim/cam: no publisher and silent");
    wait_until("cam's worker closed", || {
        threads_named(sub.pid(), "mirror") == 0
    });
    let _again = connecting_publisher(src_dir.path(), "cam", port, &[]);
    push_until_current(&mut src, dst.path(), "cam", k);
    assert_eq!(
        inode(dst.path(), "cam"),
        before,
        "the mirror file was reused"
    );
}

#[test]
fn max_bytes_bounds_the_whole_mirror_file_not_only_a_frame() {
    let dst = TempDir::new("lim-d");
    let port = free_port();
    let sub = listening_subscriber("shmim/**", dst.path(), port, &["--max-bytes", "100000"]);
    let s = injector(port);
    // 16 KiB frames, but a circular buffer of 20 000 of them: a 328 MB file.
    let mut layout = plain_layout(&[64, 64], Datatype::Float);
    layout.cb_size = 20_000;
    s.put("shmim/big", meta_message("big", layout))
        .wait()
        .unwrap();
    wait_until("the description handled", || {
        sub.log().contains("max-bytes") || dst.path().join("big.im.shm").exists()
    });
    assert!(
        Stream::open_in(dst.path(), "big").is_err(),
        "no mirror was made"
    );
    assert_eq!(threads_named(sub.pid(), "mirror"), 0);
}

#[test]
fn mirror_files_together_stay_within_max_total_bytes() {
    let dst = TempDir::new("lim-t");
    let port = free_port();
    let sub = listening_subscriber(
        "shmim/**",
        dst.path(),
        port,
        &["--max-total-bytes", "200000"],
    );
    let s = injector(port);
    // Each mirror is a little over 64 KiB of pixels: two fit, the third does not.
    for name in ["a", "b", "c"] {
        s.put(
            format!("shmim/{name}"),
            meta_message(name, plain_layout(&[128, 128], Datatype::Float)),
        )
        .wait()
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    sub.wait_log("--max-total-bytes 200000");
    let made = ["a", "b", "c"]
        .iter()
        .filter(|n| Stream::open_in(dst.path(), n).is_ok())
        .count();
    assert_eq!(made, 2, "{}", sub.log());
}

/// Peak resident memory of `pid`, bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

#[test]
fn a_huge_description_sample_is_dropped_without_being_copied() {
    let dst = TempDir::new("lim-p");
    let port = free_port();
    let sub = listening_subscriber("shmim/**", dst.path(), port, &[]);
    let s = injector(port);
    let before = peak_rss(sub.pid());
    let size = 96 << 20;
    let mut msg = vec![0u8; size];
    msg[..8].copy_from_slice(b"SHMB\x01\x01\0\0");
    s.put("shmim/x/junk", msg)
        .congestion_control(zenoh::qos::CongestionControl::Block)
        .wait()
        .unwrap();
    sub.wait_log("malformed message #1");
    let grew = peak_rss(sub.pid()).saturating_sub(before);
    assert!(
        grew < size as u64 * 3 / 2,
        "the subscriber's peak grew by {grew} bytes for a {size}-byte sample (Zenoh's reassembly \
         holds one copy; a second would be the decoder's)\n{}",
        sub.log()
    );
    assert!(
        sub.log().contains("longer than any description"),
        "{}",
        sub.log()
    );
}
