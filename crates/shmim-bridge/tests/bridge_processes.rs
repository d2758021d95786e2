//! `pub` and `sub` as separate processes on loopback (explicit endpoints, no multicast): frames
//! cross checksummed, mirrors follow re-creation, either side can die and come back, and
//! malformed messages injected through a real Zenoh session are counted and dropped.

mod support;

use std::path::Path;
use std::time::Duration;

use shmim_core::{Datatype, Stream, StreamSpec, Value};
use support::{
    Bridge, TempDir, check_frame, count, endpoint, free_port, long_keyword, publisher,
    push_until_current, source, subscriber, unaccounted, wait_until, write_checksummed,
};

/// Opens `name` in `dir` once it exists.
fn open_when_there(dir: &Path, name: &str) -> Stream {
    let mut s = None;
    wait_until(&format!("{name} in {}", dir.display()), || {
        s = Stream::open_in(dir, name).ok();
        s.is_some()
    });
    s.unwrap()
}

/// Writes checksummed frames `from..=to` into `src`, one every `pause`.
fn write_frames(src: &mut Stream, from: u64, to: u64, pause: Duration) {
    for k in from..=to {
        write_checksummed(src, k);
        std::thread::sleep(pause);
    }
}

/// Writes frames after `from` until the mirror has mirrored a frame of number ≥ `target`
/// (frames may be lost while a side restarts: that is what the gap counters say).
fn push_until_mirrored(src: &mut Stream, mirror_dir: &Path, name: &str, from: u64) -> u64 {
    let mut k = from;
    let mut mirror = None;
    wait_until(&format!("frame ≥ {from} mirrored in {name}"), || {
        k += 1;
        write_frames(src, k, k, Duration::from_millis(5));
        if mirror.is_none() {
            mirror = Stream::open_in(mirror_dir, name).ok();
        }
        mirror
            .as_ref()
            .and_then(|m| long_keyword(m, "BR_SRC_CNT0"))
            .is_some_and(|c| c as u64 > from)
    });
    k
}

#[test]
fn checksummed_frames_cross_the_bridge_and_none_arrives_corrupt() {
    let (src_dir, dst_dir) = (TempDir::new("ck-src"), TempDir::new("ck-dst"));
    let port = free_port();
    let spec = StreamSpec::new(&[64, 48], Datatype::Float)
        .keywords(3)
        .semaphores(4)
        .dir(src_dir.path());
    let mut src = Stream::create("cam", &spec).unwrap();
    src.set_keyword("EXPTIME", Value::Double(0.25), "exposure")
        .unwrap();
    src.set_keyword("MODE", Value::Str("fast".into()), "")
        .unwrap();
    // The subscriber first: start order does not matter.
    let sub = Bridge::start(&[
        "sub",
        "shmim/cam",
        "--mode",
        "every",
        "--status-every",
        "0",
        "--dir",
        dst_dir.path().to_str().unwrap(),
        "--listen",
        &endpoint(port),
    ]);
    let _pub = Bridge::start(&[
        "pub",
        "cam",
        "--dir",
        src_dir.path().to_str().unwrap(),
        "--connect",
        &endpoint(port),
    ]);
    let mirror = open_when_there(dst_dir.path(), "cam");
    assert_eq!(mirror.shape(), &[64, 48]);
    assert_eq!(mirror.datatype(), Datatype::Float);
    assert_eq!(mirror.geometry().nb_sem, 4);
    wait_until("keywords mirrored", || {
        mirror.keyword("EXPTIME").ok().flatten().map(|k| k.value) == Some(Value::Double(0.25))
    });
    assert_eq!(
        mirror.keyword("MODE").unwrap().map(|k| k.value),
        Some(Value::Str("fast".into()))
    );
    assert_eq!(
        mirror.keyword("SHMIM_MIRROR").unwrap().map(|k| k.value),
        Some(Value::Str("zenoh".into()))
    );

    let mut reader = mirror.reader().unwrap();
    let len = mirror.geometry().frame_bytes();
    let last = 300;
    let writer = std::thread::spawn(move || {
        write_frames(&mut src, 1, last, Duration::from_millis(2));
        src
    });
    let (mut good, mut corrupt, mut seen) = (0u64, 0u64, 0u64);
    let mut buf = vec![0u8; len];
    while seen < last {
        match reader.wait_timeout(support::WATCHDOG) {
            Ok(_) => {}
            Err(e) => panic!("no frame: {e}\n{}", sub.log()),
        }
        reader.read_bytes_into(&mut buf).unwrap();
        match check_frame(&buf) {
            Some(k) => {
                good += 1;
                seen = seen.max(k);
            }
            None => corrupt += 1,
        }
    }
    let src = writer.join().unwrap();
    assert_eq!(corrupt, 0, "corrupt frames accepted");
    assert!(good > 0);
    assert_eq!(long_keyword(&mirror, "BR_SRC_CNT0"), Some(last as i64));
    assert!(long_keyword(&mirror, "BR_LAT_NS").is_some());

    // A keyword change travels without a frame.
    src.set_keyword("EXPTIME", Value::Double(0.5), "exposure")
        .unwrap();
    wait_until("the changed keyword mirrored", || {
        mirror.keyword("EXPTIME").ok().flatten().map(|k| k.value) == Some(Value::Double(0.5))
    });
}

