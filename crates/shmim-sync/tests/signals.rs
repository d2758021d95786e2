//! Signals: a semaphore wait interrupted by a signal (a handler installed without `SA_RESTART`,
//! so the kernel returns `EINTR`) is retried against the same deadline, not surfaced as an error
//! and not cut short. shmim itself installs no handler; this test installs one to provoke EINTR.
#![cfg(not(loom))]
#![allow(clippy::disallowed_types)]

use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use shmim_layout::SemSlot;
use shmim_sync::semaphore::Semaphore;

static DELIVERED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count(_: libc::c_int) {
    DELIVERED.fetch_add(1, Relaxed);
}

fn install_handler_without_restart() {
    // SAFETY: a zeroed sigaction with a valid handler and an empty mask is a valid argument; the
    // handler only does an atomic increment (async-signal-safe).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = count as extern "C" fn(libc::c_int) as libc::sighandler_t;
        sa.sa_flags = 0; // no SA_RESTART: blocking calls fail with EINTR
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
}

#[test]
#[cfg_attr(miri, ignore)]
fn interrupted_waits_are_retried_until_a_post_or_the_deadline() {
    install_handler_without_restart();
    let slot = Box::leak(Box::new(SemSlot { bytes: [0; 32] }));
    let p: *mut SemSlot = slot;
    // SAFETY: a leaked heap slot, valid for the rest of the process, initialised before use.
    let sem = unsafe {
        Semaphore::init(p, 0).unwrap();
        Semaphore::from_slot(p)
    };
    let blocking = std::thread::spawn(move || sem.wait());
    let timed = std::thread::spawn(move || sem.wait_timeout(Duration::from_secs(30)));
    let short = std::thread::spawn(move || {
        let start = Instant::now();
        let r = sem.wait_timeout(Duration::from_millis(300));
        (r, start.elapsed())
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while DELIVERED.load(Relaxed) < 30 && Instant::now() < deadline {
        for t in [
            blocking.as_pthread_t(),
            timed.as_pthread_t(),
            short.as_pthread_t(),
        ] {
            // SAFETY: the threads are alive (joined only below); SIGUSR1 has our handler.
            unsafe { libc::pthread_kill(t, libc::SIGUSR1) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        DELIVERED.load(Relaxed) >= 30,
        "signals were delivered while the threads waited"
    );
    let (r, waited) = short.join().unwrap();
    assert!(!r.unwrap(), "timed out, not failed with EINTR");
    assert!(
        waited >= Duration::from_millis(300),
        "the deadline was kept, not cut short by signals"
    );
    sem.post();
    sem.post();
    blocking.join().unwrap().unwrap();
    assert!(timed.join().unwrap().unwrap(), "woken by the post");
}
