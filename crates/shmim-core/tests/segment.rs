//! Shared structs in named segments: typed, locked, robust when a holder dies, refusing the old
//! format, and never judging a holder outside the creator's PID namespace.

mod common;

use std::os::unix::fs::FileExt;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use common::{StreamDir, arg, eventually, role, spawn_child};
use shmim_core::{Error, Segment, SegmentMismatch};
use shmim_sync::lock::LockError;

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
                Err(Error::Lock(LockError::Timeout {
                    unjudged: false,
                    ..
                }))
            ));
        });
    });
    assert!(
        matches!(a.lock(), Err(Error::Lock(LockError::Deadlock))),
        "not recursive, even through another handle: the holder is told, not deadlocked"
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
    g.mark_consistent();
    drop(g);
    let g = seg.lock().unwrap();
    assert!(!g.previous_owner_died());
    assert_eq!(g.dirty, 0);
}

#[test]
fn a_thread_that_ends_holding_the_lock_leaves_it_owner_died() {
    let dir = StreamDir::new("seg-leak");
    let seg = Segment::create(dir.path(), "params", &Params::zeroed()).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| std::mem::forget(seg.lock().unwrap()));
    });
    let mut g = seg.lock_timeout(Duration::from_secs(30)).unwrap();
    assert!(g.previous_owner_died());
    g.mark_consistent();
}

#[test]
fn force_lock_never_gives_a_second_guard_in_the_process_that_holds_the_lock() {
    let dir = StreamDir::new("seg-force");
    let seg = Segment::create(dir.path(), "params", &Params::zeroed()).unwrap();
    let other_handle = Segment::<Params>::open(dir.path(), "params").unwrap();
    let mut held = seg.lock().unwrap();
    // The calling thread holds it: through this handle and through another.
    for handle in [&seg, &other_handle] {
        assert!(matches!(
            handle.force_lock(),
            Err(Error::Lock(LockError::Deadlock))
        ));
    }
    // Another thread of this process.
    std::thread::scope(|s| {
        s.spawn(|| match other_handle.force_lock() {
            Err(Error::Lock(LockError::HeldInThisProcess { tid })) => assert_ne!(tid, 0),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("two guards of one value in one process"),
        });
    });
    held.loops = 1;
    drop(held);
    let g = seg.force_lock().unwrap();
    assert!(g.previous_owner_died(), "a forced lock says so");
    assert_eq!(g.loops, 1);
}

#[test]
fn relocking_from_the_holding_thread_is_refused_even_where_the_namespace_is_unknown() {
    let dir = StreamDir::new("seg-relock-ns");
    Segment::create(dir.path(), "params", &Params::zeroed()).unwrap();
    // A creator that could not read /proc/self/ns/pid records 0: nobody is "home".
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("params.seg.shm"))
        .unwrap()
        .write_all_at(&0u64.to_ne_bytes(), 24)
        .unwrap();
    let seg = Segment::<Params>::open(dir.path(), "params").unwrap();
    assert_eq!(seg.pid_namespace(), 0);
    let _held = seg.lock().unwrap();
    // A watchdog, not a bound: the answer is immediate (before the fix: a timeout here, and
    // `lock()` below hung forever).
    assert!(matches!(
        seg.lock_timeout(Duration::from_secs(10)),
        Err(Error::Lock(LockError::Deadlock))
    ));
    assert!(matches!(seg.lock(), Err(Error::Lock(LockError::Deadlock))));
}

#[test]
fn a_thread_that_panics_mid_update_leaves_the_next_locker_told() {
    let dir = StreamDir::new("seg-panic");
    let seg = Segment::create(dir.path(), "params", &Params::zeroed()).unwrap();
    std::thread::scope(|s| {
        let result = s
            .spawn(|| {
                let mut g = seg.lock().unwrap();
                g.dirty = 1;
                panic!("a bug in the middle of the update");
            })
            .join();
        assert!(result.is_err());
    });
    let mut g = seg.lock_timeout(Duration::from_secs(30)).unwrap();
    assert!(g.previous_owner_died(), "the half update is news");
    assert_eq!(g.dirty, 1);
    g.dirty = 0;
    g.mark_consistent();
}

