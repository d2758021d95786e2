//! The machine line on top of the table: CPU, cores, kernel, where the streams lived.

use std::path::Path;

/// `Intel(R) Xeon(R) Processor, 2 CPUs, Linux 6.1.0, streams in /dev/shm (tmpfs)`.
pub fn describe(dir: &Path) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cpus} CPUs, Linux {}, streams in {} ({})",
        kernel.trim(),
        dir.parent().unwrap_or(dir).display(),
        fs_type(dir)
    )
}

/// The filesystem type of the mount holding `dir`, from /proc/self/mounts (longest prefix).
fn fs_type(dir: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, mount, kind) = (f.next()?, f.next()?, f.next()?);
            dir.starts_with(mount)
                .then(|| (mount.len(), kind.to_owned()))
        })
        .max()
        .map_or("unknown filesystem".into(), |(_, k)| k)
}
