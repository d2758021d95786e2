//! Real processes sharing a mapped file: semaphores wake across processes. (The segment lock's
//! cross-process tests are in `lock_processes.rs`.)
//!
//! Children are this test binary re-executed on the `child_process_entry` test with a role in the
//! environment (see `support`). Every wait is bounded by a watchdog deadline; none asserts a
//! duration.
#![cfg(not(loom))]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use shmim_layout::SemSlot;
use shmim_sync::semaphore::Semaphore;
use support::{ChildProcess, ROLE, SHM, SharedFile, wait_for};

/// Watchdog for every wait in these tests (generous: CI machines can be slow and loaded).
const WATCHDOG: Duration = Duration::from_secs(60);

// Layout of the shared file.
const SEM_A: usize = 0;
const SEM_B: usize = 32;
const FILE_LEN: usize = 4096;

struct Segment {
    file: SharedFile,
}

impl Segment {
    /// A new file with both semaphores initialised.
    fn create(tag: &str) -> Self {
        let file = SharedFile::create(tag, FILE_LEN);
        // SAFETY: fresh file, nobody else maps it yet; offsets are aligned (checked by `at`).
        unsafe {
            Semaphore::init(file.at(SEM_A), 0).unwrap();
            Semaphore::init(file.at(SEM_B), 0).unwrap();
        }
        Self { file }
    }

    fn open(path: &Path) -> Self {
        Self {
            file: SharedFile::open(path),
        }
    }

    fn sem(&self, offset: usize) -> Semaphore<'_> {
        // SAFETY: initialised by `create`; the mapping lives as long as `self`.
        unsafe { Semaphore::from_slot(self.file.at::<SemSlot>(offset)) }
    }

    fn spawn(&self, role: &str) -> ChildProcess {
        ChildProcess::spawn(
            &["child_process_entry", "--exact", "--nocapture"],
            role,
            self.file.path(),
        )
    }
}

/// The child side. In a normal test run (no role in the environment) this test does nothing.
#[test]
fn child_process_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let seg = Segment::open(Path::new(&std::env::var_os(SHM).expect("SHM path")));
    let deadline = Instant::now() + WATCHDOG;
    match role.as_str() {
        // Block in plain sem_wait (unbounded: the parent's watchdog kills us if never woken).
        "sem-wait" => seg.sem(SEM_A).wait().unwrap(),
        // Wait until the parent sleeps on B, then wake it.
        "sem-post" => {
            wait_for("parent never blocked", deadline, || {
                seg.sem(SEM_B).waiters() > 0
            });
            seg.sem(SEM_B).post();
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn a_post_from_this_process_wakes_another_blocked_in_sem_wait() {
    let seg = Segment::create("sem-wait");
    let mut child = seg.spawn("sem-wait");
    let deadline = Instant::now() + WATCHDOG;
    // Post only once the child sleeps in the kernel, so the wake crosses processes.
    wait_for("child never blocked in sem_wait", deadline, || {
        seg.sem(SEM_A).waiters() > 0
    });
    seg.sem(SEM_A).post();
    assert!(child.wait_until(deadline).success());
    assert_eq!(seg.sem(SEM_A).value(), 0, "the child took the token");
}

#[test]
fn a_post_from_another_process_wakes_this_one_in_wait_timeout() {
    let seg = Segment::create("sem-timeout");
    let mut child = seg.spawn("sem-post");
    let woken = seg.sem(SEM_B).wait_timeout(WATCHDOG).unwrap();
    assert!(woken, "watchdog: no post from the child");
    assert!(child.wait_until(Instant::now() + WATCHDOG).success());
}
