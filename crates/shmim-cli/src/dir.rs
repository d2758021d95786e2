//! Which stream directory a command works on.

use std::path::{Path, PathBuf};

use crate::failure::{Failure, Result};

/// `--dir` if given, else the default directory of `shmim-core` (`MILK_SHM_DIR`, `/milk/shm`,
/// `/tmp`). It must be an existing directory.
pub fn resolve(explicit: Option<&Path>) -> Result<PathBuf> {
    let dir = match explicit {
        Some(d) => d.to_path_buf(),
        None => shmim_core::default_dir().to_path_buf(),
    };
    if !dir.is_dir() {
        return Err(Failure::new(format!(
            "stream directory {} does not exist (create it, or pass --dir / set MILK_SHM_DIR to an existing directory)",
            dir.display()
        )));
    }
    Ok(dir)
}
