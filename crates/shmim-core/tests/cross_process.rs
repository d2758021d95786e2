//! Real processes: frames cross process boundaries, dead participants are detected, and no torn
//! frame is ever accepted. Children are this test binary re-executed with a role
//! (`common::spawn_child`), with `MILK_SHM_DIR` pointing at a private directory.

mod common;

use std::time::{Duration, Instant};

use common::{StreamDir, arg, count_from_env, eventually, expect_success, role, spawn_child};
use shmim_core::{Datatype, Error, Stream, StreamSpec};

const SIDE: u32 = 64;

/// Frame `f` of `side`²: element 0 is `f`, element `i` a hash of `(f, i)`; a mix of two frames
/// fails [`check`].
fn frame_of(side: u32, f: u32) -> Vec<u32> {
    (0..side * side)
        .map(|i| {
            if i == 0 {
                f
            } else {
                f.wrapping_mul(2_654_435_761) ^ i.wrapping_mul(40_503)
            }
        })
        .collect()
}

fn frame(f: u32) -> Vec<u32> {
    frame_of(SIDE, f)
}

/// The frame side a child works with (`SIDE` unless the parent says otherwise).
fn side() -> u32 {
    std::env::var("SIDE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SIDE)
}

fn check(px: &[u32]) -> bool {
    let f = px[0];
    px.iter()
        .enumerate()
        .skip(1)
        .all(|(i, &v)| v == f.wrapping_mul(2_654_435_761) ^ (i as u32).wrapping_mul(40_503))
}

/// Child entry point: does nothing unless started by a parent test with a role.
#[test]
fn child() {
    let Some(role) = role() else { return };
    let name = arg("STREAM");
    match role.as_str() {
        "writer" => {
            let frames: u32 = arg("FRAMES").parse().unwrap();
            let mut s = Stream::open(&name).unwrap();
            let side = side();
            for f in 1..=frames {
                assert_eq!(s.write_frame(&frame_of(side, f)).unwrap(), u64::from(f));
            }
        }
        "reader" => {
            let frames: u64 = arg("FRAMES").parse().unwrap();
            let s = Stream::open(&name).unwrap();
            let mut r = s.reader().unwrap();
            let mut px = vec![0u32; (side() * side()) as usize];
            let (mut last, mut accepted, mut rejected) = (0u64, 0u64, 0u64);
            let deadline = Instant::now() + Duration::from_secs(600);
            while last < frames {
                assert!(
                    Instant::now() < deadline,
                    "reader deadline passed at frame {last}"
                );
                match r.wait_timeout(Duration::from_millis(200)) {
                    Ok(_) | Err(Error::Timeout(_)) => {}
                    Err(e) => panic!("wait: {e}"),
                }
                match r.read_into(&mut px) {
                    Ok(c) => {
                        assert!(check(&px), "torn frame accepted at cnt0 {c}");
                        assert_eq!(u64::from(px[0]), c, "pixels belong to the frame counted");
                        assert!(c >= last, "cnt0 went backwards: {last} → {c}");
                        if c > last {
                            accepted += 1;
                        }
                        last = c;
                    }
                    Err(Error::Torn { .. }) => rejected += 1,
                    Err(e) => panic!("read: {e}"),
                }
            }
            // One write, so lines of concurrent readers do not interleave.
            let line = format!(
                "reader {} ({}²): accepted {accepted} distinct frames; {} torn copies discarded and retried, {rejected} reads timed out torn\n",
                std::process::id(),
                side(),
                r.retries()
            );
            std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes()).unwrap();
        }
        "hold_slot" => {
            let s = Stream::open(&name).unwrap();
            let _r = s.reader().unwrap();
            std::thread::sleep(Duration::from_secs(600));
        }
        "die_mid_write" => {
            let mut s = Stream::open(&name).unwrap();
            let mut g = s.write().unwrap();
            g.pixels_mut::<u32>().unwrap()[..10].fill(0xdead);
            std::thread::sleep(Duration::from_secs(600));
        }
        "force_and_die_mid_write" => {
            let mut s = Stream::open(&name).unwrap();
            let mut g = s.recover_writer(true).unwrap();
            g.pixels_mut::<u32>().unwrap()[..10].fill(0xdead);
            std::thread::sleep(Duration::from_secs(600));
        }
        "read_and_die_mid_write" => {
            let mut s = Stream::open(&name).unwrap();
            let _r = s.reader().unwrap();
            let mut g = s.write().unwrap();
            g.pixels_mut::<u32>().unwrap()[..10].fill(0xdead);
            std::thread::sleep(Duration::from_secs(600));
        }
        other => panic!("unknown role {other}"),
    }
}

