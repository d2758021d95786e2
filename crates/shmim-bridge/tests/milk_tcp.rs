//! milk's TCP stream protocol against a counterpart written in this test from the protocol's
//! description (not from the bridge's code): `milk-recv` accepts a transmitter, `milk-send`
//! feeds a receiver, and the two bridge verbs talk to each other (a cube, slice by slice).

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use shmim_core::{Datatype, Stream, StreamSpec, Value};
use support::milk::{MAGIC, connect, header, long_kw, milk_recv};
use support::{Bridge, TempDir, check_frame, checksum_frame, free_port, wait_until};

#[test]
fn milk_recv_accepts_a_transmitter_and_publishes_each_record() {
    let dir = TempDir::new("mrecv");
    let port = free_port();
    let frames = 50u64;
    let recv = milk_recv(port, &dir, &["--count", &frames.to_string()]);
    let mut tx = connect(port);
    let (w, h) = (20u32, 10u32);
    tx.write_all(&header("tcpcam", &[w, h], 9, 2, 384)).unwrap();
    let len = (w * h * 4) as usize;
    for k in 1..=frames {
        tx.write_all(&checksum_frame(k, len)).unwrap();
        for word in [MAGIC, 1000 + k, 0] {
            tx.write_all(&word.to_le_bytes()).unwrap();
        }
        tx.write_all(&long_kw("FRAME", k as i64)).unwrap();
        tx.write_all(&[0u8; 128]).unwrap();
    }
    assert!(recv.wait_exit().success());
    let s = Stream::open_in(dir.path(), "tcpcam").unwrap();
    assert_eq!((s.shape(), s.datatype()), (&[w, h][..], Datatype::Float));
    assert_eq!(s.cnt0(), frames, "one commit per record");
    let mut buf = vec![0u8; len];
    s.read_bytes_into(&mut buf).unwrap();
    assert_eq!(check_frame(&buf), Some(frames));
    assert_eq!(
        s.keyword("FRAME").unwrap().map(|k| k.value),
        Some(Value::Long(frames as i64))
    );
    let src_cnt0 = s.keyword("BR_SRC_CNT0").unwrap().map(|k| k.value);
    assert_eq!(src_cnt0, Some(Value::Long(1000 + frames as i64)));
}

#[test]
fn milk_recv_drops_a_transmitter_that_loses_framing_and_accepts_the_next() {
    let dir = TempDir::new("mrecv-bad");
    let port = free_port();
    let recv = milk_recv(port, &dir, &["--count", "1", "--header", "dao-compat"]);
    let len = 8 * 8;
    let mut bad = connect(port);
    bad.write_all(&header("dao", &[8, 8], 1, 0, 4496)).unwrap();
    bad.write_all(&checksum_frame(1, len)).unwrap();
    for word in [0xdead_beef_u64, 1, 0] {
        bad.write_all(&word.to_le_bytes()).unwrap();
    }
    recv.wait_log("lost its framing");
    let mut good = connect(port);
    good.write_all(&header("dao", &[8, 8], 1, 0, 4496)).unwrap();
    good.write_all(&checksum_frame(2, len)).unwrap();
    for word in [MAGIC, 2, 0] {
        good.write_all(&word.to_le_bytes()).unwrap();
    }
    assert!(recv.wait_exit().success());
    let s = Stream::open_in(dir.path(), "dao").unwrap();
    let mut buf = vec![0u8; len];
    s.read_bytes_into(&mut buf).unwrap();
    assert_eq!(check_frame(&buf), Some(2));
}

