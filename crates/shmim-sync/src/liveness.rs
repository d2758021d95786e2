//! Is a process alive?
//!
//! `kill(pid, 0)` answers "does a process with this PID exist (and may we signal it)". Limits,
//! which callers document where they rely on this:
//! * **PID reuse**: a dead process's PID can be given to a new, unrelated process; we then see it
//!   as alive. The stream layout has no room for a stronger identity (start time, pidfd), so a
//!   stale slot may stay taken until the PID is reused again or the slot is freed by hand.
//! * **PID namespaces**: PIDs in the file are those of the writer's namespace.
//! * `EPERM` means the process exists but belongs to another user: alive.
//!
//! A PID ≤ 0 is "no process" and never reaches `kill` (0 and negative values address process
//! groups).

use rustix::io::Errno;
use rustix::process::Pid;

/// What is known about a PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The value is ≤ 0: no process (free slot, unset owner).
    NoProcess,
    /// A process with this PID exists.
    Alive,
    /// No process has this PID.
    Dead,
    /// The check failed for another reason.
    Unknown,
}

/// Checks `pid` with `kill(pid, 0)`.
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
        Ok(()) => Liveness::Alive,
        Err(Errno::PERM) => Liveness::Alive,
        Err(Errno::SRCH) => Liveness::Dead,
        Err(_) => Liveness::Unknown,
    }
}

/// True only when `pid` names a process that is known not to exist.
pub fn is_dead(pid: i32) -> bool {
    check(pid) == Liveness::Dead
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
}
