//! What a subscriber refuses: malformed messages (injected through a real Zenoh session), local
//! streams it did not create, streams over `--max-bytes`, `--as` with a wildcard.

mod support;

use std::time::Duration;

use shmim_bridge::layout::Layout;
use shmim_bridge::wire::{FrameHeader, StreamMeta, encode_frame_header, encode_meta};
use shmim_core::{Datatype, Stream, Timespec};
use support::{
    Bridge, TempDir, check_frame, endpoint, free_port, injector, long_keyword, publisher, source,
    subscriber, wait_until, write_checksummed,
};
use zenoh::Wait;

#[test]
fn malformed_messages_are_counted_and_dropped_and_the_mirror_stays_whole() {
    let (src_dir, dst_dir) = (TempDir::new("mal-src"), TempDir::new("mal-dst"));
    let (pub_port, sub_port) = (free_port(), free_port());
    let mut src = source(src_dir.path(), "img", &[16, 8], Datatype::U32);
    let _pub = publisher(src_dir.path(), "img", pub_port);
    let sub_listen = endpoint(sub_port);
    let sub = subscriber(
        "shmim/img",
        dst_dir.path(),
        pub_port,
        &["--listen", &sub_listen],
    );
    let mut k = 0;
    let mut mirror = None;
    wait_until("first frame mirrored", || {
        k += 1;
        write_checksummed(&mut src, k);
        std::thread::sleep(Duration::from_millis(5));
        mirror = Stream::open_in(dst_dir.path(), "img").ok();
        mirror
            .as_ref()
            .and_then(|m| long_keyword(m, "BR_SRC_CNT0"))
            .is_some()
    });
    let mirror = mirror.unwrap();
    let frames_before = mirror.cnt0();

    let session = injector(sub_port);
    let frame_bytes = mirror.geometry().frame_bytes();
    let head = |generation, len: u64| {
        let h = FrameHeader {
            generation,
            cnt0: 1 << 40,
            cnt1: 0,
            atime: Timespec::default(),
            writetime: Timespec::default(),
            sent: Timespec::default(),
        };
        let mut v = Vec::new();
        encode_frame_header(&h, len, &mut v);
        v
    };
    let mut bad: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not a bridge message".to_vec(),
        b"SHMB\x09\x02\0\0".to_vec(),
        b"SHMB\x01\x07\0\0".to_vec(),
    ];
    // A frame header that promises more bytes than it carries, and one that carries less.
    let mut short = head(0, frame_bytes as u64);
    short.extend_from_slice(&[0xee; 10]);
    bad.push(short);
    let mut huge = head(0, u64::MAX);
    huge.extend_from_slice(&[0xee; 64]);
    bad.push(huge);
    // A description no stream can have (zero-length axis), and a truncated one.
    let meta = StreamMeta {
        generation: 1,
        name: "img".into(),
        layout: Layout {
            datatype: Datatype::U32,
            shape: vec![0, 8],
            imagetype: 0,
            semaphores: 10,
            keyword_slots: 0,
            cb_size: 0,
        },
        keywords: vec![],
    };
    bad.push(encode_meta(&meta));
    let mut cut = encode_meta(&StreamMeta {
        layout: Layout {
            shape: vec![16, 8],
            ..meta.layout.clone()
        },
        ..meta
    });
    cut.truncate(cut.len() - 3);
    bad.push(cut);
    let injected = bad.len() as i64;
    for msg in bad {
        session.put("shmim/img", msg).wait().unwrap();
    }
    let mut polls = 0;
    wait_until("the malformed messages counted", || {
        polls += 1;
        if polls % 1000 == 0 {
            eprintln!("{}", sub.log());
        }
        sub.log().matches("malformed message").count() >= injected as usize
    });
    // Frames keep flowing, whole, and the count reaches the mirror's keyword.
    let mut reader = mirror.reader().unwrap();
    let mut buf = vec![0u8; frame_bytes];
    wait_until(
        "frames after the injection, and the count in BR_MALFORMED",
        || {
            k += 1;
            write_checksummed(&mut src, k);
            std::thread::sleep(Duration::from_millis(5));
            long_keyword(&mirror, "BR_MALFORMED").unwrap_or(0) >= injected
                && mirror.cnt0() > frames_before + 2
        },
    );
    while reader.try_wait().unwrap().is_some() {}
    reader.read_bytes_into(&mut buf).unwrap();
    assert!(
        check_frame(&buf).is_some(),
        "the mirror holds a whole frame"
    );
    assert!(!sub.log().contains("panicked"), "{}", sub.log());
}

