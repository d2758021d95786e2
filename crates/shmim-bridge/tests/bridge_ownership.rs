//! Which mirror a subscriber writes, and which it leaves alone: a mirror belongs to one key (its
//! mark names it), another key's description never touches it, two sources on one key or two
//! keys ending in one name are noticed instead of fighting, a relay's mirror is its own, two
//! subscribers never both write one mirror, and a mirror removed under a subscriber comes back.

mod support;

use std::time::{Duration, Instant};

use shmim_bridge::sub::follow::PIN_SILENCE;
use shmim_core::{Datatype, Stream, Value};
use support::{
    TempDir, connecting_publisher, free_port, injector, injector_to, inode, listening_subscriber,
    live_generation, long_keyword, meta_message, plain_layout, publisher, push_until_current,
    source, subscriber, wait_until, watched_cam, write_checksummed, write_more,
};
use zenoh::Wait;

/// The comment of the mirror's mark.
fn mark_comment(m: &Stream) -> Option<String> {
    m.keyword("SHMIM_MIRROR").unwrap().map(|k| k.comment)
}

#[test]
fn a_description_on_another_key_never_touches_a_mirror() {
    let (src_dir, dst) = (TempDir::new("own-c-src"), TempDir::new("own-c-dst"));
    let port = free_port();
    let sub = listening_subscriber("shmim/**", dst.path(), port, &[]);
    let mut src = source(src_dir.path(), "cam", &[16, 16], Datatype::Float);
    let _pub = connecting_publisher(src_dir.path(), "cam", port, &[]);
    let k = push_until_current(&mut src, dst.path(), "cam", 0);
    let before = inode(dst.path(), "cam");

    // A description on another key that names the mirror `cam`, with another layout.
    let evil = injector(port);
    evil.put(
        "shmim/evil",
        meta_message("cam", plain_layout(&[4, 4], Datatype::U8)),
    )
    .wait()
    .unwrap();
    wait_until("the description on shmim/evil handled", || {
        sub.log().contains("shmim/evil") || inode(dst.path(), "cam") != before
    });
    let k = push_until_current(&mut src, dst.path(), "cam", k);
    let m = Stream::open_in(dst.path(), "cam").unwrap();
    assert_eq!(
        inode(dst.path(), "cam"),
        before,
        "the mirror was not replaced"
    );
    assert_eq!((m.shape(), m.datatype()), (&[16, 16][..], Datatype::Float));
    assert_eq!(long_keyword(&m, "BR_SRC_CNT0"), Some(k as i64));
    assert!(sub.log().contains("names stream \"cam\""), "{}", sub.log());
}

