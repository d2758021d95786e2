//! Ctrl-C for commands that finish what they are doing before they stop (`shmim log`,
//! `shmim save --frames`): the open cube is completed, not cut.
//!
//! SIGINT, SIGTERM and SIGHUP (the terminal closed: an ssh session dropped) are blocked in the
//! calling thread and looked for between frames with
//! `sigtimedwait` and a zero timeout, which takes a pending one off the process. No handler runs,
//! so nothing is shared with one. Threads started afterwards (the progress bar's ticker) inherit
//! the mask, so no thread takes the signal's default action; create this before them. The
//! previous mask is restored on drop: a second signal that arrived after the first was taken is
//! then delivered as usual.

/// The signals that ask a command to stop: the ones a user or a session sends.
const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// SIGINT, SIGTERM and SIGHUP, blocked and polled.
pub struct Interrupt {
    set: libc::sigset_t,
    previous: libc::sigset_t,
    seen: bool,
}

impl Interrupt {
    /// Blocks SIGINT, SIGTERM and SIGHUP in this thread.
    pub fn block() -> Self {
        // SAFETY: sigset_t is plain data that `sigemptyset` initialises fully below.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `previous` is filled by `pthread_sigmask`.
        let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` and `previous` are valid, exclusively borrowed sigset_t values; the
        // signal numbers are valid; these calls touch only them and this thread's mask.
        unsafe {
            libc::sigemptyset(&mut set);
            for signal in STOP_SIGNALS {
                libc::sigaddset(&mut set, signal);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
        }
        Self {
            set,
            previous,
            seen: false,
        }
    }

    /// Whether one of the signals came (once it did, always true).
    pub fn requested(&mut self) -> bool {
        if !self.seen {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `set` is initialised; a null info pointer is allowed; `zero` is a valid
            // timeout, so the call returns at once.
            let signal = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &zero) };
            self.seen = signal > 0;
        }
        self.seen
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        // SAFETY: `previous` is the mask `block` saved; only this thread's mask changes.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut()) };
    }
}
