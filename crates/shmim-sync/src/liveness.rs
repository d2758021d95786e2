//! Is a process alive?
//!
//! `kill(pid, 0)` answers "does a process with this PID exist (and may we signal it)". It also
//! succeeds on a **zombie**: a process that has exited but whose parent has not reaped it yet
//! (common in containers whose init never reaps). A zombie runs no code and will never clear a
//! flag or release a slot, so when `kill` says "exists" we read the process state in
//! `/proc/PID/stat` and count `Z` (zombie) and `X` (dead, being reaped) as [`Liveness::Dead`].
//!
//! Limits, which callers document where they rely on this:
//! * **PID reuse**: a dead process's PID can be given to a new, unrelated process; we then see it
//!   as alive. The stream layout has no room for a stronger identity (start time, pidfd), so a
//!   stale slot may stay taken until the PID is reused again or the slot is freed by hand.
//! * **PID namespaces**: PIDs in the file are those of the writer's namespace; every party of a
//!   stream is assumed to share one PID namespace (as milk assumes). `/proc` is the one mounted
//!   for our namespace.
//! * `EPERM` means the process exists but belongs to another user: alive (its `/proc/PID/stat`
//!   is world-readable, so a zombie of another user is still recognised).
//! * Without `/proc` (or when the read fails) an existing process counts as alive.
//!
//! A PID ≤ 0 is "no process" and never reaches `kill` (0 and negative values address process
//! groups).

use std::io::Read;

use rustix::io::Errno;
use rustix::process::Pid;

/// What is known about a PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The value is ≤ 0: no process (free slot, unset owner).
    NoProcess,
    /// A process with this PID exists and is not a zombie.
    Alive,
    /// No process has this PID, or it is a zombie (exited, not yet reaped).
    Dead,
    /// The check failed for another reason.
    Unknown,
}

/// Checks `pid` with `kill(pid, 0)`, then `/proc/PID/stat` for zombies.
pub fn check(pid: i32) -> Liveness {
    if pid <= 0 {
        return Liveness::NoProcess;
    }
    let Some(p) = Pid::from_raw(pid) else {
        return Liveness::NoProcess;
    };
    // Miri cannot call `kill`; its runs (heap streams of one process) have no other process.
    if cfg!(miri) {
        return Liveness::Unknown;
    }
    match rustix::process::test_kill_process(p) {
        Ok(()) | Err(Errno::PERM) => {
            if is_zombie(pid) {
                Liveness::Dead
            } else {
                Liveness::Alive
            }
        }
        Err(Errno::SRCH) => Liveness::Dead,
        Err(_) => Liveness::Unknown,
    }
}

/// True only when `pid` names a process that is known not to run any more (no such process, or
/// a zombie).
pub fn is_dead(pid: i32) -> bool {
    check(pid) == Liveness::Dead
}

/// Whether `/proc/PID/stat` says the process is a zombie (`Z`) or being reaped (`X`). False when
/// the file cannot be read (no `/proc`, or the process vanished meanwhile: the caller's `kill`
/// already said it existed, and a vanished process is caught by the next check).
fn is_zombie(pid: i32) -> bool {
    // "PID (comm) S ...": comm may hold spaces and parentheses, so the state is the first field
    // after the *last* ')'. 512 bytes hold the state: comm is at most 64 bytes.
    let mut buf = [0u8; 512];
    let n = match std::fs::File::open(format!("/proc/{pid}/stat")) {
        Ok(mut f) => f.read(&mut buf).unwrap_or(0),
        Err(_) => return false,
    };
    state_of_stat(&buf[..n]).is_some_and(|s| s == b'Z' || s == b'X')
}

/// The state letter of a `/proc/PID/stat` line.
fn state_of_stat(stat: &[u8]) -> Option<u8> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat.get(close + 1..)?
        .iter()
        .copied()
        .find(|b| !b.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)] // system calls (sem_*, futex, kill, getpid) are outside Miri
    fn no_process_values_never_reach_kill() {
        for pid in [0, -1, i32::MIN] {
            assert_eq!(check(pid), Liveness::NoProcess);
            assert!(!is_dead(pid));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // system calls (sem_*, futex, kill, getpid) are outside Miri
    fn we_are_alive_and_a_reaped_child_is_dead() {
        assert_eq!(check(std::process::id() as i32), Liveness::Alive);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        // The PID could in theory be reused at once; on Linux PIDs are handed out cyclically.
        assert_eq!(check(pid), Liveness::Dead);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // system calls (sem_*, futex, kill, getpid) are outside Miri
    fn a_killed_unreaped_child_is_dead() {
        let mut child = std::process::Command::new("sleep")
            .arg("600")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert_eq!(check(pid), Liveness::Alive);
        child.kill().unwrap();
        // Not reaped: the zombie stays until `wait`. Watchdog, not a performance bound.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while check(pid) != Liveness::Dead {
            assert!(std::time::Instant::now() < deadline, "zombie seen as alive");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(
            rustix::process::test_kill_process(Pid::from_raw(pid).unwrap()).is_ok(),
            "kill(pid, 0) still succeeds on the zombie"
        );
        child.wait().unwrap();
    }

    #[test]
    fn the_state_is_read_after_the_last_parenthesis_of_the_command_name() {
        assert_eq!(state_of_stat(b"42 (sleep) S 1 42"), Some(b'S'));
        assert_eq!(state_of_stat(b"42 (a) R (b) Z 1"), Some(b'Z'));
        assert_eq!(state_of_stat(b"42 (x) X"), Some(b'X'));
        assert_eq!(state_of_stat(b"garbage"), None);
        assert_eq!(state_of_stat(b"42 (x)"), None);
    }
}