#[test]
fn two_keys_ending_in_one_name_mirror_one_and_refuse_the_other() {
    let (d1, d2, dst) = (
        TempDir::new("own-c2-1"),
        TempDir::new("own-c2-2"),
        TempDir::new("own-c2-dst"),
    );
    let port = free_port();
    let sub = listening_subscriber("**", dst.path(), port, &[]);
    let mut s1 = source(d1.path(), "cam", &[8, 8], Datatype::Float);
    let mut s2 = source(d2.path(), "cam", &[16, 16], Datatype::Float);
    let _p1 = connecting_publisher(d1.path(), "cam", port, &["--prefix", "labA"]);
    let _p2 = connecting_publisher(d2.path(), "cam", port, &["--prefix", "labB"]);
    let mut k = 0;
    wait_until("one key mirrored and the other refused", || {
        k += 1;
        write_checksummed(&mut s1, k);
        write_checksummed(&mut s2, k);
        std::thread::sleep(Duration::from_millis(5));
        sub.log().contains("already mirrors") && long_keyword_of(&dst, "cam").is_some()
    });
    let m = Stream::open_in(dst.path(), "cam").unwrap();
    let owner = mark_comment(&m).unwrap();
    let before = inode(dst.path(), "cam");
    for _ in 0..100 {
        k += 1;
        write_checksummed(&mut s1, k);
        write_checksummed(&mut s2, k);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(inode(dst.path(), "cam"), before, "no fight over the file");
    assert_eq!(mark_comment(&m).unwrap(), owner);
    let (won, lost) = if owner.ends_with("labA/cam") {
        ("labA/cam", "labB/cam")
    } else {
        ("labB/cam", "labA/cam")
    };
    assert_eq!(
        m.shape(),
        if won == "labA/cam" {
            &[8, 8]
        } else {
            &[16, 16]
        }
    );
    assert!(
        sub.log().contains(&format!(
            "{lost}: refused: the mirror cam already mirrors {won}"
        )),
        "{}",
        sub.log()
    );
    assert_eq!(std::fs::read_dir(dst.path()).unwrap().count(), 1);
}

fn long_keyword_of(dir: &TempDir, name: &str) -> Option<i64> {
    Stream::open_in(dir.path(), name)
        .ok()
        .and_then(|m| long_keyword(&m, "BR_SRC_CNT0"))
}

#[test]
fn two_publishers_on_one_key_are_noticed_and_one_is_followed() {
    let (d1, d2, dst) = (
        TempDir::new("own-h-1"),
        TempDir::new("own-h-2"),
        TempDir::new("own-h-dst"),
    );
    let port = free_port();
    let sub = listening_subscriber("shmim/**", dst.path(), port, &[]);
    let mut s1 = source(d1.path(), "cam", &[8, 8], Datatype::Float);
    let mut s2 = source(d2.path(), "cam", &[16, 16], Datatype::Float);
    let _p1 = connecting_publisher(d1.path(), "cam", port, &[]);
    let _p2 = connecting_publisher(d2.path(), "cam", port, &[]);
    let mut k = 0;
    let mut both = |k: &mut u64| {
        *k += 1;
        write_checksummed(&mut s1, *k);
        write_checksummed(&mut s2, *k);
        std::thread::sleep(Duration::from_millis(10));
    };
    wait_until("a mirror", || {
        both(&mut k);
        long_keyword_of(&dst, "cam").is_some()
    });
    // Both sources are seen within a few frames; after that the mirror stays put.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        both(&mut k);
    }
    let (mut changes, mut last) = (0, inode(dst.path(), "cam"));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        both(&mut k);
        let now = inode(dst.path(), "cam");
        if now != last {
            changes += 1;
            last = now;
        }
    }
    assert_eq!(
        changes, 0,
        "the mirror follows one source once both are seen"
    );
    assert!(long_keyword_of(&dst, "cam").is_some_and(|c| c > 0));
    assert!(sub.log().contains("two sources publish"), "{}", sub.log());
}

#[test]
fn a_forged_description_of_the_live_generation_does_not_stop_the_stream() {
    let mut w = watched_cam("own-n");
    let before = inode(w.dst.path(), "cam");
    let evil = injector_to(&w.ports);
    let generation = live_generation(&evil, "shmim/cam");
    let mut forged = meta_message("cam", plain_layout(&[4, 4], Datatype::U8));
    forged[8..16].copy_from_slice(&generation.to_le_bytes());
    evil.put("shmim/cam", forged).wait().unwrap();
    wait_until("the forged description handled", || {
        w.sub.log().contains("contradicts") || inode(w.dst.path(), "cam") != before
    });
    push_until_current(&mut w.src, w.dst.path(), "cam", w.k);
    let m = Stream::open_in(w.dst.path(), "cam").unwrap();
    assert_eq!((m.shape(), m.datatype()), (&[16, 16][..], Datatype::Float));
    assert_eq!(inode(w.dst.path(), "cam"), before);
}

