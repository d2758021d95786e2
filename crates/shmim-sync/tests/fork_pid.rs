//! `pid::current()` across `fork`: a forked child always gets its own PID, and a fork that
//! catches another thread inside the first `pid::current()` (registering the fork handler) does
//! not hang the child. The process-wide state built on it (`ForkLocal`) is the child's own: a
//! fork that catches another thread holding the lock of such state does not hang the child.
//!
//! A test harness of its own (`harness = false`): `fork` is called only in a child process this
//! binary re-executes for that purpose, whose threads are known — the main thread, and in the
//! second case one thread of ours, parked inside `pthread_atfork` by the interposer below. The
//! test harness's own process never forks.

#[cfg(not(any(loom, miri)))]
mod fork {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::process::Command;
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use libc::c_int;
    use shmim_sync::fork_local::ForkLocal;
    use shmim_sync::pid;

    const ROLE: &str = "SHMIM_FORK_PID_ROLE";

    /// Where the interposer tells the main thread it is inside, and waits to be let go.
    static PARK: OnceLock<(OwnedFd, OwnedFd)> = OnceLock::new();

    unsafe extern "C" {
        /// glibc's registration behind `pthread_atfork`.
        fn __register_atfork(
            prepare: Option<unsafe extern "C" fn()>,
            parent: Option<unsafe extern "C" fn()>,
            child: Option<unsafe extern "C" fn()>,
            dso: *mut libc::c_void,
        ) -> c_int;
    }

