//! Shared structs in named segments: typed, locked, robust when a holder dies.

mod common;

use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use common::{StreamDir, arg, eventually, role, spawn_child};
use shmim_core::{Error, Segment, SegmentMismatch};

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
struct Params {
    gain: f64,
    loops: u64,
    /// Set while a holder is mid-update; a repaired value has it clear.
    dirty: u32,
    pid: u32,
}

#[test]
fn child() {
    let Some(role) = role() else { return };
    let dir = std::path::PathBuf::from(arg("MILK_SHM_DIR"));
    let seg = Segment::<Params>::open(&dir, "params").unwrap();
    match role.as_str() {
        "die_holding" => {
            let mut g = seg.lock().unwrap();
            g.dirty = 1;
            g.pid = std::process::id();
            std::thread::sleep(Duration::from_secs(600));
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn a_value_round_trips_through_the_lock() {
    let dir = StreamDir::new("seg");
    let a = Segment::create(
        dir.path(),
        "params",
        &Params {
            gain: 0.5,
            loops: 0,
            dirty: 0,
            pid: 0,
        },
    )
    .unwrap();
    let b = Segment::<Params>::open(dir.path(), "params").unwrap();
    a.lock().unwrap().loops += 7;
    let g = b.lock().unwrap();
    assert_eq!((g.gain, g.loops), (0.5, 7));
    std::thread::scope(|t| {
        t.spawn(|| {
            assert!(a.try_lock().unwrap().is_none(), "held by b");
            assert!(matches!(
                a.lock_timeout(Duration::from_millis(5)),
                Err(Error::Timeout(_))
            ));
        });
    });
    assert!(
        matches!(b.lock(), Err(Error::Lock(_))),
        "not recursive: the holder is told, not deadlocked"
    );
    drop(g);
    assert!(a.try_lock().unwrap().is_some());
}

#[test]
fn opening_with_the_wrong_type_is_refused() {
    let dir = StreamDir::new("seg-type");
    Segment::create(dir.path(), "params", &Params::zeroed()).unwrap();
    match Segment::<[u8; 3]>::open(dir.path(), "params") {
        Err(Error::Segment {
            check:
                SegmentMismatch::Size {
                    expected: 3,
                    found: 24,
                },
            ..
        }) => {}
        other => panic!("expected a size mismatch, got {:?}", other.err()),
    }
    std::fs::write(
        dir.path().join("junk.seg.shm"),
        b"not a segment at all, really",
    )
    .unwrap();
    assert!(matches!(
        Segment::<Params>::open(dir.path(), "junk"),
        Err(Error::Segment {
            check: SegmentMismatch::Magic,
            ..
        })
    ));
}

#[test]
fn the_next_locker_is_told_when_a_holder_died() {
    let dir = StreamDir::new("seg-died");
    let seg = Segment::create(dir.path(), "params", &Params::zeroed()).unwrap();
    let mut holder = spawn_child(
        "child",
        "die_holding",
        dir.path(),
        &[("MILK_SHM_DIR", dir.path().display().to_string())],
    );
    let pid = holder.id();
    eventually("the child to hold the lock", 60, || {
        seg.try_lock().unwrap().is_none()
    });
    holder.kill().unwrap();
    holder.wait().unwrap();

    let mut g = seg.lock_timeout(Duration::from_secs(30)).unwrap();
    assert!(g.previous_owner_died());
    assert_eq!(
        (g.dirty, g.pid),
        (1, pid),
        "the dead holder's half update is visible"
    );
    g.dirty = 0;
    g.mark_consistent().unwrap();
    drop(g);
    let g = seg.lock().unwrap();
    assert!(!g.previous_owner_died());
    assert_eq!(g.dirty, 0);
}

#[test]
fn a_leaked_guard_keeps_the_mapping_alive_after_the_segment_is_dropped() {
    let dir = StreamDir::new("seg-leak");
    let a = Segment::create(dir.path(), "params", &Params::zeroed()).unwrap();
    std::mem::forget(a.lock().unwrap());
    drop(a);
    // glibc still lists the leaked, locked mutex among this thread's robust mutexes and writes
    // through it on the next robust lock; it must still be mapped.
    let b = Segment::create(dir.path(), "other", &Params::zeroed()).unwrap();
    let mut g = b.lock().unwrap();
    g.loops = 1;
    assert_eq!(g.loops, 1);
}
