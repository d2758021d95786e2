//! Child processes of `shmim demo` and `shmim bench`: this binary re-executed with a hidden
//! subcommand. A [`Peer`] still running when dropped is killed, so no error path leaves one behind.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::failure::{Failure, Result};

/// A child process we started.
pub struct Peer {
    role: String,
    child: Option<Child>,
}

impl Peer {
    /// Starts `shmim --dir DIR ARGS…` as `role` (stdout and stderr captured).
    pub fn spawn(dir: &Path, role: &str, args: &[String]) -> Result<Self> {
        let exe = std::env::current_exe()
            .map_err(|e| Failure::new(format!("cannot find the shmim executable: {e}")))?;
        let child = Command::new(&exe)
            .arg("--dir")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::new(format!("cannot start {} ({role}): {e}", exe.display())))?;
        Ok(Self {
            role: role.to_owned(),
            child: Some(child),
        })
    }

    /// Its role, for messages.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The exit status once the process has exited (`Child` keeps it for [`Self::collect`]).
    pub fn status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        self.status().is_some()
    }

    /// Waits up to `limit` for the process to exit, then collects it.
    pub fn finish_within<T: DeserializeOwned>(mut self, limit: Duration) -> Result<T> {
        let until = Instant::now() + limit;
        while !self.exited() {
            if Instant::now() >= until {
                return Err(Failure::new(format!(
                    "{} did not exit within {limit:?}",
                    self.role
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        self.collect()
    }

    /// Waits for the process and parses the JSON line it printed; its stderr when it failed.
    pub fn collect<T: DeserializeOwned>(mut self) -> Result<T> {
        let role = self.role.clone();
        let Some(child) = self.child.take() else {
            return Err(Failure::new(format!("{role} was already collected")));
        };
        let out = child
            .wait_with_output()
            .map_err(|e| Failure::new(format!("cannot collect {role}: {e}")))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(Failure::new(format!(
                "{role} failed ({}): {}",
                out.status,
                err.trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(text.trim())
            .map_err(|e| Failure::new(format!("{role} reported garbage ({e}): {text}")))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            if let Ok(None) = c.try_wait() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }
}
