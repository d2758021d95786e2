//! Large frames on huge pages, against the default 4 KiB pages.
//!
//! A stream directory on a tmpfs mounted with `huge=always` backs stream files with 2 MiB pages
//! (transparent huge pages for shared memory), so a 16 MiB frame needs 8 TLB entries instead of
//! 4096. The bench uses `--huge-dir` when given; otherwise, as root, it mounts a private tmpfs
//! with `huge=always` under the temporary directory for the run (unmounted afterwards); otherwise
//! it reports huge pages as not measured, with the reason. Each row checks in `/proc/self/smaps`
//! how much of the stream was really mapped with 2 MiB pages.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::copy::frame_costs;
use super::{Effort, Figure, Report, Row};
use crate::failure::{Failure, Result};
use crate::stats::bytes_text;

/// The private mount's size: room for the largest stream with its circular buffer off.
const MOUNT_OPTIONS: &str = "huge=always,size=1g,mode=0700";

pub fn measure(dir: &Path, effort: &Effort, report: &mut Report) -> Result<()> {
    let (huge_dir, how, _mount) = match &effort.huge_dir {
        // `how` goes into the footer: the rows stay short.
        Some(d) if d.is_dir() => (d.clone(), format!("--huge-dir {}", d.display()), None),
        Some(d) => {
            return Err(Failure::new(format!(
                "bench: --huge-dir {} is not a directory",
                d.display()
            )));
        }
        None => match PrivateMount::new(effort.mount_huge) {
            Ok(m) => (m.path.clone(), "tmpfs huge=always".to_owned(), Some(m)),
            Err(why) => {
                report.notes.push(format!("huge pages not measured: {why}"));
                report.rows.push(Row::new(
                    "huge",
                    "huge pages: not available".into(),
                    Figure::none(),
                    &why,
                    Figure::none(),
                ));
                return Ok(());
            }
        },
    };
    let sides: &[u32] = if effort.sides.contains(&4096) {
        &[2048, 4096]
    } else {
        &[2048]
    };
    report.notes.push(format!(
        "huge-page rows: streams in {} ({how})",
        huge_dir.display()
    ));
    for &side in sides {
        let small = frame_costs(dir, side, effort, false)?;
        let huge = frame_costs(&huge_dir, side, effort, true)?;
        let pmd = huge.pmd_mapped_bytes.unwrap_or(0);
        let label = format!("{side}², {} in 2 MiB pages", bytes_text(pmd));
        report.rows.push(Row::new(
            "huge",
            format!("huge pages: writer cycle {label}"),
            Figure::ns(huge.writer_cycle_ns),
            "writer cycle, 4 KiB pages",
            Figure::ns(small.writer_cycle_ns),
        ));
        report.rows.push(Row::new(
            "huge",
            format!("huge pages: consistent read {label}"),
            Figure::ns(huge.consistent_read_ns),
            "consistent read, 4 KiB pages",
            Figure::ns(small.consistent_read_ns),
        ));
    }
    Ok(())
}

/// Bytes of the stream file `name` in `dir` mapped by this process with 2 MiB pages
/// (`ShmemPmdMapped` + `FilePmdMapped` of its mapping in `/proc/self/smaps`).
pub fn pmd_mapped(dir: &Path, name: &str) -> u64 {
    let file = dir.join(format!("{name}.im.shm"));
    let file = file.canonicalize().unwrap_or(file);
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut inside = false;
    let mut kib = 0u64;
    for line in smaps.lines() {
        let is_header = line.split_whitespace().next().is_some_and(|f| {
            f.contains('-') && f.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        });
        if is_header {
            inside = line.ends_with(&*file.to_string_lossy());
            continue;
        }
        if inside && (line.starts_with("ShmemPmdMapped:") || line.starts_with("FilePmdMapped:")) {
            kib += line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    kib * 1024
}

/// A tmpfs with `huge=always` mounted for this run; unmounted and removed on drop.
struct PrivateMount {
    path: PathBuf,
}

impl PrivateMount {
    /// Mounts one, or says why it cannot.
    fn new(allowed: bool) -> std::result::Result<Self, String> {
        if !allowed {
            return Err("--quick does not mount a huge-page tmpfs (pass --huge-dir)".into());
        }
        if !rustix::process::geteuid().is_root() {
            return Err(
                "not root, and no --huge-dir (mounting a tmpfs with huge=always needs privileges)"
                    .into(),
            );
        }
        let policy = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
        if std::fs::read_to_string(policy).is_ok_and(|p| p.contains("[deny]")) {
            return Err(format!(
                "huge pages for shared memory are denied ({policy})"
            ));
        }
        let path = std::env::temp_dir().join(format!("shmim-bench-huge-{}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let c = |s: &[u8]| CString::new(s).map_err(|e| e.to_string());
        let (target, fstype, options) = (
            c(path.as_os_str().as_bytes())?,
            c(b"tmpfs")?,
            c(MOUNT_OPTIONS.as_bytes())?,
        );
        // SAFETY: every pointer is a NUL-terminated string that outlives the call; the data
        // argument of tmpfs is its option string.
        let rc = unsafe {
            libc::mount(
                fstype.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            let _ = std::fs::remove_dir(&path);
            return Err(format!("mount -t tmpfs -o {MOUNT_OPTIONS} failed: {err}"));
        }
        Ok(Self { path })
    }
}

impl Drop for PrivateMount {
    fn drop(&mut self) {
        if let Ok(target) = CString::new(self.path.as_os_str().as_bytes()) {
            // SAFETY: a NUL-terminated path that outlives the call; MNT_DETACH unmounts even if
            // a file is still open (the bench has closed its streams by now).
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}
