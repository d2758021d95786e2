//! What a waiting reader looks at to notice that its stream was replaced or removed.
//!
//! Kept apart from the rest of the [`crate::Reader`] so that a wait can check it while it borrows
//! the mapping. Two signs, with different costs:
//!
//! * the `READY` bit of the reader's slot, which a shmim creator clears in the old file when it
//!   replaces the stream ([`Watch::ready`], one load: checked on every call of every wait);
//! * the stream's path, which must still hold the mapped file ([`Watch::path`], a `stat`:
//!   checked every [`REPLACEMENT_CHECK_EVERY`]). It is the only sign for a poller (no slot) and
//!   for a replacement by a legacy creator (which never touches `READY`).
//!
//! **Path identity.** A stream is its name in its directory: that is how every party of the
//! ImageStreamIO world finds it. So the path decides, not the file: no file at the path is
//! [`Error::Removed`] even when the mapped file lives on elsewhere — its directory renamed, or the
//! file moved — because no process opening the stream by name can reach it any more, and the
//! writer that still writes it is writing a stream nobody can find.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use shmim_layout::SEMCTRL_READY;

use crate::error::{Error, Result};
use crate::mapping::Mapping;

/// The longest a waiting reader goes without checking whether its stream was replaced or removed
/// (the length of a blocking wait's slice).
pub const REPLACEMENT_CHECK_EVERY: Duration = Duration::from_millis(100);

/// A reader's view of where its stream should be.
pub(crate) struct Watch {
    /// The reader's slot (`None` for a poller).
    pub(crate) slot: Option<u16>,
    /// The mapped file's `(device, inode)`.
    pub(crate) mapped: Option<(u64, u64)>,
    /// When the path was last checked against `mapped`.
    pub(crate) checked: Instant,
}

impl Watch {
    /// `Replaced` once a creator cleared `READY` on our slot (cheap: one load).
    pub(crate) fn ready(&self, map: &Mapping, name: &str) -> Result<()> {
        if let Some(i) = self.slot {
            if map.semctrl(i)?.peek() & SEMCTRL_READY == 0 {
                return Err(Error::Replaced { name: name.into() });
            }
        }
        Ok(())
    }

    /// `Replaced` / `Removed` if the stream's path no longer holds the mapped file (a `stat`).
    pub(crate) fn path(&mut self, map: &Mapping, name: &str) -> Result<()> {
        self.checked = Instant::now();
        let (Some(mapped), Some((_, path, _))) = (self.mapped, map.file()) else {
            return Ok(());
        };
        match rustix::fs::stat(path) {
            Ok(st) if (st.st_dev, st.st_ino) == mapped => Ok(()),
            Ok(_) => Err(Error::Replaced { name: name.into() }),
            Err(rustix::io::Errno::NOENT) => Err(Error::Removed {
                name: name.into(),
                path: PathBuf::from(path),
            }),
            // Cannot tell (a directory we may no longer search…): the next check may.
            Err(_) => Ok(()),
        }
    }

    /// [`Self::ready`] always, [`Self::path`] when the last one is [`REPLACEMENT_CHECK_EVERY`]
    /// old at `now`.
    pub(crate) fn check(&mut self, map: &Mapping, name: &str, now: Instant) -> Result<()> {
        self.ready(map, name)?;
        if now.duration_since(self.checked) >= REPLACEMENT_CHECK_EVERY {
            self.path(map, name)?;
        }
        Ok(())
    }
}
