//! Readers and writers across `fork`: a forked child that drops an inherited `Reader` leaves the
//! parent's registration alone, and whatever the child does itself is recorded under the
//! child's PID, never its parent's.
//!
//! A test harness of its own (`harness = false`): `fork` is called only in a single-threaded
//! child process this binary re-executes for that purpose, never in the test's own process.

mod common;

use std::process::Command;
use std::time::Duration;

use common::StreamDir;
use shmim_core::{Datatype, Error, Stream, StreamSpec};

const ROLE: &str = "SHMIM_FORK_ROLE";

/// Runs `body` in a forked child and returns its exit code (a watchdog kills it after 60 s).
fn in_forked_child(body: impl FnOnce() -> i32) -> i32 {
    // SAFETY: this process is single-threaded (a re-executed role, no test harness), so the
    // child may run ordinary code.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(70);
        // SAFETY: leaves the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut status = 0;
        // SAFETY: our own child; a valid out pointer.
        if unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) } == child {
            return if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -1
            };
        }
        if std::time::Instant::now() >= deadline {
            // SAFETY: our own child.
            unsafe { libc::kill(child, libc::SIGKILL) };
            return -2;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Role: register a reader, fork; the child drops its copy of the reader, then publishes a frame
/// and registers a reader of its own. Exit code 0 when everything holds, else the failed check.
fn inherited_reader() -> i32 {
    let me = std::process::id() as i32;
    let mut stream = Stream::open(&std::env::var("STREAM").unwrap()).unwrap();
    let mut reader = stream.reader().unwrap();
    let slot = reader.slot().unwrap();

    let inherited = &reader;
    let child = in_forked_child(|| {
        let child_pid = std::process::id() as i32;
        // The child's copy of the parent's reader, dropped here (the child exits without
        // unwinding, so its copy of `reader` on this stack is never dropped a second time).
        // SAFETY: in the forked child, this is the only owner that will ever be dropped.
        drop(unsafe { std::ptr::read(inherited) });
        if stream.registered_readers() != [(slot, me)] {
            return 10;
        }
        stream.write_frame(&[7u8; 4]).unwrap();
        if stream.last_writer() != Some(child_pid) {
            return 11; // the frame must be recorded as the child's, not the parent's
        }
        let own = stream.reader().unwrap();
        let mine = stream
            .registered_readers()
            .contains(&(own.slot().unwrap(), child_pid));
        if !mine {
            return 12; // the child's reader must be registered under the child's PID
        }
        0
    });
    if child != 0 {
        eprintln!("the forked child failed its check {child}");
        return child;
    }
    // Our registration survived the child's drop: still ours, and READY still set (a wait
    // returns the child's frame, not `Replaced`).
    let readers = Stream::open(&std::env::var("STREAM").unwrap())
        .unwrap()
        .registered_readers();
    if readers != [(slot, me)] {
        eprintln!("registered readers after the child: {readers:?}");
        return 20;
    }
    match reader.wait_timeout(Duration::from_secs(30)) {
        Ok(1) => 0,
        Err(Error::Replaced { .. }) => {
            eprintln!("the child's drop cleared our READY bit");
            21
        }
        other => {
            eprintln!("wait: {other:?}");
            22
        }
    }
}

fn a_forked_child_dropping_an_inherited_reader_leaves_the_parents_registration_alone() {
    let dir = StreamDir::new("fork-reader");
    let spec = StreamSpec::new(&[4], Datatype::U8).semaphores(4);
    Stream::create("forked", &spec.dir(dir.path())).unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "inherited_reader")
        .env("MILK_SHM_DIR", dir.path())
        .env("STREAM", "forked")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
}

fn main() {
    if cfg!(miri) {
        return;
    }
    match std::env::var(ROLE).as_deref() {
        Ok("inherited_reader") => std::process::exit(inherited_reader()),
        Ok(other) => panic!("unknown role {other}"),
        Err(_) => {}
    }
    a_forked_child_dropping_an_inherited_reader_leaves_the_parents_registration_alone();
    println!(
        "test a_forked_child_dropping_an_inherited_reader_leaves_the_parents_registration_alone ... ok"
    );
}