/// A child in `role` on the stream of `w` (in `dir`), once it holds and claims the write flag;
/// its PID.
fn child_holding_the_flag(dir: &StreamDir, role: &str, w: &Stream) -> (std::process::Child, i32) {
    let child = spawn_child("child", role, dir.path(), &[("STREAM", w.name().into())]);
    let pid = child.id() as i32;
    eventually("the child to take and claim the write flag", 60, || {
        w.flag_claim() == Some(pid)
    });
    (child, pid)
}

fn kill(child: &mut std::process::Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn a_frame_written_in_one_process_is_read_in_another_after_a_wake() {
    let dir = StreamDir::new("xp-wake");
    let mut w = Stream::create(
        "xp",
        &StreamSpec::new(&[SIDE, SIDE], Datatype::U32).dir(dir.path()),
    )
    .unwrap();
    let reader = spawn_child(
        "child",
        "reader",
        dir.path(),
        &[("STREAM", "xp".into()), ("FRAMES", "3".into())],
    );
    eventually("the reader to register", 60, || {
        w.registered_readers().len() == 1
    });
    for f in 1..=3 {
        w.write_frame(&frame(f)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    expect_success(reader);
}

/// A one-semaphore stream `name` in `dir`, and a child process holding its slot as a reader.
fn stream_with_a_slot_holder(dir: &StreamDir, name: &str) -> (Stream, std::process::Child) {
    let w = Stream::create(
        name,
        &StreamSpec::new(&[1], Datatype::U8)
            .semaphores(1)
            .dir(dir.path()),
    )
    .unwrap();
    let holder = spawn_child("child", "hold_slot", dir.path(), &[("STREAM", name.into())]);
    eventually("the holder to register", 60, || {
        w.registered_readers().len() == 1
    });
    (w, holder)
}

#[test]
fn a_killed_readers_slot_is_reclaimed() {
    let dir = StreamDir::new("xp-slot");
    let (w, mut holder) = stream_with_a_slot_holder(&dir, "slot");
    assert!(
        matches!(w.reader(), Err(Error::NoFreeSlot { .. })),
        "a live holder keeps its slot"
    );
    kill(&mut holder);
    let r = w.reader().unwrap();
    assert_eq!(r.slot(), Some(0));
    assert_eq!(w.registered_readers(), vec![(0, std::process::id() as i32)]);
}

#[test]
fn a_legacy_wait_slot_claim_never_shares_a_native_readers_slot() {
    let dir = StreamDir::new("legacy-slot");
    let mut w = Stream::create(
        "ls",
        &StreamSpec::new(&[4], Datatype::U8)
            .semaphores(3)
            .dir(dir.path()),
    )
    .unwrap();
    let mut r = w.reader().unwrap();
    assert_eq!(r.slot(), Some(0));
    assert_eq!(
        w.claimed_wait_slot(),
        None,
        "the reader's slot is not a legacy claim"
    );
    let legacy = w.claim_wait_slot(None);
    assert_eq!(legacy, Some(1), "the legacy claim takes a slot of its own");
    assert_eq!(w.claim_wait_slot(None), legacy, "and keeps it");
    w.write_frame(&[1u8; 4]).unwrap();
    assert!(
        w.semaphore(1).unwrap().try_wait(),
        "the legacy waiter's post"
    );
    assert_eq!(r.wait_timeout(Duration::from_secs(10)).unwrap(), 1);
    drop(r);
    assert_eq!(
        w.claimed_wait_slot(),
        legacy,
        "the reader's release leaves the claim alone"
    );
}

#[test]
fn a_legacy_claim_of_a_killed_readers_slot_stays_this_processs() {
    let dir = StreamDir::new("legacy-killed");
    let (w, mut holder) = stream_with_a_slot_holder(&dir, "lk");
    kill(&mut holder);
    // The killed reader's marks are still on the slot; the claim clears them.
    assert_eq!(w.claim_wait_slot(None), Some(0));
    assert_eq!(w.claimed_wait_slot(), Some(0));
    assert_eq!(w.claim_wait_slot(None), Some(0));
}

#[test]
fn a_writer_killed_mid_frame_is_reported_dead_and_can_be_taken_over() {
    let dir = StreamDir::new("xp-died");
    let mut w = Stream::create(
        "died",
        &StreamSpec::new(&[SIDE, SIDE], Datatype::U32).dir(dir.path()),
    )
    .unwrap();
    w.write_frame(&frame(1)).unwrap();
    let (mut writer, pid) = child_holding_the_flag(&dir, "die_mid_write", &w);
    assert_eq!(w.metadata_snapshot().owner_pid, 0, "ownerPID is never ours");
    kill(&mut writer);

    let mut r = Stream::open_in(dir.path(), "died").unwrap();
    r.set_read_timeout(Duration::from_secs(30));
    let mut px = vec![0u32; (SIDE * SIDE) as usize];
    match r.read_into(&mut px) {
        Err(Error::WriterDied { writer }) => assert_eq!(writer, pid),
        other => panic!("expected WriterDied, got {other:?}"),
    }
    assert!(matches!(
        r.busy_wait_for_no_write(Duration::from_secs(30)),
        Err(Error::WriterDied { .. })
    ));
    let mut g = r.recover_writer(false).unwrap();
    g.copy_from(&frame(2)).unwrap();
    assert_eq!(g.commit().unwrap(), 2);
    assert_eq!(r.read_into(&mut px).unwrap(), 2);
    assert!(check(&px));
}

/// A frame this process abandoned is forced by another process, which then dies mid-frame (the
/// ticket is still the one of our abandon record). Our `recover_writer(false)` takes the flag
/// over, and the record goes with it: no other handle of ours adopts the flag the recoverer is
/// writing under (before, a second handle got a second write guard).
#[test]
fn recovering_our_abandoned_flag_from_a_dead_forcer_leaves_nothing_for_another_handle() {
    let dir = StreamDir::new("xp-forced-abandon");
    let spec = StreamSpec::new(&[SIDE, SIDE], Datatype::U32).dir(dir.path());
    let mut abandoner = Stream::create("forced", &spec).unwrap();
    drop(abandoner.write().unwrap()); // abandoned: recorded in this process
    let (mut child, _) = child_holding_the_flag(&dir, "force_and_die_mid_write", &abandoner);
    kill(&mut child);

    let me = std::process::id() as i32;
    let mut recoverer = Stream::open_in(dir.path(), "forced").unwrap();
    let mut g = recoverer
        .recover_writer(false)
        .expect("the forcer died mid-frame");
    let mut second = Stream::open_in(dir.path(), "forced").unwrap();
    match second.write() {
        Err(Error::WriterBusy { writer }) => assert_eq!(writer, me),
        Err(e) => panic!("expected WriterBusy, got {e}"),
        Ok(_) => panic!("two write guards in one process"),
    }
    g.copy_from(&frame(1)).unwrap();
    assert_eq!(g.commit().unwrap(), 1);
    assert_eq!(second.write_frame(&frame(2)).unwrap(), 2);
    let mut px = vec![0u32; (SIDE * SIDE) as usize];
    assert_eq!(abandoner.read_into(&mut px).unwrap(), 2);
    assert!(check(&px));
}

/// A killed child that nobody reaps stays a zombie (common in containers whose init never reaps):
/// `kill(pid, 0)` still finds it, but it runs no code. It counts as dead: its flag reads
/// `WriterDied` and can be taken over, and its reader slot is free again.
#[test]
fn a_killed_unreaped_writer_is_dead_and_its_reader_slot_is_reclaimed() {
    let dir = StreamDir::new("xp-zombie");
    let spec = StreamSpec::new(&[SIDE, SIDE], Datatype::U32)
        .semaphores(1)
        .dir(dir.path());
    let mut w = Stream::create("zombie", &spec).unwrap();
    let mut child = spawn_child(
        "child",
        "read_and_die_mid_write",
        dir.path(),
        &[("STREAM", "zombie".into())],
    );
    let pid = child.id() as i32;
    eventually("the child to register and claim the flag", 60, || {
        w.metadata_snapshot().claim_pid == pid && w.registered_readers() == [(0, pid)]
    });
    child.kill().unwrap(); // SIGKILL, and no wait: a zombie until the end of the test
    eventually("the child to become a zombie", 60, || {
        // "PID (comm) Z ...": state Z once the kernel has killed it.
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    });

    let mut px = vec![0u32; (SIDE * SIDE) as usize];
    w.set_read_timeout(Duration::from_secs(30));
    match w.read_into(&mut px) {
        Err(Error::WriterDied { writer }) => assert_eq!(writer, pid),
        other => panic!("expected WriterDied for the zombie, got {other:?}"),
    }
    let r = w.reader().expect("the zombie's slot is free");
    assert_eq!(r.slot(), Some(0));
    let mut g = w.recover_writer(false).unwrap();
    g.copy_from(&frame(1)).unwrap();
    assert_eq!(g.commit().unwrap(), 1);
    child.wait().unwrap();
}

/// One writer, three reader processes, checksummed frames of three sizes (8², 64², 256² u32):
/// no torn frame accepted, `cnt0` never goes backwards. `cargo test` runs a short version;
/// `cargo xtask ci` runs 100 000 frames per size in release (`SHMIM_STRESS_FRAMES`; the 256²
/// stream gets a tenth of them).
#[test]
fn readers_in_other_processes_never_accept_a_torn_frame() {
    let frames: u64 = count_from_env("SHMIM_STRESS_FRAMES", 2000);
    for (side, frames) in [(8u32, frames), (SIDE, frames), (256, frames / 10)] {
        let dir = StreamDir::new("xp-stress");
        let spec = StreamSpec::new(&[side, side], Datatype::U32)
            .semaphores(4)
            .dir(dir.path());
        let w = Stream::create("stress", &spec).unwrap();
        let env = [
            ("STREAM", "stress".to_string()),
            ("FRAMES", frames.to_string()),
            ("SIDE", side.to_string()),
        ];
        let readers: Vec<_> = (0..3)
            .map(|_| spawn_child("child", "reader", dir.path(), &env))
            .collect();
        eventually("three readers to register", 60, || {
            w.registered_readers().len() == 3
        });
        let writer = spawn_child("child", "writer", dir.path(), &env);
        expect_success(writer);
        for r in readers {
            expect_success(r);
        }
    }
}

/// A legacy writer holding the flag (it claims nothing) after a shmim writer that has since
/// exited: readers report it stuck, never dead, and no one takes the flag from it.
#[test]
fn a_legacy_writer_after_a_dead_shmim_writer_is_stuck_not_dead() {
    let dir = StreamDir::new("xp-legacy-owner");
    let spec = StreamSpec::new(&[SIDE, SIDE], Datatype::U32).dir(dir.path());
    let mut r = Stream::create("legacy", &spec).unwrap();
    let env = [
        ("STREAM", "legacy".to_string()),
        ("FRAMES", "1".to_string()),
    ];
    expect_success(spawn_child("child", "writer", dir.path(), &env));
    assert_eq!(
        r.metadata().unwrap().claim_pid,
        0,
        "the exited writer's commit cleared its claim"
    );
    // The legacy idiom `im.md->write = 1;`, done by another process through the file.
    std::os::unix::fs::FileExt::write_all_at(
        &std::fs::OpenOptions::new()
            .write(true)
            .open(dir.file("legacy"))
            .unwrap(),
        &[1],
        288,
    )
    .unwrap();
    r.set_read_timeout(Duration::from_millis(20));
    let mut px = vec![0u32; (SIDE * SIDE) as usize];
    assert!(matches!(
        r.read_into(&mut px),
        Err(Error::WriterStuck { writer: 0, .. })
    ));
    assert!(matches!(
        r.recover_writer(false),
        Err(Error::WriterBusy { .. })
    ));
}
