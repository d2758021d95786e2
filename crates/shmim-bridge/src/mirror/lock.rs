//! One writer per mirror: an exclusive `flock` on the mirror's file.
//!
//! Two subscribers of one key into one directory (or two `milk-recv` into one stream) would both
//! pass the ownership check and both write, each frame twice. The first to open the mirror
//! takes this lock and writes; the others stand by and try again now and then. The lock belongs
//! to the open file description, so the kernel drops it when its holder exits or is killed, and
//! the next subscriber takes over. `flock` locks are independent of the OFD byte-range locks
//! shmim-core takes on keyword entries, and of everything a C program does with the file.

use std::fs::File;

use rustix::fs::FlockOperation;
use shmim_core::Stream;

use crate::error::{BridgeError, Result};

/// The held lock of one mirror file; dropping it unlocks.
#[derive(Debug)]
pub struct MirrorLock {
    _file: File,
}

impl MirrorLock {
    /// Locks the file `stream` maps, or [`BridgeError::Busy`] if another bridge holds it (or the
    /// path no longer names the mapped file: the caller looks again later).
    pub fn take(stream: &Stream) -> Result<Self> {
        let Some(path) = stream.path() else {
            return Err(BridgeError::Usage(format!(
                "{}: a mirror must be a stream file",
                stream.name()
            )));
        };
        let busy = || BridgeError::Busy {
            path: path.to_path_buf(),
        };
        let file = File::open(path).map_err(|_| busy())?;
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Err(busy()),
            Err(e) => {
                return Err(BridgeError::io(
                    format!("lock {}", path.display()),
                    e.into(),
                ));
            }
        }
        // The lock must be on the file the stream maps: the path may have been replaced between
        // the open of the stream and ours.
        let ino = rustix::fs::fstat(&file)
            .map_err(|e| BridgeError::io(format!("stat {}", path.display()), e.into()))?
            .st_ino;
        if ino != stream.metadata_snapshot().inode {
            return Err(busy());
        }
        Ok(Self { _file: file })
    }
}
