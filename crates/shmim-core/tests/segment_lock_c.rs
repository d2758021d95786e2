//! The segment lock between Rust and C processes: `ImageStreamIO_lock.h` (static inline C,
//! compiled here with the system C compiler) and `Segment` exclude each other on one word, and
//! either side learns when the other died holding the lock.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use common::{StreamDir, arg, eventually, role, spawn_child};
use shmim_core::Segment;

/// The value the C program (`tests/c/segment_lock.c`) declares too.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
struct Shared {
    counter: u64,
    inside: u64,
}

const ROUNDS: u64 = 1_000;
const WATCHDOG: Duration = Duration::from_secs(60);

/// The C program, compiled once per test binary.
fn c_program() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("segment_lock");
        let status = Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()))
            .args(["-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(here.join("../shmim-capi/include"))
            .arg(here.join("tests/c/segment_lock.c"))
            .arg("-o")
            .arg(&out)
            .status()
            .expect("a C compiler (cc)");
        assert!(status.success(), "segment_lock.c compiles");
        out
    })
}

fn run_c(seg: &Path, args: &[&str]) -> std::process::Child {
    Command::new(c_program())
        .arg(seg)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

/// One locked increment from Rust, checking that nobody (C or Rust) is inside.
fn locked_increment(seg: &Segment<Shared>) {
    let mut g = seg.lock_timeout(WATCHDOG).unwrap();
    assert!(!g.previous_owner_died());
    assert_eq!(g.inside, 0, "two parties inside the lock");
    g.inside = 1;
    let n = g.counter;
    std::thread::yield_now();
    g.counter = n + 1;
    g.inside = 0;
}

#[test]
fn child() {
    let Some(role) = role() else { return };
    assert_eq!(role, "rust-hold");
    let dir = PathBuf::from(arg("MILK_SHM_DIR"));
    let seg = Segment::<Shared>::open(&dir, "shared").unwrap();
    let mut g = seg.lock().unwrap();
    g.counter = u64::MAX;
    std::thread::sleep(WATCHDOG);
    panic!("watchdog: the Rust holder was never killed");
}

fn new_segment(tag: &str) -> (StreamDir, Segment<Shared>, PathBuf) {
    let dir = StreamDir::new(tag);
    let seg = Segment::create(dir.path(), "shared", &Shared::default()).unwrap();
    let path = seg.path().to_owned();
    (dir, seg, path)
}

#[test]
fn c_and_rust_processes_exclude_each_other() {
    let (_dir, seg, path) = new_segment("seg-c-excl");
    let rounds = ROUNDS.to_string();
    let children = [
        run_c(&path, &["count", &rounds]),
        run_c(&path, &["count", &rounds]),
    ];
    for _ in 0..ROUNDS {
        locked_increment(&seg);
    }
    for mut c in children {
        assert!(c.wait().unwrap().success(), "the C counter succeeded");
    }
    assert_eq!(seg.lock().unwrap().counter, 3 * ROUNDS);
}

#[test]
fn the_c_functions_refuse_relocking_tell_owner_death_and_take_stale_records() {
    let (_dir, _seg, path) = new_segment("seg-c-self");
    assert!(run_c(&path, &["selftest"]).wait().unwrap().success());
}

#[test]
fn rust_learns_that_a_c_holder_was_killed() {
    let (_dir, seg, path) = new_segment("seg-c-killed");
    let mut holder = run_c(&path, &["hold"]);
    eventually("the C holder to take the lock", 60, || {
        seg.try_lock().unwrap().is_none()
    });
    holder.kill().unwrap();
    holder.wait().unwrap();
    let mut g = seg.lock_timeout(WATCHDOG).unwrap();
    assert!(g.previous_owner_died());
    assert_eq!(g.counter, u64::MAX, "the C holder's half update");
    g.counter = 0;
    g.mark_consistent();
    drop(g);
    assert!(!seg.lock().unwrap().previous_owner_died());
}

#[test]
fn c_learns_that_a_rust_holder_was_killed() {
    let (dir, seg, path) = new_segment("seg-rust-killed");
    let mut holder = spawn_child(
        "child",
        "rust-hold",
        dir.path(),
        &[("MILK_SHM_DIR", dir.path().display().to_string())],
    );
    eventually("the Rust holder to take the lock", 60, || {
        seg.try_lock().unwrap().is_none()
    });
    holder.kill().unwrap();
    holder.wait().unwrap();
    // The C side takes it over, checks the news and the half update, repairs.
    assert!(run_c(&path, &["expect-died"]).wait().unwrap().success());
    let g = seg.lock().unwrap();
    assert!(!g.previous_owner_died(), "repaired by C");
    assert_eq!(g.counter, 0);
}
