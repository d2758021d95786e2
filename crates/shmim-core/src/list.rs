//! Listing the streams of a directory, for tools.

use std::path::{Path, PathBuf};

use shmim_layout::FILE_SUFFIX;

use crate::error::{Error, Result};
use crate::metadata::Metadata;
use crate::stream::Stream;

/// One `*.im.shm` file of a directory.
#[derive(Debug)]
pub struct Listed {
    /// Stream name (file name without `.im.shm`).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its metadata (best-effort snapshot), or why it could not be opened.
    pub metadata: Result<Metadata>,
}

/// Every stream file in `dir`, sorted by name. Temporary files (leading `.`) are skipped;
/// files that fail validation are listed with their error.
pub fn list(dir: impl AsRef<Path>) -> Result<Vec<Listed>> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read_dir", dir, e))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let Some(name) = file_name.strip_suffix(FILE_SUFFIX) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let metadata = Stream::open_in(dir, name).map(|s| s.metadata_snapshot());
        out.push(Listed {
            name: name.to_owned(),
            path: entry.path(),
            metadata,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
