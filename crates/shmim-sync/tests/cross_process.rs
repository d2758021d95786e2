//! Real processes sharing a mapped file: semaphores wake across processes, the robust lock
//! excludes across processes, and a lock holder killed with SIGKILL hands the next locker an
//! owner-died lock it can repair.
//!
//! Children are this test binary re-executed on the `child_process_entry` test with a role in the
//! environment (see `support`). Every wait is bounded by a watchdog deadline; none asserts a
//! duration.
#![cfg(not(loom))]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use shmim_layout::SemSlot;
use shmim_sync::Field;
use shmim_sync::lock::{LockError, RobustLock};
use shmim_sync::semaphore::Semaphore;
use support::{ChildProcess, ROLE, SHM, SharedFile, wait_for};

/// Watchdog for every wait in these tests (generous: CI machines can be slow and loaded).
const WATCHDOG: Duration = Duration::from_secs(60);

// Layout of the shared file.
const SEM_A: usize = 0;
const SEM_B: usize = 32;
const LOCK: usize = 64;
/// Data protected by the lock: a counter, updated non-atomically.
const COUNTER: usize = 128;
/// 1 while someone is inside the critical section (checked by every locker).
const INSIDE: usize = 136;
/// Set by a child when it is ready (Release / Acquire through `Field`).
const READY: usize = 192;
const FILE_LEN: usize = 4096;

/// Iterations per process of the exclusion test.
const ROUNDS: u64 = 2_000;

struct Segment {
    file: SharedFile,
}

impl Segment {
    /// A new file with both semaphores and the lock initialised.
    fn create(tag: &str) -> Self {
        let file = SharedFile::create(tag, FILE_LEN);
        // SAFETY: fresh file, nobody else maps it yet; offsets are aligned (checked by `at`).
        unsafe {
            Semaphore::init(file.at(SEM_A), 0).unwrap();
            Semaphore::init(file.at(SEM_B), 0).unwrap();
            RobustLock::init(file.at(LOCK)).unwrap();
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

    fn lock(&self) -> RobustLock<'_> {
        // SAFETY: initialised by `create`; the mapping lives as long as `self`.
        unsafe { RobustLock::from_ptr(self.file.at(LOCK)) }
    }

    fn ready(&self) -> Field<'_, u32> {
        // SAFETY: aligned, inside the mapping, only accessed through this view.
        unsafe { Field::new(self.file.at(READY)) }
    }

    /// The protected counter (plain memory: only touched under the lock).
    fn counter(&self) -> *mut u64 {
        self.file.at(COUNTER)
    }

    fn inside(&self) -> *mut u32 {
        self.file.at(INSIDE)
    }

    fn spawn(&self, role: &str) -> ChildProcess {
        ChildProcess::spawn(
            &["child_process_entry", "--exact", "--nocapture"],
            role,
            self.file.path(),
        )
    }

    /// One locked increment, checking that nobody else is inside.
    fn locked_increment(&self) {
        let guard = self
            .lock()
            .lock_timeout(WATCHDOG)
            .unwrap()
            .expect("watchdog: lock not acquired");
        assert!(!guard.owner_died());
        // SAFETY: the lock is held, so this process is the only one touching the protected
        // words; lock/unlock order these accesses with those of the previous and next holder.
        unsafe {
            assert_eq!(*self.inside(), 0, "two processes inside the lock");
            *self.inside() = 1;
            let n = *self.counter();
            std::thread::yield_now();
            *self.counter() = n + 1;
            *self.inside() = 0;
        }
        drop(guard);
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
        "lock-count" => {
            seg.ready().publish(1);
            for _ in 0..ROUNDS {
                seg.locked_increment();
            }
        }
        // Take the lock, start an update, announce it, and never finish (until killed).
        "lock-hold" => {
            let guard = seg.lock().lock().unwrap();
            // SAFETY: under the lock.
            unsafe { *seg.counter() = u64::MAX };
            seg.ready().publish(1);
            while Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            drop(guard);
            panic!("watchdog: lock-hold child was never killed");
        }
        "lock-expect-unrecoverable" => {
            assert!(matches!(seg.lock().lock(), Err(LockError::NotRecoverable)));
            assert!(matches!(
                seg.lock().try_lock(),
                Err(LockError::NotRecoverable)
            ));
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

#[test]
fn the_robust_lock_excludes_across_processes() {
    let seg = Segment::create("lock-excl");
    let mut children = [seg.spawn("lock-count"), seg.spawn("lock-count")];
    let deadline = Instant::now() + WATCHDOG;
    for _ in 0..ROUNDS {
        seg.locked_increment();
    }
    for child in &mut children {
        assert!(child.wait_until(deadline).success());
    }
    let guard = seg.lock().lock().unwrap();
    // SAFETY: under the lock; the children have exited.
    assert_eq!(unsafe { *seg.counter() }, 3 * ROUNDS);
    drop(guard);
}

/// Spawns a child that takes the lock, waits until it holds it, and SIGKILLs it.
fn kill_a_lock_holder(seg: &Segment) {
    let mut child = seg.spawn("lock-hold");
    wait_for(
        "child never took the lock",
        Instant::now() + WATCHDOG,
        || seg.ready().observe() == 1,
    );
    let status = child.kill();
    assert!(!status.success(), "killed, not exited");
}

#[test]
fn a_lock_holder_killed_with_sigkill_leaves_owner_died_and_the_next_locker_repairs() {
    let seg = Segment::create("lock-kill");
    kill_a_lock_holder(&seg);

    let mut guard = seg
        .lock()
        .lock_timeout(WATCHDOG)
        .unwrap()
        .expect("watchdog: lock not handed over");
    assert!(guard.owner_died() && !guard.is_consistent());
    // SAFETY: under the lock.
    unsafe {
        assert_eq!(
            *seg.counter(),
            u64::MAX,
            "the dead holder's half update is visible"
        );
        *seg.counter() = 0; // repair
    }
    guard.mark_consistent().unwrap();
    drop(guard);

    let guard = seg.lock().try_lock().unwrap().expect("free again");
    assert!(!guard.owner_died(), "repaired: a normal lock again");
}

#[test]
fn a_locker_already_blocked_when_the_holder_is_killed_gets_owner_died() {
    let seg = Segment::create("lock-kill-blocked");
    let mut child = seg.spawn("lock-hold");
    wait_for(
        "child never took the lock",
        Instant::now() + WATCHDOG,
        || seg.ready().observe() == 1,
    );
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut guard = seg
                .lock()
                .lock_timeout(WATCHDOG)
                .unwrap()
                .expect("watchdog: not woken by the holder's death");
            let died = guard.owner_died();
            guard.mark_consistent().unwrap();
            died
        });
        // Kill while the waiter is (very likely) asleep on the lock; either way it must learn
        // that the holder died.
        std::thread::sleep(Duration::from_millis(20));
        child.kill();
        assert!(waiter.join().unwrap(), "owner death reported to the waiter");
    });
}

#[test]
fn an_owner_died_lock_left_unrepaired_is_unrecoverable_for_every_process() {
    let seg = Segment::create("lock-unrecoverable");
    kill_a_lock_holder(&seg);
    let guard = seg.lock().lock().unwrap();
    assert!(guard.owner_died());
    drop(guard); // not marked consistent
    assert!(matches!(seg.lock().lock(), Err(LockError::NotRecoverable)));
    let mut child = seg.spawn("lock-expect-unrecoverable");
    assert!(child.wait_until(Instant::now() + WATCHDOG).success());
}
