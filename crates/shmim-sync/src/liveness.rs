//! Is a process alive?
//!
//! `kill(pid, 0)` answers "does a process with this PID exist (and may we signal it)". It also
//! succeeds on a **zombie**: a process that has exited but whose parent has not reaped it yet
//! (common in containers whose init never reaps). A zombie runs no code and will never clear a
//! flag or release a slot, so when `kill` says "exists" we read the process state in
//! `/proc/PID/stat`, and `Z` (zombie) or `X` (dead, being reaped) there makes the process
//! [`Liveness::Dead`] — **if no other thread of it runs**.
//!
//! That last condition matters. `/proc/PID/stat` describes the *thread-group leader*, the
//! process's main thread. When the main thread of a multi-threaded process ends by itself
//! (`pthread_exit` in C, or the raw `exit` system call) while other threads go on, the kernel
//! shows the leader as `Z` although the process is alive and its other threads still write
//! frames, hold locks, own slots. So a `Z`/`X` leader counts as dead only when the `Threads:`
//! line of `/proc/PID/status` says the leader is the only thread left (1; a process whose last
//! thread has exited keeps its zombie leader, and only it, until it is reaped). Anything else,
//! or a status we cannot read, is alive: the safe direction, since "dead" lets others take
//! over what the process holds. Both files are read only when the leader is a zombie, so a live
//! process costs one `kill` and one read of `/proc/PID/stat`, as before.
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
    /// No process has this PID, or it has exited and is not reaped yet (a zombie: its main
    /// thread is a zombie and no other thread of it is left).
    Dead,
    /// The check failed for another reason.
    Unknown,
}

/// Checks `pid` with `kill(pid, 0)`, then `/proc/PID/stat` (and, for a zombie leader,
/// `/proc/PID/status`) for a process that has exited.
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
            if has_exited(pid) {
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
/// a zombie with no thread left).
pub fn is_dead(pid: i32) -> bool {
    check(pid) == Liveness::Dead
}

/// Whether the process `pid` has exited but not been reaped: its leader is a zombie (`Z`) or
/// being reaped (`X`) in `/proc/PID/stat`, *and* no other thread of it is left (`Threads:` of
/// `/proc/PID/status` at most 1). False when a file cannot be read (no `/proc`, or the process
/// vanished meanwhile: the caller's `kill` already said it existed, and a vanished process is
/// caught by the next check).
fn has_exited(pid: i32) -> bool {
    // 512 bytes hold the state: comm is at most 64 bytes.
    let mut stat = [0u8; 512];
    let leader_exited = read_proc(pid, "stat", &mut stat)
        .and_then(state_of_stat)
        .is_some_and(|s| s == b'Z' || s == b'X');
    leader_exited && only_the_leader_is_left(pid)
}

/// Whether `/proc/PID/status` counts one thread (the zombie leader) or none. Cold: asked only
/// about a zombie leader.
#[cold]
fn only_the_leader_is_left(pid: i32) -> bool {
    let mut status = [0u8; 4096];
    read_proc(pid, "status", &mut status)
        .and_then(threads_of_status)
        .is_some_and(|threads| threads <= 1)
}

/// The start of `/proc/PID/<file>`, read into `buf` (one `read`: the kernel fills it from a
/// single snapshot of the process).
fn read_proc<'b>(pid: i32, file: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let mut f = std::fs::File::open(format!("/proc/{pid}/{file}")).ok()?;
    let n = f.read(buf).ok()?;
    Some(&buf[..n])
}

/// The `Threads:` count of a `/proc/PID/status` text. The command name is the only field a
/// process chooses, and the kernel escapes it there (a newline in it is written `\n`), so a line
/// that starts with `Threads:` is the kernel's.
fn threads_of_status(status: &[u8]) -> Option<u32> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Threads:"))?;
    std::str::from_utf8(line).ok()?.trim().parse().ok()
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
    fn the_thread_count_is_the_kernels_threads_line() {
        let status = b"Name:\tzl\nState:\tZ (zombie)\nTgid:\t42\nThreads:\t2\nSigQ:\t0/1\n";
        assert_eq!(threads_of_status(status), Some(2));
        assert_eq!(threads_of_status(b"Threads:\t1\n"), Some(1));
        // A command name holding the word is escaped by the kernel: it is not a line of its own.
        assert_eq!(
            threads_of_status(b"Name:\tx\\nThreads:\t1\nThreads:\t3\n"),
            Some(3)
        );
        assert_eq!(threads_of_status(b"Name:\tx\nState:\tZ\n"), None);
        assert_eq!(threads_of_status(b"Threads:\tmany\n"), None);
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
