//! The sending side's view of a local stream: wait for it, wake for its frames, copy them with
//! the header fields of the same frame. Shared by `pub` (Zenoh) and `milk-send`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use shmim_core::{Error as CoreError, Metadata, Reader, Stream};

use crate::error::Result;
use crate::log::log;

/// How often a sender looks for a stream that does not exist yet, and whether a silent stream
/// was re-created.
pub const POLL: Duration = Duration::from_millis(100);

/// `--dir` if given, else the default stream directory (`MILK_SHM_DIR`, `/milk/shm`, `/tmp`).
pub fn dir_or_default(explicit: Option<&Path>) -> PathBuf {
    explicit.map_or_else(
        || shmim_core::default_dir().to_path_buf(),
        Path::to_path_buf,
    )
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
