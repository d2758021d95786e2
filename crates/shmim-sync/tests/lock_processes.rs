//! The segment lock between real processes: it excludes, a holder killed with SIGKILL (reaped
//! or still a zombie) hands the next locker an owner-died lock it can repair, the news passes on
//! until someone repairs, and a holder in another PID namespace is never judged, only forced.
//!
//! Children are this test binary re-executed on `child_entry` with a role in the environment
//! (see `support`). Every wait is bounded by a watchdog deadline; none asserts a duration.
#![cfg(not(loom))]

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shmim_sync::Field;
use shmim_sync::lock::{LockError, LockId, PidLock, pid_namespace};
use support::{ChildProcess, ROLE, SHM, SharedFile, wait_for};

/// Watchdog for every wait in these tests (generous: CI machines can be slow and loaded).
const WATCHDOG: Duration = Duration::from_secs(60);

// Layout of the shared file.
const LOCK: usize = 0;
/// Data protected by the lock: a counter, updated non-atomically.
const COUNTER: usize = 64;
/// 1 while someone is inside the critical section (checked by every locker).
const INSIDE: usize = 72;
/// Set by a child when it holds the lock (Release / Acquire through `Field`).
const READY: usize = 128;
/// The PID namespace the lock belongs to (what a segment header records).
const HOME_NS: usize = 136;
const FILE_LEN: usize = 4096;

/// Iterations per process of the exclusion test.
const ROUNDS: u64 = 2_000;

struct Shared {
    file: SharedFile,
    id: LockId,
}

impl Shared {
    /// A new file with a free lock, recording this process's PID namespace.
    fn create(tag: &str) -> Self {
        let file = SharedFile::create(tag, FILE_LEN);
        // SAFETY: fresh file, nobody else maps it yet; offsets are aligned (checked by `at`).
        unsafe {
            PidLock::init(file.at(LOCK));
            Field::<u64>::new(file.at(HOME_NS)).set(pid_namespace());
        }
        Self::identified(file)
    }

    fn open(path: &Path) -> Self {
        Self::identified(SharedFile::open(path))
    }

    fn identified(file: SharedFile) -> Self {
        let meta = std::fs::metadata(file.path()).unwrap();
        let id = LockId {
            dev: meta.dev(),
            ino: meta.ino(),
            offset: LOCK as u64,
        };
        Self { file, id }
    }

    fn lock(&self) -> PidLock<'_> {
        // SAFETY: an aligned word initialised by `create`; the mapping lives as long as `self`.
        unsafe { PidLock::from_ptr(self.file.at(LOCK), self.field(HOME_NS).peek(), self.id) }
    }

    fn field(&self, offset: usize) -> Field<'_, u64> {
        // SAFETY: aligned, inside the mapping, only accessed through such views.
        unsafe { Field::new(self.file.at(offset)) }
    }

    /// The protected counter (plain memory: only touched under the lock).
    fn counter(&self) -> *mut u64 {
        self.file.at(COUNTER)
    }

    fn inside(&self) -> *mut u64 {
        self.file.at(INSIDE)
    }

    fn spawn(&self, role: &str) -> ChildProcess {
        ChildProcess::spawn(
            &["child_entry", "--exact", "--nocapture"],
            role,
            self.file.path(),
        )
    }

    /// One locked increment, checking that nobody else is inside.
    fn locked_increment(&self) {
        let guard = self
            .lock()
            .lock_timeout(WATCHDOG)
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

    /// Takes the lock, starts an update, announces it, and never finishes (until killed).
    fn hold_until_killed(&self) -> ! {
        let guard = self.lock().lock_timeout(WATCHDOG).unwrap();
        // SAFETY: under the lock.
        unsafe { *self.counter() = u64::MAX };
        self.field(READY).publish(1);
        std::thread::sleep(WATCHDOG);
        drop(guard);
        panic!("watchdog: lock holder was never killed");
    }
}