#[test]
fn a_forged_description_of_a_new_generation_never_replaces_a_live_mirror() {
    let mut w = watched_cam("own-h1");
    let before = inode(w.dst.path(), "cam");
    let evil = injector_to(&w.ports);
    // A description of another generation (42) with another layout, and no frames, put every
    // second for longer than two silence periods while the real source writes at ~200 Hz.
    let forged = meta_message("cam", plain_layout(&[4, 4], Datatype::U8));
    let start = Instant::now();
    let (mut k, mut put_at) = (w.k, None::<Instant>);
    while start.elapsed() < PIN_SILENCE * 2 + Duration::from_secs(1) {
        if put_at.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            evil.put("shmim/cam", forged.clone()).wait().unwrap();
            put_at = Some(Instant::now());
        }
        k = write_more(&mut w.src, k, 1, Duration::from_millis(5));
        assert_eq!(
            inode(w.dst.path(), "cam"),
            before,
            "the live mirror was replaced after {:?}\n{}",
            start.elapsed(),
            w.sub.log()
        );
    }
    push_until_current(&mut w.src, w.dst.path(), "cam", k);
    let m = Stream::open_in(w.dst.path(), "cam").unwrap();
    assert_eq!((m.shape(), m.datatype()), (&[16, 16][..], Datatype::Float));
    assert_eq!(inode(w.dst.path(), "cam"), before);
}

/// `pub cam --prefix relay` of the mirrors in `dir`, listening on `port`.
fn relay_publisher(dir: &TempDir, port: u16) -> support::Bridge {
    support::Bridge::start(&[
        "pub",
        "cam",
        "--prefix",
        "relay",
        "--dir",
        dir.path().to_str().unwrap(),
        "--listen",
        &support::endpoint(port),
    ])
}

#[test]
fn a_relay_describes_its_mirror_only_when_a_source_keyword_changes() {
    let (a, b) = (TempDir::new("own-l2-a"), TempDir::new("own-l2-b"));
    let (pa, pb) = (free_port(), free_port());
    let mut src = source(a.path(), "cam", &[16, 16], Datatype::Float);
    let _pub_a = publisher(a.path(), "cam", pa);
    let _sub_b = subscriber("shmim/cam", b.path(), pa, &[]);
    let k = push_until_current(&mut src, b.path(), "cam", 0);
    let _pub_b = relay_publisher(&b, pb);
    let watch = injector(pb);
    // Messages on the relay's key by kind (byte 5: 1 description, 2 frame).
    let kinds = std::sync::Arc::new(std::sync::Mutex::new([0u64; 3]));
    let seen = std::sync::Arc::clone(&kinds);
    let _watching = watch
        .declare_subscriber("relay/cam")
        .callback(move |sample| {
            let kind = sample.payload().to_bytes().get(5).copied().unwrap_or(0);
            seen.lock().unwrap()[usize::from(kind).min(2)] += 1;
        })
        .wait()
        .unwrap();
    let mut k = k;
    wait_until("the relay's frames reach the watcher", || {
        k = write_more(&mut src, k, 1, Duration::from_millis(5));
        kinds.lock().unwrap()[2] > 0
    });
    *kinds.lock().unwrap() = [0; 3];
    let k = write_more(&mut src, k, 200, Duration::from_millis(5));
    wait_until("the relay sent frames", || kinds.lock().unwrap()[2] >= 50);
    let [_, descriptions, frames] = *kinds.lock().unwrap();
    assert_eq!(
        descriptions, 0,
        "{descriptions} descriptions for {frames} frames of the relay (source up to {k})"
    );
}