#[test]
fn a_local_stream_the_bridge_did_not_create_is_never_replaced() {
    let (src_dir, dst_dir) = (TempDir::new("own-src"), TempDir::new("own-dst"));
    let port = free_port();
    let mut src = source(src_dir.path(), "cam", &[8, 8], Datatype::Float);
    // Somebody's own stream, with another shape, where the mirror would go.
    let mine = source(dst_dir.path(), "cam", &[4, 4], Datatype::U8);
    let ino = std::fs::metadata(mine.path().unwrap())
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    let _pub = publisher(src_dir.path(), "cam", port);
    let sub = subscriber("shmim/cam", dst_dir.path(), port, &[]);
    write_checksummed(&mut src, 1);
    sub.wait_log("no bridge created is in the way");
    let now = std::fs::metadata(mine.path().unwrap())
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    assert_eq!(ino, now);
    assert_eq!(mine.cnt0(), 0, "nothing was written into it");
}

#[test]
fn a_stream_over_max_bytes_is_refused() {
    let (src_dir, dst_dir) = (TempDir::new("max-src"), TempDir::new("max-dst"));
    let port = free_port();
    let mut src = source(src_dir.path(), "big", &[64, 64], Datatype::Float);
    let _pub = publisher(src_dir.path(), "big", port);
    let sub = subscriber("shmim/big", dst_dir.path(), port, &["--max-bytes", "16383"]);
    write_checksummed(&mut src, 1);
    sub.wait_log("exceeds --max-bytes 16383");
    assert!(
        Stream::open_in(dst_dir.path(), "big").is_err(),
        "no mirror was made"
    );
}

#[test]
fn as_is_refused_for_a_key_expression_that_can_match_many_streams() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shmim-bridge"))
        .args([
            "sub",
            "shmim/*",
            "--as",
            "x",
            "--listen",
            &endpoint(free_port()),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--as names one mirror"), "{err}");
}

#[test]
fn garbage_on_made_up_keys_costs_a_log_line_and_no_stream_worker() {
    let dst_dir = TempDir::new("stray-dst");
    let port = free_port();
    let sub = Bridge::start(&[
        "sub",
        "shmim/**",
        "--status-every",
        "0",
        "--dir",
        dst_dir.path().to_str().unwrap(),
        "--listen",
        &endpoint(port),
    ]);
    sub.wait_log("subscribed to");
    let session = injector(port);
    for i in 0..10 {
        session
            .put(format!("shmim/junk{i}"), b"SHMB\x01\x02garbage".to_vec())
            .wait()
            .unwrap();
    }
    wait_until("10 malformed messages logged", || {
        sub.log().matches("malformed message").count() >= 10
    });
    let threads = std::fs::read_dir(format!("/proc/{}/task", sub.pid())).unwrap();
    for t in threads {
        let comm = std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap_or_default();
        assert!(
            !comm.starts_with("mirror"),
            "a worker for a made-up key: {comm}"
        );
    }
    assert_eq!(std::fs::read_dir(dst_dir.path()).unwrap().count(), 0);
}

#[test]
fn keys_from_the_network_reach_the_log_with_control_characters_escaped() {
    let dst = TempDir::new("ref-esc");
    let port = free_port();
    let sub = support::listening_subscriber("**", dst.path(), port, &[]);
    let evil = injector(port);
    let key = "\u{1b}[2J\u{1b}[31mHACKED/cam";
    evil.put(key, support::frame_message(1, 1, &[0; 4]))
        .wait()
        .unwrap();
    sub.wait_log("HACKED/cam");
    let log = sub.log();
    assert!(!log.contains('\u{1b}'), "{log:?}");
    assert!(log.contains("\\u{1b}[2J\\u{1b}[31mHACKED/cam"), "{log}");
}