/// The child side. In a normal test run (no role in the environment) this test does nothing.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let shared = Shared::open(Path::new(&std::env::var_os(SHM).expect("SHM path")));
    match role.as_str() {
        "lock-count" => {
            for _ in 0..ROUNDS {
                shared.locked_increment();
            }
        }
        "lock-hold" => shared.hold_until_killed(),
        "lock-expect-owner-died" => {
            let guard = shared.lock().lock_timeout(WATCHDOG).unwrap();
            assert!(guard.owner_died(), "told in another process too");
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn the_lock_excludes_across_processes() {
    let shared = Shared::create("lock-excl");
    let mut children = [shared.spawn("lock-count"), shared.spawn("lock-count")];
    let deadline = Instant::now() + WATCHDOG;
    for _ in 0..ROUNDS {
        shared.locked_increment();
    }
    for child in &mut children {
        assert!(child.wait_until(deadline).success());
    }
    let guard = shared.lock().lock().unwrap();
    // SAFETY: under the lock; the children have exited.
    assert_eq!(unsafe { *shared.counter() }, 3 * ROUNDS);
    drop(guard);
}

/// Spawns a child that takes the lock and waits until it holds it.
fn spawn_holder(shared: &Shared) -> ChildProcess {
    let child = shared.spawn("lock-hold");
    wait_for(
        "child never took the lock",
        Instant::now() + WATCHDOG,
        || shared.field(READY).observe() == 1,
    );
    child
}

/// The repair every test does after an owner death: the dead holder's half update is visible,
/// the data is reset, the lock marked consistent, and the next locker is not told again.
fn repair(shared: &Shared, mut guard: shmim_sync::lock::LockGuard<'_>) {
    assert!(guard.owner_died() && !guard.is_consistent());
    // SAFETY: under the lock.
    unsafe {
        assert_eq!(*shared.counter(), u64::MAX, "the dead holder's half update");
        *shared.counter() = 0;
    }
    guard.mark_consistent();
    drop(guard);
    let guard = shared.lock().try_lock().unwrap().expect("free again");
    assert!(!guard.owner_died(), "repaired: a normal lock again");
}

#[test]
fn a_lock_holder_killed_with_sigkill_leaves_owner_died_and_the_next_locker_repairs() {
    let shared = Shared::create("lock-kill");
    let mut holder = spawn_holder(&shared);
    assert!(!holder.kill().success(), "killed, not exited");
    let guard = shared
        .lock()
        .lock_timeout(WATCHDOG)
        .expect("watchdog: lock not handed over");
    repair(&shared, guard);
}

#[test]
fn a_locker_already_waiting_when_the_holder_is_killed_gets_owner_died() {
    let shared = Shared::create("lock-kill-waiting");
    let mut holder = spawn_holder(&shared);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let mut guard = shared
                .lock()
                .lock_timeout(WATCHDOG)
                .expect("watchdog: the holder's death went unnoticed");
            let died = guard.owner_died();
            guard.mark_consistent();
            died
        });
        // Kill once the waiter sleeps on the word (or has given up looking): a dead holder
        // wakes nobody, the waiter must find out by itself.
        wait_for("the waiter to sleep", Instant::now() + WATCHDOG, || {
            shmim_sync::lock_word::Word::decode(shared.lock().raw()).waiters
        });
        holder.kill();
        assert!(waiter.join().unwrap(), "owner death reported to the waiter");
    });
}

#[test]
fn an_unrepaired_lock_tells_every_next_locker_in_any_process_until_repaired() {
    let shared = Shared::create("lock-unrepaired");
    let mut holder = spawn_holder(&shared);
    holder.kill();
    let guard = shared.lock().lock_timeout(WATCHDOG).unwrap();
    assert!(guard.owner_died());
    drop(guard); // not marked consistent
    let mut child = shared.spawn("lock-expect-owner-died");
    assert!(child.wait_until(Instant::now() + WATCHDOG).success());
    let guard = shared.lock().lock_timeout(WATCHDOG).unwrap();
    repair(&shared, guard);
}

/// Whether `pid` is a zombie now (`/proc/PID/stat` state `Z`).
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

#[test]
fn a_holder_killed_and_not_yet_reaped_counts_as_dead() {
    let shared = Shared::create("lock-zombie");
    let holder = spawn_holder(&shared);
    let pid = holder.pid();
    // SIGKILL without reaping: the holder stays a zombie until `holder` is dropped.
    // SAFETY: signalling our own child, a PID > 0.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    wait_for(
        "the holder to be a zombie",
        Instant::now() + WATCHDOG,
        || is_zombie(pid),
    );
    let guard = shared
        .lock()
        .lock_timeout(Duration::from_secs(2))
        .expect("a zombie holder is dead");
    repair(&shared, guard);
    drop(holder);
}

/// Runs this binary's `child_entry` in `role` as PID 1 of a new PID namespace (`unshare` from
/// util-linux, as root), killed with it; `None` where that is not possible here.
fn spawn_in_new_pid_namespace(shared: &Shared, role: &str) -> Option<ChildProcess> {
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "true"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    let child = Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "--"])
        .arg(std::env::current_exe().unwrap())
        .args(["child_entry", "--exact", "--nocapture"])
        .env(ROLE, role)
        .env(SHM, shared.file.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Some(ChildProcess::from_child(child))
}

#[test]
fn a_holder_in_another_pid_namespace_is_never_judged_only_forced() {
    let shared = Shared::create("lock-pidns");
    let Some(mut holder) = spawn_in_new_pid_namespace(&shared, "lock-hold") else {
        // CI runs as root: there the test must run, not pass by skipping.
        assert!(
            !rustix::process::geteuid().is_root(),
            "running as root, yet `unshare --pid --fork` failed: install util-linux"
        );
        eprintln!("SKIPPED (not root): cannot create a PID namespace here");
        return;
    };
    wait_for(
        "the namespaced child to take the lock",
        Instant::now() + WATCHDOG,
        || shared.field(READY).observe() == 1,
    );
    let word = shmim_sync::lock_word::Word::decode(shared.lock().raw());
    assert!(
        word.foreign,
        "a holder outside the namespace says so: {word:?}"
    );
    // Kill it: its PID (probably 1 inside its namespace) means nothing here, so even dead it
    // is not taken over.
    holder.kill();
    match shared.lock().lock_timeout(Duration::from_millis(200)) {
        Err(e @ LockError::Timeout { unjudged: true, .. }) => {
            assert!(e.to_string().contains("force"), "{e}");
        }
        other => panic!("expected an unjudged timeout, got {other:?}"),
    }
    let guard = shared.lock().force().expect("no thread of ours holds it");
    repair(&shared, guard);
}