#[test]
fn a_segment_of_the_old_format_is_refused_with_a_clear_error() {
    let dir = StreamDir::new("seg-v1");
    // Version 1: a glibc robust mutex at offset 16.
    let mut file = vec![0u8; 64 + 24];
    file[..8].copy_from_slice(b"SHMIMSEG");
    file[8..12].copy_from_slice(&1u32.to_ne_bytes());
    file[12..16].copy_from_slice(&24u32.to_ne_bytes());
    std::fs::write(dir.path().join("old.seg.shm"), &file).unwrap();
    match Segment::<Params>::open(dir.path(), "old") {
        Err(
            e @ Error::Segment {
                check: SegmentMismatch::Version { found: 1 },
                ..
            },
        ) => assert!(e.to_string().contains("re-create"), "{e}"),
        other => panic!("expected a version error, got {:?}", other.err()),
    }
}

/// The PID of a process that existed and is gone (reaped).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Plants a lock word naming `pid` (thread `pid`) as the holder of segment `name`.
fn plant_holder(dir: &StreamDir, name: &str, pid: u32) {
    let word = u64::from(pid) | (u64::from(pid) << 32);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join(format!("{name}.seg.shm")))
        .unwrap();
    f.write_all_at(&word.to_ne_bytes(), 16).unwrap();
}

#[test]
fn a_dead_holder_is_taken_over_only_within_the_creators_pid_namespace() {
    let dir = StreamDir::new("seg-ns");
    Segment::create(dir.path(), "home", &Params::zeroed()).unwrap();
    Segment::create(dir.path(), "away", &Params::zeroed()).unwrap();
    let dead = dead_pid();
    // Created here: the dead holder is judged dead and taken over.
    plant_holder(&dir, "home", dead);
    let home = Segment::<Params>::open(dir.path(), "home").unwrap();
    assert_ne!(home.pid_namespace(), 0);
    assert!(home.try_lock().unwrap().unwrap().previous_owner_died());
    // A header recording another namespace (crafted): this process is a stranger there, the PID
    // means nothing to it, so it waits, times out, and can only force.
    plant_holder(&dir, "away", dead);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("away.seg.shm"))
        .unwrap();
    f.write_all_at(&(home.pid_namespace() ^ 1).to_ne_bytes(), 24)
        .unwrap();
    let away = Segment::<Params>::open(dir.path(), "away").unwrap();
    match away.lock_timeout(Duration::from_millis(50)) {
        Err(
            e @ Error::Lock(LockError::Timeout {
                unjudged: true,
                owner,
                ..
            }),
        ) => {
            assert_eq!(owner, dead);
            assert!(e.to_string().contains("force"), "{e}");
        }
        other => panic!("expected an unjudged timeout, got {:?}", other.err()),
    }
    let mut g = away.force_lock().unwrap();
    assert!(g.previous_owner_died());
    g.mark_consistent();
}

/// Address ranges mapped in this process (`/proc/self/maps`).
fn mapped_ranges() -> Vec<(u64, u64)> {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (lo, hi) = l.split_whitespace().next()?.split_once('-')?;
            Some((
                u64::from_str_radix(lo, 16).ok()?,
                u64::from_str_radix(hi, 16).ok()?,
            ))
        })
        .collect()
}

#[test]
fn a_held_lock_leaves_no_address_of_this_process_in_the_file() {
    let dir = StreamDir::new("seg-leak-addr");
    let seg = Segment::create(dir.path(), "params", &Params::zeroed()).unwrap();
    let other = Segment::create(dir.path(), "other", &Params::zeroed()).unwrap();
    // Two held locks: a robust pthread mutex would link them into this thread's robust list,
    // through pointers stored in the shared files.
    let _g = seg.lock().unwrap();
    let _h = other.lock().unwrap();
    let maps = mapped_ranges();
    for name in ["params", "other"] {
        let header = std::fs::read(dir.path().join(format!("{name}.seg.shm"))).unwrap();
        for (i, w) in header[16..64].chunks_exact(8).enumerate() {
            let v = u64::from_ne_bytes(w.try_into().unwrap());
            assert!(
                !maps.iter().any(|&(lo, hi)| (lo..hi).contains(&v)),
                "{name}: header word at {} holds {v:#x}, an address of this process",
                16 + 8 * i
            );
        }
    }
}