#[test]
fn a_relay_mirror_is_reused_when_its_subscriber_restarts() {
    let (a, b, c) = (
        TempDir::new("own-i-a"),
        TempDir::new("own-i-b"),
        TempDir::new("own-i-c"),
    );
    let (pa, pb) = (free_port(), free_port());
    let mut src = Stream::create(
        "cam",
        &shmim_core::StreamSpec::new(&[8, 8], Datatype::Float)
            .keywords(1)
            .dir(a.path()),
    )
    .unwrap();
    src.set_keyword("GAIN", Value::Long(3), "").unwrap();
    let _pub_a = publisher(a.path(), "cam", pa);
    let _sub_b = subscriber("shmim/cam", b.path(), pa, &[]);
    let _pub_b = relay_publisher(&b, pb);
    let sub_c = subscriber("relay/cam", c.path(), pb, &[]);
    let k = push_until_current(&mut src, c.path(), "cam", 0);
    let before = inode(c.path(), "cam");
    sub_c.kill();
    let sub_c = subscriber("relay/cam", c.path(), pb, &[]);
    sub_c.wait_log("mirroring into");
    push_until_current(&mut src, c.path(), "cam", k);
    assert_eq!(
        inode(c.path(), "cam"),
        before,
        "the relay's mirror was reused"
    );
    let m = Stream::open_in(c.path(), "cam").unwrap();
    let names: Vec<String> = m.keywords().unwrap().into_iter().map(|k| k.name).collect();
    for name in ["SHMIM_MIRROR", "BR_SRC_CNT0", "BR_GAPS", "GAIN"] {
        assert_eq!(
            names.iter().filter(|n| *n == name).count(),
            1,
            "{name} once in {names:?}"
        );
    }
    assert!(mark_comment(&m).unwrap().ends_with("relay/cam"));
}

#[test]
fn a_second_subscriber_of_one_mirror_stands_by_until_the_first_is_gone() {
    let (src_dir, dst) = (TempDir::new("own-o-src"), TempDir::new("own-o-dst"));
    let port = free_port();
    let mut src = source(src_dir.path(), "cam", &[64, 64], Datatype::Float);
    let _pub = publisher(src_dir.path(), "cam", port);
    let first = subscriber("shmim/cam", dst.path(), port, &["--mode", "every"]);
    let k = push_until_current(&mut src, dst.path(), "cam", 0);
    let second = subscriber("shmim/cam", dst.path(), port, &["--mode", "every"]);
    let start = Instant::now();
    let mut k = k;
    while start.elapsed() < Duration::from_secs(2) {
        k += 1;
        write_checksummed(&mut src, k);
        std::thread::sleep(Duration::from_millis(5));
    }
    let m = Stream::open_in(dst.path(), "cam").unwrap();
    let before = m.cnt0();
    let from = k;
    for _ in 0..100 {
        k += 1;
        write_checksummed(&mut src, k);
        std::thread::sleep(Duration::from_millis(5));
    }
    let last = push_until_current(&mut src, dst.path(), "cam", k);
    let k = from;
    let written = m.cnt0() - before;
    assert!(
        written <= last - k,
        "{written} commits for {} source frames: only one subscriber writes",
        last - k
    );
    // The first goes away: the second takes over the same file.
    first.kill();
    let ino = inode(dst.path(), "cam");
    push_until_current(&mut src, dst.path(), "cam", last);
    assert_eq!(inode(dst.path(), "cam"), ino);
    assert!(
        second.log().contains("another bridge writes"),
        "{}",
        second.log()
    );
}

#[test]
fn a_mirror_removed_under_a_subscriber_is_made_again() {
    let (src_dir, dst) = (TempDir::new("own-rm-src"), TempDir::new("own-rm-dst"));
    let port = free_port();
    let mut src = source(src_dir.path(), "cam", &[8, 8], Datatype::Float);
    let _pub = publisher(src_dir.path(), "cam", port);
    let sub = subscriber("shmim/cam", dst.path(), port, &[]);
    let k = push_until_current(&mut src, dst.path(), "cam", 0);
    std::fs::remove_file(dst.path().join("cam.im.shm")).unwrap();
    // (tmpfs may give the new file the old one's inode number: only its frames tell.)
    let k = push_until_current(&mut src, dst.path(), "cam", k);
    sub.wait_log("was removed or replaced; making it again");
    // Replaced by somebody's own stream: left alone, and said so.
    std::fs::remove_file(dst.path().join("cam.im.shm")).unwrap();
    let mine = source(dst.path(), "cam", &[8, 8], Datatype::Float);
    for j in k + 1..k + 100 {
        write_checksummed(&mut src, j);
        std::thread::sleep(Duration::from_millis(5));
    }
    sub.wait_log("no bridge created is in the way");
    assert_eq!(mine.cnt0(), 0, "nothing was written into it");
}