    /// Interposes glibc's `pthread_atfork` (which lives in `libc_nonshared.a`, so a definition in
    /// this binary wins the link): when `PARK` is set, the caller — `pid::current()` registering
    /// its handler for the first time — stops here until the main thread has forked.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn pthread_atfork(
        prepare: Option<unsafe extern "C" fn()>,
        parent: Option<unsafe extern "C" fn()>,
        child: Option<unsafe extern "C" fn()>,
    ) -> c_int {
        if let Some((inside, go)) = PARK.get() {
            let mut byte = [1u8];
            // SAFETY: valid pipe ends owned by `PARK` for the life of the process; a one-byte
            // buffer of ours.
            unsafe {
                libc::write(inside.as_raw_fd(), byte.as_ptr().cast(), 1);
                libc::read(go.as_raw_fd(), byte.as_mut_ptr().cast(), 1);
            }
        }
        // SAFETY: glibc's registration with the caller's handlers; no DSO to unregister with.
        unsafe { __register_atfork(prepare, parent, child, std::ptr::null_mut()) }
    }

    fn pipe() -> (OwnedFd, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: a valid out array of two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: two fresh descriptors that nothing else owns.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
    }

    /// In a forked child: 0 when `pid::current()` is this process's PID, 3 otherwise; the
    /// alarm kills a child that hangs instead.
    fn child_checks_its_pid() -> ! {
        // SAFETY: async-signal-safe calls only, in the single thread of the forked child.
        unsafe {
            libc::alarm(10);
            let ok = pid::current() == libc::getpid();
            libc::_exit(if ok { 0 } else { 3 })
        }
    }

    /// Process-wide state of this test process: a counter behind a lock.
    static COUNTER: ForkLocal<std::sync::Mutex<u32>> = ForkLocal::new();

    /// In a forked child: 0 when the child's own `COUNTER` can be locked (and starts at 0), 4
    /// otherwise; the alarm kills a child that hangs on its parent's lock instead.
    fn child_locks_its_own_state() -> ! {
        // SAFETY: an async-signal-safe call in the single thread of the forked child.
        unsafe { libc::alarm(10) };
        let fresh = *COUNTER
            .get(pid::current(), Default::default)
            .lock()
            .unwrap()
            == 0;
        // SAFETY: leaves the child without running the parent's exit handlers.
        unsafe { libc::_exit(if fresh { 0 } else { 4 }) }
    }

    /// Forks; the child runs `child`; returns its exit status (a watchdog kills it after 20 s).
    fn fork_and_check(child: fn() -> !) -> i32 {
        // SAFETY: the child either calls async-signal-safe functions only, or only allocates
        // (glibc's malloc is reset for the child by its own fork handlers) and locks what no
        // other thread can hold in the child.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            child();
        }
        let child = pid;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut status = 0;
            // SAFETY: our own child; a valid out pointer.
            let done = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
            if done == child {
                return if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    100 + libc::WTERMSIG(status) // killed: by its alarm, it hung
                };
            }
            if Instant::now() >= deadline {
                // SAFETY: our own child.
                unsafe { libc::kill(child, libc::SIGKILL) };
                return 99;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Role: fork while our other thread is parked inside the first `pid::current()`.
    fn fork_during_first_call() -> i32 {
        let (inside_r, inside_w) = pipe();
        let (go_r, go_w) = pipe();
        PARK.set((inside_w, go_r)).unwrap();
        let first = std::thread::spawn(pid::current);
        let mut byte = [0u8];
        rustix::io::read(&inside_r, &mut byte).unwrap();
        let status = fork_and_check(child_checks_its_pid);
        rustix::io::write(&go_w, &byte).unwrap();
        assert_eq!(first.join().unwrap(), std::process::id() as i32);
        status
    }

    /// Role: cache our PID, then fork.
    fn fork_after_caching() -> i32 {
        assert_eq!(pid::current(), std::process::id() as i32);
        fork_and_check(child_checks_its_pid)
    }

    /// Role: fork while another thread holds the lock of our `COUNTER`.
    fn fork_while_another_thread_holds_a_fork_local_lock() -> i32 {
        let (held_r, held_w) = pipe();
        let (go_r, go_w) = pipe();
        let holder = std::thread::spawn(move || {
            let mut counter = COUNTER
                .get(pid::current(), Default::default)
                .lock()
                .unwrap();
            *counter += 1;
            rustix::io::write(&held_w, &[1]).unwrap();
            let mut byte = [0u8];
            rustix::io::read(&go_r, &mut byte).unwrap();
        });
        let mut byte = [0u8];
        rustix::io::read(&held_r, &mut byte).unwrap();
        let status = fork_and_check(child_locks_its_own_state);
        rustix::io::write(&go_w, &byte).unwrap();
        holder.join().unwrap();
        status
    }

    /// Runs this binary in `role` and returns its exit code.
    fn run_role(role: &str) -> i32 {
        let status = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, role)
            .status()
            .unwrap();
        status.code().unwrap_or(-1)
    }

    pub fn main() {
        match std::env::var(ROLE).as_deref() {
            Ok("fork_during_first_call") => std::process::exit(fork_during_first_call()),
            Ok("fork_after_caching") => std::process::exit(fork_after_caching()),
            Ok("fork_local_held") => {
                std::process::exit(fork_while_another_thread_holds_a_fork_local_lock())
            }
            Ok(other) => panic!("unknown role {other}"),
            Err(_) => {}
        }
        let tests: [(&str, &str); 3] = [
            (
                "a_forked_child_never_gets_its_parents_cached_pid",
                "fork_after_caching",
            ),
            (
                "a_fork_while_another_thread_is_inside_the_first_call_does_not_hang_the_child",
                "fork_during_first_call",
            ),
            (
                "a_fork_while_another_thread_holds_process_wide_state_does_not_hang_the_child",
                "fork_local_held",
            ),
        ];
        for (name, role) in tests {
            let code = run_role(role);
            let verdict = match code {
                0 => "ok",
                3 => "FAILED: the child got its parent's PID",
                4 => "FAILED: the child got its parent's state",
                99 | 114 => "FAILED: the child hung",
                _ => "FAILED",
            };
            println!("test {name} ... {verdict} (exit {code})");
            assert_eq!(code, 0, "{name}: {verdict}");
        }
    }
}

#[cfg(not(any(loom, miri)))]
fn main() {
    fork::main();
}

#[cfg(any(loom, miri))]
fn main() {}
