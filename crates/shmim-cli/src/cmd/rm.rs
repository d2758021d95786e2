//! `shmim rm NAME…` and `shmim purge`: removing streams nobody uses.

use std::path::Path;
use std::process::ExitCode;

use shmim_core::{Error, Metadata, Stream};
use shmim_layout::FILE_SUFFIX;

use crate::cli::{PurgeArgs, RmArgs};
use crate::cmd::may_be_alive;
use crate::failure::{Failure, Result};

pub fn rm(dir: &Path, a: &RmArgs) -> Result<ExitCode> {
    if let [name] = a.names.as_slice() {
        let path = rm_one(dir, name, a.force)?;
        println!("removed {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = 0usize;
    for name in &a.names {
        match rm_one(dir, name, a.force) {
            Ok(path) => println!("removed {}", path.display()),
            Err(f) => {
                eprintln!("shmim: {f}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(Failure::new(format!(
            "{failed} of {} streams not removed",
            a.names.len()
        )));
    }
    Ok(ExitCode::SUCCESS)
}

fn rm_one(dir: &Path, name: &str, force: bool) -> Result<std::path::PathBuf> {
    let name = shmim_core::validate_name(name)?;
    let path = dir.join(format!("{name}{FILE_SUFFIX}"));
    let stream = match Stream::open_in(dir, name) {
        Ok(s) => s,
        Err(Error::Invalid { .. }) if force => {
            std::fs::remove_file(&path)
                .map_err(|e| Failure::new(format!("cannot remove {}: {e}", path.display())))?;
            return Ok(path);
        }
        Err(e) => return Err(e.into()),
    };
    let live: Vec<String> = stream
        .registered_readers()
        .into_iter()
        .filter(|&(_, pid)| may_be_alive(pid))
        .map(|(_, pid)| pid.to_string())
        .collect();
    if !live.is_empty() && !force {
        return Err(Failure::new(format!(
            "{} has live registered readers (PID {}); stop them or pass --force",
            path.display(),
            live.join(", ")
        )));
    }
    stream.destroy()?;
    Ok(path)
}

/// Why a stream is still in use, or `None` when every process it names is gone: its creator, its
/// owner (`ownerPID`, which milk sets to protect a stream), the writer claiming the flag, the
/// last writer (`semWritePID`), its readers.
fn in_use(md: &Metadata, last_writer: Option<i32>, readers: &[(u16, i32)]) -> Option<String> {
    if may_be_alive(md.creator_pid) {
        return Some(format!("creator {} alive", md.creator_pid));
    }
    if md.owner_pid > 1 && may_be_alive(md.owner_pid) {
        return Some(format!("owner {} alive", md.owner_pid));
    }
    for writer in [md.write.then_some(md.claim_pid), last_writer]
        .into_iter()
        .flatten()
    {
        if writer > 1 && may_be_alive(writer) {
            return Some(format!("writer {writer} alive"));
        }
    }
    readers
        .iter()
        .find(|&&(_, pid)| may_be_alive(pid))
        .map(|(_, pid)| format!("reader {pid} alive"))
}

pub fn purge(dir: &Path, a: &PurgeArgs) -> Result<ExitCode> {
    let mut removed = 0usize;
    for listed in shmim_core::list(dir)? {
        let stream = match Stream::open_in(dir, &listed.name) {
            Ok(s) => s,
            Err(e) => {
                println!("skipped {}: {e}", listed.name);
                continue;
            }
        };
        let md = stream.metadata_snapshot();
        if let Some(why) = in_use(&md, stream.last_writer(), &stream.registered_readers()) {
            println!("kept {} ({why})", listed.name);
            continue;
        }
        if a.dry_run {
            println!("would remove {}", listed.path.display());
        } else {
            stream.destroy()?;
            println!("removed {}", listed.path.display());
        }
        removed += 1;
    }
    let verb = if a.dry_run { "would remove" } else { "removed" };
    println!("{verb} {removed} streams from {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
