//! Keys from a terminal without a line editor, for `shmim watch`'s `q`.
//!
//! When stdin is a terminal, [`KeyInput`] turns off canonical mode, echo and signal keys (so
//! Ctrl-C arrives as byte 3 and the view can restore the terminal before it quits) and restores
//! the saved settings when dropped. Done with rustix's termios calls, which are already a
//! dependency of the workspace; no terminal crate is needed for one key.

use std::io::IsTerminal;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::termios::{LocalModes, OptionalActions, Termios, tcgetattr, tcsetattr};

/// Ctrl-C, as a byte once signal keys are off.
pub const CTRL_C: u8 = 3;

/// Stdin switched to single-key input; restored on drop.
pub struct KeyInput {
    saved: Termios,
}

impl KeyInput {
    /// Switches stdin to single-key input, or `None` when stdin is not a terminal.
    pub fn enable() -> Option<Self> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.local_modes
            .remove(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG);
        tcsetattr(&stdin, OptionalActions::Now, &raw).ok()?;
        Some(Self { saved })
    }

    /// Waits up to `timeout` for a key; returns it, or `None` when none came.
    pub fn key_within(&self, timeout: Duration) -> Option<u8> {
        let stdin = std::io::stdin();
        let ts = Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        match poll(&mut fds, Some(&ts)) {
            Ok(n) if n > 0 => {
                let mut b = [0u8; 1];
                match rustix::io::read(&stdin, &mut b) {
                    Ok(1) => Some(b[0]),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

impl Drop for KeyInput {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}
