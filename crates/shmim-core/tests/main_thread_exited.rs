//! A process whose main thread has ended while another of its threads goes on is alive: what it
//! holds is never taken over.
//!
//! When the main thread of a process exits by itself (`pthread_exit`, or the raw `exit` system
//! call) and another thread goes on, the kernel shows the main thread, which `/proc/PID/stat`
//! describes, as a zombie. Judged by that state alone, such a process is dead: a reader reports
//! `WriterDied` for the frame its thread is writing, `recover_writer(false)` hands out a second
//! write guard, its reader slot is reclaimed and its segment lock taken over (all four were
//! observed). Here a holder process takes all four in a worker thread, then its main thread
//! exits: every one of them must be refused while the worker runs, and taken over once the
//! process has really ended (an unreaped zombie with no thread left).
//!
//! A test harness of its own (`harness = false`): the holder's main thread must be ours to end,
//! and libtest runs tests on threads of its own.

mod common;

use std::time::Duration;

use common::{Peer, StreamDir, command, eventually, reply, role};
use shmim_core::{Datatype, Error, Segment, Stream, StreamSpec};
use shmim_sync::liveness::{self, Liveness};

const PIXELS: usize = 1024;
const HALF: usize = PIXELS / 2;
const MARK: u32 = 0xCCCC_CCCC;
const TEST: &str = "a_process_whose_main_thread_exited_keeps_what_its_threads_hold";

/// Role: in a worker thread, register a reader, lock the segment, take the write guard and
/// write half a frame; publish it when told, then begin another when told and keep everything
/// until stdin closes, then exit holding it all. The main thread ends as soon as the worker runs.
fn holder() {
    let worker = std::thread::spawn(|| {
        let dir = std::env::var("MILK_SHM_DIR").unwrap();
        let mut stream = Stream::open_in(&dir, "held").unwrap();
        let segment = Segment::<u64>::open(&dir, "held").unwrap();
        let _reader = stream.reader().unwrap();
        let _lock = segment.lock().unwrap();
        let mut guard = stream.write().unwrap();
        guard.pixels_mut::<u32>().unwrap()[..HALF].fill(MARK);
        reply("holding");
        assert_eq!(command().as_deref(), Some("publish"));
        guard.pixels_mut::<u32>().unwrap()[HALF..].fill(MARK);
        reply(&format!("published {}", guard.commit().unwrap()));
        assert_eq!(command().as_deref(), Some("again"));
        let mut guard = stream.write().unwrap();
        guard.pixels_mut::<u32>().unwrap()[..HALF].fill(0);
        reply("holding again");
        while command().is_some() {}
        // Exit mid-frame with the flag, the lock and the slot still held.
        std::process::exit(0);
    });
    std::mem::forget(worker);
    // SAFETY: ends the calling (main) thread only, as `pthread_exit` would, without unwinding
    // through Rust frames; the worker thread owns everything it uses.
    unsafe { libc::syscall(libc::SYS_exit, 0) };
    unreachable!("the main thread ended");
}

/// The state letter of `/proc/PID/stat` (after the last `)`), if readable.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

fn a_process_whose_main_thread_exited_keeps_what_its_threads_hold() {
    let dir = StreamDir::new("main-thread-exited");
    let spec = StreamSpec::new(&[PIXELS as u32], Datatype::U32)
        .semaphores(1)
        .dir(dir.path());
    let mut stream = Stream::create("held", &spec).unwrap();
    stream.set_read_timeout(Duration::from_millis(200));
    let segment = Segment::create(dir.path(), "held", &0u64).unwrap();
    let mut holder = Peer::spawn(TEST, "holder", dir.path(), &[]);
    assert_eq!(holder.reply(), "holding");
    let pid = holder.pid() as i32;
    eventually("the holder's main thread to end", 30, || {
        state(pid) == Some('Z')
    });

    // Alive: its worker runs, mid-frame.
    assert_eq!(liveness::check(pid), Liveness::Alive);
    let mut buf = vec![0u32; PIXELS];
    match stream.read_into(&mut buf) {
        Err(Error::WriterStuck { writer, .. }) => assert_eq!(writer, pid),
        other => panic!("a live writer's half frame: expected WriterStuck, got {other:?}"),
    }
    let mut other = Stream::open_in(dir.path(), "held").unwrap();
    match other.recover_writer(false) {
        Err(Error::WriterBusy { writer }) => assert_eq!(writer, pid),
        Err(e) => panic!("expected WriterBusy, got {e}"),
        Ok(_) => panic!("recover_writer(false) took the flag of a live writer"),
    }
    assert!(
        matches!(stream.reader(), Err(Error::NoFreeSlot { .. })),
        "the live holder's reader slot was reclaimed"
    );
    assert!(
        segment.try_lock().unwrap().is_none(),
        "the live holder's segment lock was taken over"
    );

    // Its frame is its own to finish, and comes out whole.
    holder.send("publish");
    assert_eq!(holder.reply(), "published 1");
    assert_eq!(stream.read_into(&mut buf).unwrap(), 1);
    assert!(buf.iter().all(|&p| p == MARK), "frame 1 whole");
    holder.send("again");
    assert_eq!(holder.reply(), "holding again");

    // Its last thread ends mid-frame: dead (a zombie nobody reaps yet), everything is taken over.
    holder.close_stdin();
    eventually("the holder to be judged dead", 30, || {
        liveness::check(pid) == Liveness::Dead
    });
    match stream.read_into(&mut buf) {
        Err(Error::WriterDied { writer }) => assert_eq!(writer, pid),
        other => panic!("expected WriterDied, got {other:?}"),
    }
    let mut g = other.recover_writer(false).unwrap();
    g.copy_from(&vec![7u32; PIXELS]).unwrap();
    assert_eq!(g.commit().unwrap(), 2);
    assert_eq!(stream.reader().unwrap().slot(), Some(0));
    assert!(segment.lock().unwrap().previous_owner_died());
    assert!(holder.wait().success());
}

fn main() {
    if cfg!(miri) {
        return;
    }
    match role().as_deref() {
        Some("holder") => holder(),
        Some(other) => panic!("unknown role {other}"),
        None => {}
    }
    a_process_whose_main_thread_exited_keeps_what_its_threads_hold();
    println!("test {TEST} ... ok");
}
