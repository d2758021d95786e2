//! Running a logger's threads on CPUs of their own.
//!
//! A logger keeps up with a fast writer only if its disk thread, which costs about as much CPU
//! per frame as the directory's sequential write, has a CPU to itself. Left to the scheduler, on
//! a machine with few CPUs the disk thread sometimes shares one with the taking thread or the
//! writer for long stretches, runs at half speed, and the frames pile up past the circular
//! buffer (measured on 2 CPUs: see PERFORMANCE.md). Real-time deployments place their threads by
//! hand; [`crate::LogOptions`] lets a logger do the same. The calling thread, which takes the
//! frames, gets its CPU back as it was when the logger returns ([`OnCpu`]).

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

use crate::error::{Error, Result};

/// Which of the logger's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoggerThread {
    /// The thread that waits for frames and copies them out (the caller's).
    Taking,
    /// The thread that writes them to the cube.
    Disk,
}

impl std::fmt::Display for LoggerThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Taking => "taking thread",
            Self::Disk => "disk thread",
        })
    }
}

/// Checks, before a logger starts, that its threads may run on the CPUs asked for: those the
/// calling thread may run on now (its threads start from there).
pub(crate) fn check(taker: Option<usize>, disk: Option<usize>) -> Result<()> {
    let asked = [(taker, LoggerThread::Taking), (disk, LoggerThread::Disk)];
    let mut allowed = None;
    for (cpu, thread) in asked {
        let Some(cpu) = cpu else { continue };
        let refuse = |reason: String| Error::Cpu {
            thread,
            cpu,
            reason,
        };
        if cpu >= CpuSet::MAX_CPU {
            return Err(refuse(format!(
                "CPU numbers go up to {}",
                CpuSet::MAX_CPU - 1
            )));
        }
        let set = match &allowed {
            Some(set) => set,
            None => allowed.insert(sched_getaffinity(None).map_err(|e| refuse(e.to_string()))?),
        };
        if !set.is_set(cpu) {
            return Err(refuse(format!(
                "this process may run on CPUs {} only",
                cpu_list(set)
            )));
        }
    }
    Ok(())
}

/// The calling thread, moved to one CPU until dropped; then back on the CPUs it had.
pub(crate) struct OnCpu {
    before: CpuSet,
}

impl OnCpu {
    /// Moves the calling thread to `cpu` (checked with [`check`] before the logger started).
    pub(crate) fn pin(cpu: usize, thread: LoggerThread) -> Result<Self> {
        let refuse = |e: rustix::io::Errno| Error::Cpu {
            thread,
            cpu,
            reason: e.to_string(),
        };
        let before = sched_getaffinity(None).map_err(refuse)?;
        if cpu >= CpuSet::MAX_CPU {
            return Err(refuse(rustix::io::Errno::INVAL));
        }
        let mut only = CpuSet::new();
        only.set(cpu);
        sched_setaffinity(None, &only).map_err(refuse)?;
        Ok(Self { before })
    }
}

impl Drop for OnCpu {
    fn drop(&mut self) {
        // The set it had was accepted before: restoring it fails only if the process's cpuset
        // shrank meanwhile, and the kernel then keeps the thread where it may run.
        let _ = sched_setaffinity(None, &self.before);
    }
}

/// `0-3,6` for a set.
fn cpu_list(set: &CpuSet) -> String {
    let cpus: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        while i + 1 < cpus.len() && cpus[i + 1] == cpus[i] + 1 {
            i += 1;
        }
        parts.push(if cpus[i] == start {
            start.to_string()
        } else {
            format!("{start}-{}", cpus[i])
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_read_as_taskset_prints_them() {
        let mut set = CpuSet::new();
        for c in [0, 1, 2, 3, 6, 9, 10] {
            set.set(c);
        }
        assert_eq!(cpu_list(&set), "0-3,6,9-10");
    }

    #[test]
    fn a_cpu_past_the_largest_set_is_refused_not_a_panic() {
        let e = check(None, Some(usize::MAX)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot run the logger's disk thread on CPU"),
            "{e}"
        );
        let e = OnCpu::pin(usize::MAX, LoggerThread::Taking).err().unwrap();
        assert!(e.to_string().contains("taking thread"), "{e}");
    }
}
