//! Frames this process abandoned, which any of its handles to the same stream may resume.
//!
//! A [`crate::WriteGuard`] dropped without commit leaves the write flag set and claimed by this
//! process's PID (protocol.md: an abandon publishes nothing). Another process can never take that
//! flag while we live (our PID is alive), and a second handle of *this* process cannot tell the
//! claim apart from a live writer of its own. Without a record, dropping the abandoning `Stream`
//! would lock every later writer out until the process exits.
//!
//! So an abandon of a file-backed stream is recorded here, keyed by the file's identity
//! (device, inode, and the header's creation time, against inode reuse), and the next writer of
//! this process on that file **adopts** it: removing the entry is the single decision (under the
//! registry's lock, exactly one remover finds it), so two handles racing to adopt never both
//! write. The adopter then resumes the flag (`WriteFlag::resume`: still set, still claimed by
//! our PID), and its commit publishes a complete frame. Process-local images have no file and
//! no other handle: their `Stream` keeps the abandon itself.
//!
//! The lock is held for a few instructions; it is never taken in a forked child unless that
//! child abandons or adopts a frame itself (its PID differs from every claim it inherited).

use std::sync::{Mutex, PoisonError};

use crate::mapping::{Mapping, md};

/// A stream file's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    dev: u64,
    ino: u64,
    created: (i64, i64),
}

/// Abandoned frames: the file, and the claim ticket of the abandoned flag. A ticket that no
/// longer matches the file's means the flag was taken over and published since (by a forced
/// recovery): the entry is stale, and adopting it would hand out a flag another handle of this
/// process may hold now.
static ABANDONED: Mutex<Vec<(Key, u32)>> = Mutex::new(Vec::new());

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

/// Records that this process abandoned a frame of `map`'s file (the flag it holds, with its
/// ticket). False for a process-local image (the caller keeps the abandon itself).
pub(crate) fn remember(map: &Mapping) -> bool {
    let Some(k) = key(map) else { return false };
    let ticket = md!(map, claim_ticket).peek();
    let mut list = ABANDONED.lock().unwrap_or_else(PoisonError::into_inner);
    list.retain(|&(e, _)| e != k);
    list.push((k, ticket));
    true
}

/// Takes this process's abandoned frame of `map`'s file, if there is one and its ticket is still
/// the file's: true for exactly one caller per abandon. A stale entry is dropped.
pub(crate) fn adopt(map: &Mapping) -> bool {
    let Some(k) = key(map) else { return false };
    let ticket = md!(map, claim_ticket).peek();
    let mut list = ABANDONED.lock().unwrap_or_else(PoisonError::into_inner);
    match list.iter().position(|&(e, _)| e == k) {
        Some(i) => list.swap_remove(i).1 == ticket,
        None => false,
    }
}
