//! The sending side's view of a local stream: wait for it, wake for its frames, copy them with
//! the header fields of the same frame. Shared by `pub` (Zenoh) and `milk-send`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use shmim_core::{Error as CoreError, Metadata, Reader, Stream};

use crate::error::{BridgeError, Result};
use crate::log::log;

/// How often a sender looks for a stream that does not exist yet, and whether a silent stream
/// was re-created.
pub const POLL: Duration = Duration::from_millis(100);

/// The stream directory: `--dir` if given, else `$MILK_SHM_DIR`, else the default
/// (`/milk/shm`, `/tmp`). A directory that was asked for and does not exist is an error, never
/// a silent fall-back to the default (`shmim --dir D bridge …` passes `D` as `MILK_SHM_DIR`).
pub fn stream_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    let missing = |what: String| Err(BridgeError::Usage(what));
    if let Some(dir) = explicit {
        if !dir.is_dir() {
            return missing(format!(
                "the stream directory {} does not exist (create it, or pass another --dir)",
                dir.display()
            ));
        }
        return Ok(dir.to_path_buf());
    }
    if let Some(env) = std::env::var_os(shmim_layout::SHM_DIR_ENV) {
        let dir = PathBuf::from(env);
        if !dir.is_dir() {
            return missing(format!(
                "{}={} is not an existing directory (create it, or pass --dir)",
                shmim_layout::SHM_DIR_ENV,
                dir.display()
            ));
        }
        return Ok(dir);
    }
    Ok(shmim_core::default_dir().to_path_buf())
}

/// Opens `name`, waiting (and saying so once) until it exists: start order does not matter.
pub fn open_when_present(dir: &Path, name: &str) -> Stream {
    let mut said = false;
    loop {
        match Stream::open_in(dir, name) {
            Ok(s) => return s,
            Err(e) => {
                if !said {
                    log(format_args!("{name}: waiting for the stream ({e})"));
                    said = true;
                }
                std::thread::sleep(POLL);
            }
        }
    }
}

/// What woke the sender.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A frame was published.
    Frame,
    /// Nothing for [`POLL`]: the caller may look at other things (keywords) and wait again.
    Idle,
    /// The stream was re-created or removed: open it again.
    Gone,
}

/// Waits up to [`POLL`] for the next frame; says whether one came, none did, or the stream was
/// replaced or removed.
pub fn next_frame(stream: &Stream, reader: &mut Reader) -> Result<Next> {
    match reader.wait_timeout(POLL) {
        Ok(_) => Ok(Next::Frame),
        Err(CoreError::Timeout(_)) if stream.inode_changed()? => Ok(Next::Gone),
        Err(CoreError::Timeout(_)) => Ok(Next::Idle),
        Err(CoreError::Replaced { .. }) => Ok(Next::Gone),
        Err(e) => Err(e.into()),
    }
}

/// Copies the newest frame into `pixels` (one frame long) and returns the metadata of that same
/// frame (re-read when a commit fell between the two copies).
pub fn read_frame(stream: &Stream, reader: &mut Reader, pixels: &mut [u8]) -> Result<Metadata> {
    let mut md = stream.metadata()?;
    for _ in 0..3 {
        let cnt0 = reader.read_bytes_into(pixels)?;
        md = stream.metadata()?;
        if md.cnt0 == cnt0 {
            break;
        }
    }
    Ok(md)
}