#[test]
fn milk_send_feeds_a_receiver_byte_for_byte() {
    let dir = TempDir::new("msend");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let spec = StreamSpec::new(&[12, 6], Datatype::I16)
        .keywords(1)
        .dir(dir.path());
    let mut src = Stream::create("outcam", &spec).unwrap();
    src.set_keyword("GAIN", Value::Long(7), "").unwrap();
    let len = src.geometry().frame_bytes();
    let frames = 20u64;
    let _send = Bridge::start(&[
        "milk-send",
        "outcam",
        &format!("127.0.0.1:{port}"),
        "--dir",
        dir.path().to_str().unwrap(),
        "--count",
        &frames.to_string(),
    ]);
    let (mut rx, _) = listener.accept().unwrap();
    rx.set_read_timeout(Some(support::WATCHDOG)).unwrap();
    let mut h = [0u8; 384];
    rx.read_exact(&mut h).unwrap();
    assert_eq!(&h[..5], b"2.00\0");
    assert_eq!(&h[32..39], b"outcam\0");
    assert_eq!(h[112], 2);
    assert_eq!(u32::from_le_bytes(h[116..120].try_into().unwrap()), 12);
    assert_eq!(u32::from_le_bytes(h[120..124].try_into().unwrap()), 6);
    assert_eq!(h[136], 4, "INT16");
    assert_eq!(
        u16::from_le_bytes(h[290..292].try_into().unwrap()),
        1,
        "NBkw"
    );
    let writer = std::thread::spawn(move || {
        for k in 1..=frames {
            let mut g = src.write().unwrap();
            g.copy_from_bytes(&checksum_frame(k, len)).unwrap();
            g.commit().unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
    });
    let mut rec = vec![0u8; len + 24 + 128];
    let mut last = 0;
    while last < frames {
        rx.read_exact(&mut rec).unwrap();
        let k = check_frame(&rec[..len]).expect("a whole frame");
        let word =
            |i: usize| u64::from_le_bytes(rec[len + 8 * i..len + 8 * i + 8].try_into().unwrap());
        assert_eq!(word(0), MAGIC);
        assert_eq!(word(1), k, "cnt0 is the frame's");
        assert_eq!(word(2), 0, "one slice");
        let kw = &rec[len + 24..];
        assert_eq!((&kw[..5], kw[16]), (&b"GAIN\0"[..], b'L'));
        assert_eq!(i64::from_le_bytes(kw[24..32].try_into().unwrap()), 7);
        assert!(k > last || last == 0);
        last = k;
    }
    writer.join().unwrap();
}

#[test]
fn milk_send_and_milk_recv_carry_a_cube_slice_by_slice() {
    let (src_dir, dst_dir) = (TempDir::new("mcube-src"), TempDir::new("mcube-dst"));
    let port = free_port();
    let spec = StreamSpec::new(&[4, 4, 3], Datatype::U16).dir(src_dir.path());
    let mut src = Stream::create("cube", &spec).unwrap();
    let recv = Bridge::start(&[
        "milk-recv",
        "--port",
        &port.to_string(),
        "--dir",
        dst_dir.path().to_str().unwrap(),
        "--as",
        "cube_copy",
    ]);
    let _send = Bridge::start(&[
        "milk-send",
        "cube",
        &format!("127.0.0.1:{port}"),
        "--dir",
        src_dir.path().to_str().unwrap(),
    ]);
    recv.wait_log("receiving cube");
    let slice = 4 * 4 * 2;
    let mut k = 0u64;
    wait_until("every slice of the cube received", || {
        k += 1;
        let s = (k % 3) as usize;
        let mut g = src.write().unwrap();
        g.bytes_mut()[s * slice..(s + 1) * slice].fill(s as u8 + 1);
        g.set_cnt1(s as u64);
        g.commit().unwrap();
        std::thread::sleep(Duration::from_millis(3));
        Stream::open_in(dst_dir.path(), "cube_copy").is_ok_and(|m| {
            let mut b = vec![0u8; m.geometry().frame_bytes()];
            m.read_bytes_into(&mut b).is_ok()
                && (0..3).all(|s| {
                    b[s * slice..(s + 1) * slice]
                        .iter()
                        .all(|&v| v == s as u8 + 1)
                })
        })
    });
    let m = Stream::open_in(dst_dir.path(), "cube_copy").unwrap();
    assert_eq!(m.shape(), &[4, 4, 3]);
}

#[test]
fn older_milk_records_without_the_magic_are_accepted_with_trailer_plain() {
    let dir = TempDir::new("mrecv-plain");
    let port = free_port();
    let recv = milk_recv(port, &dir, &["--count", "3", "--trailer", "plain"]);
    let mut tx = connect(port);
    tx.write_all(&header("old", &[6, 5], 3, 0, 384)).unwrap();
    let len = 6 * 5 * 2;
    for k in 1..=3u64 {
        tx.write_all(&checksum_frame(k, len)).unwrap();
        for word in [k, 0] {
            tx.write_all(&word.to_le_bytes()).unwrap();
        }
    }
    assert!(recv.wait_exit().success());
    let s = Stream::open_in(dir.path(), "old").unwrap();
    let mut buf = vec![0u8; len];
    s.read_bytes_into(&mut buf).unwrap();
    assert_eq!(check_frame(&buf), Some(3));
}

/// A raw IMAGE_KEYWORD holding a string.
fn string_kw(name: &str, v: &str) -> [u8; 128] {
    let mut k = [0u8; 128];
    k[..name.len()].copy_from_slice(name.as_bytes());
    k[16] = b'S';
    k[24..24 + v.len()].copy_from_slice(v.as_bytes());
    k
}

#[test]
fn keywords_from_a_transmitter_cannot_forge_the_mirror_mark() {
    let dir = TempDir::new("mrecv-forge");
    let port = free_port();
    // Somebody's own stream, made by hand to receive milk's frames (as milk users do).
    let mine = Stream::create(
        "cam",
        &StreamSpec::new(&[8, 8], Datatype::Float)
            .keywords(2)
            .dir(dir.path()),
    )
    .unwrap();
    let ino = std::fs::metadata(mine.path().unwrap())
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    let recv = milk_recv(port, &dir, &[]);
    {
        let mut tx = connect(port);
        tx.write_all(&header("cam", &[8, 8], 9, 2, 384)).unwrap();
        tx.write_all(&checksum_frame(1, 256)).unwrap();
        for word in [MAGIC, 1, 0] {
            tx.write_all(&word.to_le_bytes()).unwrap();
        }
        tx.write_all(&string_kw("SHMIM_MIRROR", "milk-tcp"))
            .unwrap();
        tx.write_all(&long_kw("BR_GAPS", 5)).unwrap();
    }
    recv.wait_log("closed the connection after 1 frames");
    assert_eq!(mine.cnt0(), 1, "written into, as milk's receiver would");
    let names: Vec<String> = mine
        .keywords()
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert!(
        names.is_empty(),
        "the bridge's keyword names are not copied: {names:?}"
    );
    assert!(recv.log().contains("reserved"), "{}", recv.log());
    // A transmitter of another shape: the hand-made stream is never replaced.
    {
        let mut tx = connect(port);
        tx.write_all(&header("cam", &[16, 16], 9, 0, 384)).unwrap();
    }
    recv.wait_log("no bridge created is in the way");
    let now = std::fs::metadata(mine.path().unwrap())
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .unwrap();
    assert_eq!(ino, now);
    assert!(!mine.inode_changed().unwrap());
}

#[test]
fn an_idle_connection_does_not_keep_the_next_transmitter_out() {
    let dir = TempDir::new("mrecv-idle");
    let port = free_port();
    let recv = milk_recv(port, &dir, &["--count", "5"]);
    let _idle = connect(port);
    recv.wait_log("connected");
    let mut tx = connect(port);
    tx.write_all(&header("late", &[8, 8], 9, 0, 384)).unwrap();
    for k in 1..=5u64 {
        tx.write_all(&checksum_frame(k, 256)).unwrap();
        for word in [MAGIC, k, 0] {
            tx.write_all(&word.to_le_bytes()).unwrap();
        }
    }
    assert!(recv.wait_exit().success());
    let s = Stream::open_in(dir.path(), "late").unwrap();
    let mut buf = vec![0u8; 256];
    s.read_bytes_into(&mut buf).unwrap();
    assert_eq!(check_frame(&buf), Some(5));
}