#[test]
fn mirror_is_recreated_when_the_source_changes_shape() {
    let (src_dir, dst_dir) = (TempDir::new("re-src"), TempDir::new("re-dst"));
    let port = free_port();
    let mut src = source(src_dir.path(), "wfs", &[16, 16], Datatype::U16);
    let _pub = publisher(src_dir.path(), "wfs", port);
    let _sub = subscriber("shmim/*", dst_dir.path(), port, &[]);
    push_until_mirrored(&mut src, dst_dir.path(), "wfs", 0);
    assert_eq!(open_when_there(dst_dir.path(), "wfs").shape(), &[16, 16]);

    drop(src);
    let mut src = source(src_dir.path(), "wfs", &[8, 4, 2], Datatype::Double);
    wait_until("the mirror re-created as 8x4x2 f64", || {
        Stream::open_in(dst_dir.path(), "wfs")
            .is_ok_and(|m| m.shape() == [8, 4, 2] && m.datatype() == Datatype::Double)
    });
    push_until_mirrored(&mut src, dst_dir.path(), "wfs", 0);
    let mirror = open_when_there(dst_dir.path(), "wfs");
    let mut buf = vec![0u8; mirror.geometry().frame_bytes()];
    mirror.read_bytes_into(&mut buf).unwrap();
    assert!(
        check_frame(&buf).is_some(),
        "the re-created mirror holds a whole frame"
    );
}

#[test]
fn either_side_can_be_killed_and_restarted() {
    let (src_dir, dst_dir) = (TempDir::new("kill-src"), TempDir::new("kill-dst"));
    let port = free_port();
    let mut src = source(src_dir.path(), "dm", &[32, 32], Datatype::Float);
    let start_pub = || publisher(src_dir.path(), "dm", port);
    let start_sub = || subscriber("shmim/dm", dst_dir.path(), port, &[]);
    let first_pub = start_pub();
    let first_sub = start_sub();
    let mut k = push_until_current(&mut src, dst_dir.path(), "dm", 0);
    let inode = std::fs::metadata(dst_dir.path().join("dm.im.shm")).unwrap();
    let mirror = open_when_there(dst_dir.path(), "dm");
    let start = count(&mirror);

    first_pub.kill();
    write_frames(&mut src, k + 1, k + 20, Duration::from_millis(1));
    k += 20;
    let _publisher = start_pub();
    k = push_until_current(&mut src, dst_dir.path(), "dm", k);
    let after_pub = count(&mirror);
    assert!(
        after_pub.gaps > start.gaps,
        "frames lost while the publisher was down are gaps"
    );
    assert_eq!(unaccounted(&start, &after_pub), 0);

    first_sub.kill();
    write_frames(&mut src, k + 1, k + 20, Duration::from_millis(1));
    k += 20;
    let _subscriber = start_sub();
    push_until_current(&mut src, dst_dir.path(), "dm", k);
    let now = std::fs::metadata(dst_dir.path().join("dm.im.shm")).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&inode),
        std::os::unix::fs::MetadataExt::ino(&now),
        "a restarted subscriber keeps its mirror (its readers keep going)"
    );
    let end = count(&mirror);
    assert!(
        end.gaps >= after_pub.gaps + 20,
        "the 20 frames written while the subscriber was down are gaps"
    );
    // At most the one frame a killed subscriber may take with it (docs/bridge.md).
    assert!((0..=1).contains(&unaccounted(&start, &end)));
}

