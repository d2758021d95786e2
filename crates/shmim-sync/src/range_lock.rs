//! An exclusive advisory lock on a byte range of a file, held by an *open file description*
//! (Linux OFD locks, `fcntl(F_OFD_SETLK)`).
//!
//! Why OFD locks: a classic POSIX record lock belongs to the process, so two handles of one
//! process never exclude each other and closing *any* descriptor of the file drops it; `flock`
//! locks the whole file. An OFD lock belongs to the open file description (one `open(2)`), so two
//! handles opened separately exclude each other even in one process, and the kernel drops the
//! lock when the description's last descriptor is closed — a holder killed with SIGKILL never
//! leaves it taken. Descriptors *sharing* one description (`dup`, threads using one handle) do
//! not exclude each other: callers pair the lock with an in-process mutex for that case.
//!
//! The lock is advisory: it excludes only the parties that take it.
//!
//! A `fork`ed child shares its parent's descriptions: to exclude its parent it must lock a
//! description of its own (open the file again, e.g. through `/proc/self/fd/N`). Unlocking is
//! explicit (`F_UNLCK` on drop), so a copy of the descriptor that a concurrent `fork` gave a child
//! never keeps the lock held after the guard is gone.
//!
//! Waiting ([`lock_timeout`]) spins briefly, then sleeps with growing naps (at most [`MAX_NAP`]):
//! a holder that is stopped costs its waiters a few hundred wake-ups a second, not a CPU each.
//! (`F_OFD_SETLKW` would sleep in the kernel, but only a signal can bound it.)

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use crossbeam_utils::Backoff;

/// The first sleep of a waiter once spinning is over.
const FIRST_NAP: Duration = Duration::from_micros(50);
/// The longest sleep of a waiter between two attempts.
pub const MAX_NAP: Duration = Duration::from_millis(5);

/// A held range lock; dropping it unlocks.
#[must_use = "the range is unlocked as soon as the guard is dropped"]
#[derive(Debug)]
pub struct RangeGuard<'f> {
    fd: BorrowedFd<'f>,
    start: u64,
    len: u64,
}

/// Takes the write lock on `len` bytes at `start` of the file if nobody else holds any part of
/// it: `Ok(None)` when another open file description does. `len` must be at least 1 (0 would
/// mean "to the end of the file").
pub fn try_lock(fd: BorrowedFd<'_>, start: u64, len: u64) -> io::Result<Option<RangeGuard<'_>>> {
    if len == 0 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    match set(fd, libc::F_WRLCK, start, len) {
        Ok(()) => Ok(Some(RangeGuard { fd, start, len })),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Takes the write lock on `len` bytes at `start`, waiting at most `timeout` for other open file
/// descriptions to let go (module docs): `Ok(None)` when one held it all along.
pub fn lock_timeout(
    fd: BorrowedFd<'_>,
    start: u64,
    len: u64,
    timeout: Duration,
) -> io::Result<Option<RangeGuard<'_>>> {
    let begin = Instant::now();
    let backoff = Backoff::new();
    let mut nap = FIRST_NAP;
    loop {
        if let Some(held) = try_lock(fd, start, len)? {
            return Ok(Some(held));
        }
        let waited = begin.elapsed();
        let Some(left) = timeout.checked_sub(waited).filter(|l| !l.is_zero()) else {
            return Ok(None);
        };
        if !backoff.is_completed() {
            backoff.snooze();
            continue;
        }
        std::thread::sleep(nap.min(left));
        nap = (nap * 2).min(MAX_NAP);
    }
}

/// Whether `e`, from [`try_lock`] or [`lock_timeout`], says the file system cannot keep OFD locks
/// at all (rather than "taken" or a bad descriptor): `EINVAL` (a kernel before 3.15, or a file
/// system that refuses them), `ENOLCK` (e.g. NFS mounted `nolock`), `EOPNOTSUPP`, `ENOSYS`.
pub fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS)
    )
}

impl Drop for RangeGuard<'_> {
    fn drop(&mut self) {
        // Unlocking a range we hold cannot fail on Linux except for a bad descriptor, which the
        // borrow rules out; were it to fail, closing the description would still release it.
        let _ = set(self.fd, libc::F_UNLCK, self.start, self.len);
    }
}

/// One non-blocking `fcntl(F_OFD_SETLK)`.
fn set(fd: BorrowedFd<'_>, kind: libc::c_int, start: u64, len: u64) -> io::Result<()> {
    let (Ok(l_start), Ok(l_len)) = (libc::off_t::try_from(start), libc::off_t::try_from(len))
    else {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    };
    let lock = libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start,
        l_len,
        // Must be 0 for OFD locks.
        l_pid: 0,
    };
    // SAFETY: `fd` is a valid descriptor for the borrow, and `lock` a valid `struct flock` that
    // the kernel only reads for F_OFD_SETLK.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &lock) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// Another open file description of `path`.
    fn reopen(path: &std::path::Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap()
    }

    fn scratch(tag: &str) -> (std::path::PathBuf, std::fs::File) {
        let path =
            std::env::temp_dir().join(format!("shmim-range-lock-{tag}-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        (path, file)
    }

    #[test]
    #[cfg_attr(miri, ignore)] // fcntl is outside Miri
    fn two_opens_in_one_process_exclude_each_other_on_overlapping_ranges_only() {
        let (path, a) = scratch("excl");
        let b = reopen(&path);
        let held = try_lock(a.as_fd(), 100, 50).unwrap().expect("free");
        assert!(try_lock(b.as_fd(), 120, 1).unwrap().is_none(), "overlaps");
        assert!(try_lock(b.as_fd(), 150, 10).unwrap().is_some(), "disjoint");
        drop(held);
        assert!(try_lock(b.as_fd(), 100, 50).unwrap().is_some(), "released");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    #[cfg_attr(miri, ignore)] // fcntl is outside Miri
    fn a_waiter_gets_the_range_once_the_holder_lets_go_and_gives_up_at_its_deadline() {
        let (path, a) = scratch("wait");
        let b = reopen(&path);
        let held = try_lock(a.as_fd(), 0, 8).unwrap().expect("free");
        assert!(
            lock_timeout(b.as_fd(), 0, 8, Duration::from_millis(20))
                .unwrap()
                .is_none(),
            "held all along"
        );
        std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                lock_timeout(b.as_fd(), 0, 8, Duration::from_secs(60))
                    .unwrap()
                    .is_some()
            });
            std::thread::sleep(Duration::from_millis(20));
            drop(held);
            assert!(waiter.join().unwrap(), "taken once released");
        });
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn only_errors_that_mean_no_ofd_locks_here_count_as_unsupported() {
        for errno in [libc::EINVAL, libc::ENOLCK, libc::EOPNOTSUPP, libc::ENOSYS] {
            assert!(unsupported(&io::Error::from_raw_os_error(errno)));
        }
        for errno in [libc::EBADF, libc::EAGAIN, libc::EACCES, libc::EINTR] {
            assert!(!unsupported(&io::Error::from_raw_os_error(errno)));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore)] // fcntl is outside Miri
    fn closing_the_description_releases_the_lock() {
        let (path, a) = scratch("close");
        let b = reopen(&path);
        std::mem::forget(try_lock(a.as_fd(), 0, 8).unwrap().expect("free"));
        assert!(try_lock(b.as_fd(), 0, 8).unwrap().is_none());
        drop(a);
        assert!(try_lock(b.as_fd(), 0, 8).unwrap().is_some());
        std::fs::remove_file(path).unwrap();
        assert!(
            try_lock(b.as_fd(), 0, 0).is_err(),
            "an empty range is refused"
        );
    }
}
