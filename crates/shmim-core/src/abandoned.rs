//! Frames this process abandoned, which any of its handles to the same stream may resume.
//!
//! A [`crate::WriteGuard`] dropped without commit leaves the write flag set and claimed by this
//! process's PID (protocol.md: an abandon publishes nothing). Another process can never take that
//! flag while we live (our PID is alive), and a second handle of *this* process cannot tell the
//! claim apart from a live writer of its own. Without a record, dropping the abandoning `Stream`
//! would lock every later writer out until the process exits.
//!
//! So an abandon of a file-backed stream is recorded in `shmim-sync`'s registry
//! ([`shmim_sync::abandoned`]), keyed by the file's identity (device, inode, and the header's
//! creation time, against inode reuse), and every way a handle of this process takes the flag
//! goes through that registry: the next writer **adopts** the record (exactly one does), a
//! recovery or a forced take-over consumes it, and a forked child starts without its parent's
//! records (and never waits on a lock a parent thread held at the fork). Process-local images have
//! no file and no other handle: their `Stream` keeps the abandon itself.

use shmim_sync::abandoned::{Abandoned, Take};
use shmim_sync::write_flag::{Busy, StreamFlag};
use shmim_sync::{liveness, pid};

use crate::mapping::Mapping;

/// A stream file's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    dev: u64,
    ino: u64,
    created: (i64, i64),
}

/// This process's abandoned frames.
static ABANDONED: Abandoned<Key> = Abandoned::new();

fn key(map: &Mapping) -> Option<Key> {
    let (file, _, _) = map.file()?;
    let st = rustix::fs::fstat(file).ok()?;
    let md = map.md_ptr();
    // SAFETY: `md_ptr` is the 8-aligned start of the live, validated header; the projections stay
    // inside it and the fields are read through atomic views only (as `md!` does).
    let (sec, nsec) = unsafe {
        (
            shmim_sync::Field::new(&raw mut (*md).creationtime.tv_sec).peek(),
            shmim_sync::Field::new(&raw mut (*md).creationtime.tv_nsec).peek(),
        )
    };
    Some(Key {
        dev: st.st_dev,
        ino: st.st_ino,
        created: (sec, nsec),
    })
}

/// Records that this process abandoned the frame it holds `flag` for, on `map`'s file. False for
/// a process-local image (the caller keeps the abandon itself).
pub(crate) fn remember(map: &Mapping, flag: &StreamFlag<'_>) -> bool {
    let Some(k) = key(map) else { return false };
    ABANDONED.remember(pid::current(), k, flag);
    true
}

/// Takes `flag`, `map`'s write flag, for this process as `how` says, adopting a frame this
/// process abandoned on that file when the flag is claimed by our PID.
pub(crate) fn take(map: &Mapping, flag: &StreamFlag<'_>, how: Take) -> Result<(), Busy> {
    ABANDONED.take(how, pid::current(), || key(map), flag, liveness::is_dead)
}
