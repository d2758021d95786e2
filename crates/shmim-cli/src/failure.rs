//! The one error type of the tool: a message of one line saying what failed, on which file, and
//! what to do about it.

use std::fmt;

use shmim_core::Error;

/// A failure to report to the user (printed as `shmim: <message>`).
#[derive(Debug)]
pub struct Failure(String);

/// The tool's result type.
pub type Result<T, E = Failure> = std::result::Result<T, E>;

impl Failure {
    /// A failure with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the message holds.
        f.write_str(&self.0.replace('\n', " "))
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let hint = match &e {
            Error::NotFound { .. } => {
                " (`shmim ls` lists the streams; `--dir` or MILK_SHM_DIR picks the directory)"
            }
            Error::InvalidName { .. } => {
                " (names are 1-79 bytes, without '/' or control characters, not starting with '.' or '-')"
            }
            Error::Invalid { .. } => {
                " (re-create it with `shmim create --replace`, or remove it with `shmim rm --force`)"
            }
            Error::WriterBusy { .. } => " (another writer holds the stream; stop it first)",
            Error::WriterStuck { .. } => " (a writer holds the write flag; is it paused?)",
            Error::WriterDied { .. } => " (the next `shmim write` takes over the stream)",
            Error::NoFreeSlot { .. } => {
                " (every semaphore is taken; re-create the stream with more `--sems`)"
            }
            Error::TypeMismatch { .. } | Error::LengthMismatch { .. } => "",
            Error::Geometry(_) => " (check --shape and --type)",
            _ => "",
        };
        Self(format!("{e}{hint}"))
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}