#[test]
fn ls_lists_the_published_streams_and_the_ones_still_awaited() {
    let src_dir = TempDir::new("ls-src");
    let port = free_port();
    let _src = Stream::create(
        "a*b",
        &StreamSpec::new(&[4, 2], Datatype::I8)
            .keywords(1)
            .dir(src_dir.path()),
    )
    .unwrap();
    let _pub = Bridge::start(&[
        "pub",
        "a*b",
        "later",
        "--prefix",
        "lab/x",
        "--dir",
        src_dir.path().to_str().unwrap(),
        "--listen",
        &endpoint(port),
    ]);
    let mut out = String::new();
    wait_until("ls to list both streams", || {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_shmim-bridge"))
            .args(["ls", "lab/**", "--json", "--connect", &endpoint(port)])
            .output()
            .unwrap();
        out = String::from_utf8_lossy(&o.stdout).into_owned();
        out.matches("\"key\"").count() == 2 && out.contains("\"shape\":\"4x2\"")
    });
    assert!(out.contains("\"key\":\"lab/x/a%2Ab\""), "{out}");
    assert!(out.contains("\"name\":\"a*b\""), "{out}");
    assert!(out.contains("\"datatype\":\"INT8\""), "{out}");
    assert!(out.contains("\"key\":\"lab/x/later\""), "{out}");
    assert!(out.contains("waiting for the stream"), "{out}");
}

/// Not a test on its own: when re-executed with `SHMIM_BRIDGE_HOLD=DIR`, takes the write flag of
/// stream `dm` in `DIR`, says so, and waits to be killed.
#[test]
fn helper_hold_the_write_flag_until_killed() {
    let Some(dir) = std::env::var_os("SHMIM_BRIDGE_HOLD") else {
        return;
    };
    let mut s = Stream::open_in(dir, "dm").unwrap();
    let _guard = s.write().unwrap();
    println!("holding");
    std::thread::sleep(support::WATCHDOG);
}

#[test]
fn a_restarted_subscriber_takes_over_a_mirror_whose_writer_died_mid_frame() {
    use std::io::BufRead;
    let (src_dir, dst_dir) = (TempDir::new("dead-src"), TempDir::new("dead-dst"));
    let port = free_port();
    let mut src = source(src_dir.path(), "dm", &[16, 16], Datatype::Float);
    let _pub = publisher(src_dir.path(), "dm", port);
    let first = subscriber("shmim/dm", dst_dir.path(), port, &[]);
    let k = push_until_mirrored(&mut src, dst_dir.path(), "dm", 0);
    first.kill();

    // A process dies holding the mirror's write flag, mid-frame.
    let mut holder = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_hold_the_write_flag_until_killed",
            "--nocapture",
        ])
        .env("SHMIM_BRIDGE_HOLD", dst_dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("holding"))));
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(open_when_there(dst_dir.path(), "dm").is_writing());

    let _second = subscriber("shmim/dm", dst_dir.path(), port, &[]);
    push_until_mirrored(&mut src, dst_dir.path(), "dm", k);
    let mirror = open_when_there(dst_dir.path(), "dm");
    assert!(!mirror.is_writing());
    let mut buf = vec![0u8; mirror.geometry().frame_bytes()];
    mirror.read_bytes_into(&mut buf).unwrap();
    assert!(
        check_frame(&buf).is_some(),
        "a whole frame after the take-over"
    );
}

#[test]
fn max_rate_coalesces_to_the_newest_frame_and_the_skipped_ones_are_counted_as_gaps() {
    let (src_dir, dst_dir) = (TempDir::new("rate-src"), TempDir::new("rate-dst"));
    let port = free_port();
    let mut src = source(src_dir.path(), "wfs", &[8, 8], Datatype::U16);
    let _pub = Bridge::start(&[
        "pub",
        "wfs",
        "--max-rate",
        "20",
        "--dir",
        src_dir.path().to_str().unwrap(),
        "--listen",
        &endpoint(port),
    ]);
    let _sub = subscriber("shmim/wfs", dst_dir.path(), port, &["--mode", "latest"]);
    let k = push_until_mirrored(&mut src, dst_dir.path(), "wfs", 0);
    // 200 frames in a burst, far faster than 20 Hz.
    write_frames(&mut src, k + 1, k + 200, Duration::ZERO);
    let mirror = open_when_there(dst_dir.path(), "wfs");
    wait_until("the burst's last frame mirrored", || {
        long_keyword(&mirror, "BR_SRC_CNT0") == Some((k + 200) as i64)
    });
    let mut buf = vec![0u8; mirror.geometry().frame_bytes()];
    mirror.read_bytes_into(&mut buf).unwrap();
    assert_eq!(check_frame(&buf), Some(k + 200), "the newest frame won");
    // At 20 Hz, sending all 200 would take 10 s; the burst takes far less.
    assert!(
        long_keyword(&mirror, "BR_GAPS").unwrap() > 0,
        "frames the publisher skipped are gaps"
    );
}
