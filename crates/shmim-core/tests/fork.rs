//! Readers and writers across `fork`: a forked child that drops an inherited `Reader` leaves the
//! parent's registration alone, whatever the child does itself is recorded under the child's
//! PID, never its parent's, and the frames a parent abandoned stay the parent's: a child never
//! adopts them (not even after recovering the flag from its dead parent), and never waits on the
//! abandon registry's lock a parent thread held at the fork.
//! Readers, writers, keyword writers and segment locks across `fork`: a forked child that drops
//! an inherited `Reader` leaves the parent's registration alone, and whatever the child does
//! itself is recorded under the child's PID, never its parent's; a child dropping an inherited
//! segment guard leaves its parent's lock alone; keyword writers of a parent and its child
//! (who share an open file description) still exclude each other, even when the fork caught
//! another thread in the middle of a keyword write.
//!
//! A test harness of its own (`harness = false`): `fork` is called only in a child process this
//! binary re-executes for that purpose (single-threaded, but for the one role whose point is a
//! busy second thread), never in the test's own process.

mod common;

use std::process::Command;
use std::time::Duration;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use common::StreamDir;
use shmim_core::{Datatype, Error, Segment, Stream, StreamSpec, Value};
use shmim_sync::liveness::{self, Liveness};

const ROLE: &str = "SHMIM_FORK_ROLE";

/// Runs `body` in a forked child and returns its exit code (a watchdog kills it after 60 s).
fn in_forked_child(body: impl FnOnce() -> i32) -> i32 {
    wait_child(fork_child(body))
}

/// Forks a child that runs `body` and exits with its result (70 if it panics).
fn fork_child(body: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: this process's threads are known (a re-executed role, no test harness): the
    // child runs ordinary code, as the roles below explain.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(70);
        // SAFETY: leaves the child without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    child
}

/// The exit code of forked `child`; -1 if a signal ended it, -2 if the 60 s watchdog killed it.
fn wait_child(child: libc::pid_t) -> i32 {
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

/// The stream a role works on (`STREAM`), opened by name.
fn open(name: &str) -> Stream {
    Stream::open(&std::env::var(name).unwrap()).unwrap()
}

/// Whether `taken` is a write guard refused because `writer` holds the flag.
fn refused_for(taken: &shmim_core::Result<shmim_core::WriteGuard<'_>>, writer: i32) -> bool {
    matches!(taken, Err(Error::WriterBusy { writer: w }) if *w == writer)
}

/// Role: abandon a frame, fork, and leave at once, as a daemon's parent does. The child waits
/// for the parent's death, recovers the flag it left (`recover_writer(false)`), and then a second
/// handle of the child must be refused: the parent's abandon record is not the child's to adopt.
/// The child writes its verdict to `RESULT` (the parent is gone, so no exit status reaches the
/// test) and has an alarm against hanging.
fn daemon_recovers_its_dead_parents_frame() -> i32 {
    let mut stream = open("STREAM");
    drop(stream.write().unwrap()); // abandoned: recorded in this process
    let parent = std::process::id() as i32;
    // SAFETY: this process is single-threaded (a re-executed role, no test harness).
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child > 0 {
        return 0;
    }
    // SAFETY: plain system calls in the single thread of the child.
    unsafe { libc::alarm(60) };
    let verdict = std::panic::catch_unwind(|| {
        let me = std::process::id() as i32;
        while liveness::check(parent) != Liveness::Dead {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut recoverer = open("STREAM");
        let Ok(guard) = recoverer.recover_writer(false) else {
            return 10; // the dead parent's flag must be recoverable
        };
        let mut second = open("STREAM");
        if !refused_for(&second.write(), me) {
            return 11; // two write guards in one process
        }
        if guard.commit().ok() != Some(1) || second.write_frame(&[1u8; 4]).ok() != Some(2) {
            return 12;
        }
        0
    })
    .unwrap_or(70);
    // Written aside, then renamed into place: the test reads it whole or not at all.
    let result = std::path::PathBuf::from(std::env::var("RESULT").unwrap());
    let aside = result.with_extension("tmp");
    std::fs::write(&aside, verdict.to_string()).unwrap();
    std::fs::rename(&aside, &result).unwrap();
    // SAFETY: ends the child without running the exit handlers it shares with the parent.
    unsafe { libc::_exit(verdict) }
}

/// Role: abandon a frame, fork; the child can neither write nor recover the parent's frame (its
/// claim names the live parent), abandons one of its own on another stream, and resumes that
/// through a second handle; afterwards the parent still resumes its own frame.
fn abandon_records_stay_with_their_process() -> i32 {
    let parent = std::process::id() as i32;
    let mut mine = open("STREAM");
    drop(mine.write().unwrap()); // the parent's abandoned frame
    let child = in_forked_child(|| {
        let mut parents = open("STREAM");
        if !refused_for(&parents.write(), parent) {
            return 10;
        }
        if !refused_for(&parents.recover_writer(false), parent) {
            return 11;
        }
        let mut own = open("OTHER");
        drop(own.write().unwrap()); // the child's own abandoned frame
        drop(own);
        if open("OTHER").write_frame(&[2u8; 4]).ok() != Some(1) {
            return 12; // a frame the child abandoned is the child's to resume
        }
        0
    });
    if child != 0 {
        eprintln!("the forked child failed its check {child}");
        return child;
    }
    match open("STREAM").write_frame(&[3u8; 4]) {
        Ok(1) => 0,
        other => {
            eprintln!("the parent's own abandoned frame after the fork: {other:?}");
            20
        }
    }
}

/// Role: a second thread abandons and resumes frames without pause (taking the abandon
/// registry's lock each time) while the main thread forks `ROUNDS` times; each child abandons and
/// resumes a frame of its own. A child that inherited a held lock would hang (its watchdog then
/// kills it: exit code -2).
fn fork_while_another_thread_uses_the_abandon_registry() -> i32 {
    const ROUNDS: u32 = 300;
    let mut busy = open("STREAM");
    std::thread::spawn(move || {
        loop {
            drop(busy.write().unwrap()); // abandon (records), then the next write adopts
        }
    });
    for round in 0..ROUNDS {
        let child = in_forked_child(|| {
            let mut own = open("OTHER");
            drop(own.write().unwrap());
            i32::from(own.write_frame(&[4u8; 4]).is_err())
        });
        if child != 0 {
            eprintln!("round {round}: the child ended with {child} (-2: it hung)");
            return 30;
        }
    }
    0
}

/// Runs this binary in `role` over fresh streams `forked` and `other`, with `RESULT` naming a
/// file in their directory; returns its exit status and the directory.
fn run_in_fresh_dir(role: &str) -> (std::process::ExitStatus, StreamDir) {
    let dir = StreamDir::new(&format!("fork-{role}"));
    let spec = StreamSpec::new(&[4], Datatype::U8).semaphores(4);
    Stream::create("forked", &spec.clone().dir(dir.path())).unwrap();
    Stream::create("other", &spec.dir(dir.path())).unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env("MILK_SHM_DIR", dir.path())
        .env("STREAM", "forked")
        .env("OTHER", "other")
        .env("RESULT", dir.path().join("result"))
        .status()
        .unwrap();
    (status, dir)
}

/// Runs `role` and asserts it succeeded (exit code 0).
fn role_succeeds(role: &str) {
    let (status, _dir) = run_in_fresh_dir(role);
    assert_eq!(status.code(), Some(0), "{role}: {status}");
}

fn a_forked_child_dropping_an_inherited_reader_leaves_the_parents_registration_alone() {
    role_succeeds("inherited_reader");
}

fn a_daemons_child_that_recovers_its_dead_parents_frame_holds_the_only_write_guard() {
    let (status, dir) = run_in_fresh_dir("daemon");
    assert_eq!(status.code(), Some(0), "{status}");
    let result = dir.path().join("result");
    common::eventually("the daemon's verdict", 90, || result.exists());
    assert_eq!(std::fs::read_to_string(&result).unwrap(), "0");
}

fn a_forked_child_neither_adopts_its_parents_abandoned_frame_nor_loses_its_own() {
    role_succeeds("records");
}

fn a_fork_while_another_thread_uses_the_abandon_registry_does_not_hang_the_child() {
    role_succeeds("registry");
}

/// The raw lock word of segment `name` in the stream directory.
fn segment_word(name: &str) -> u64 {
    let path = std::path::Path::new(&std::env::var("MILK_SHM_DIR").unwrap())
        .join(format!("{name}.seg.shm"));
    let mut word = [0u8; 8];
    std::fs::File::open(path)
        .unwrap()
        .read_exact_at(&mut word, 16)
        .unwrap();
    u64::from_ne_bytes(word)
}

/// Role: hold a segment's lock, fork; the child drops its copy of the guard. The lock must stay
/// ours: the word unchanged, and another process cannot take it.
fn inherited_segment_guard() -> i32 {
    let dir = std::env::var("MILK_SHM_DIR").unwrap();
    let seg = Segment::<u64>::create(&dir, "params", &0).unwrap();
    let mut guard = seg.lock().unwrap();
    *guard = 42;
    let held = segment_word("params");
    let inherited = &guard;
    let child = in_forked_child(|| {
        // SAFETY: in the forked child, this is the only owner of the copy that will ever be
        // dropped (the child exits without unwinding).
        drop(unsafe { std::ptr::read(inherited) });
        0
    });
    if child != 0 {
        return child;
    }
    if segment_word("params") != held {
        eprintln!(
            "the child's drop changed the word: {held:#x} -> {:#x}",
            segment_word("params")
        );
        return 30;
    }
    let other = in_forked_child(|| {
        let seg = Segment::<u64>::open(&dir, "params").unwrap();
        match seg.lock_timeout(Duration::from_millis(50)) {
            Err(Error::Lock(_)) => 0,
            Ok(_) => 31, // another process got the lock while we hold it
            Err(_) => 32,
        }
    });
    *guard = 43;
    drop(guard);
    other
}

/// Keywords each of the parent and its child add in [`keyword_writers_across_fork`].
const FORK_KEYWORDS: u32 = 200;

/// Adds `FORK_KEYWORDS` names `TAG0…` with values and comments that say who wrote them.
fn add_keywords(stream: &Stream, tag: &str) {
    for k in 0..FORK_KEYWORDS {
        let (name, value, comment) = fork_keyword(tag, k);
        stream.set_keyword(&name, value, &comment).unwrap();
    }
}

fn fork_keyword(tag: &str, k: u32) -> (String, Value, String) {
    (
        format!("{tag}{k}"),
        Value::Long(i64::from(k)),
        format!("by {tag} {k}"),
    )
}

/// Role: the parent and a forked child add keywords to the one `Stream` at the same time. They
/// share the handle's open file description (an OFD lock on it excludes neither) and each has a
/// copy of its in-process lock: without a description of the child's own, entries were lost.
fn keyword_writers_across_fork() -> i32 {
    let stream = Stream::open(&std::env::var("STREAM").unwrap()).unwrap();
    let child = fork_child(|| {
        add_keywords(&stream, "C");
        0
    });
    add_keywords(&stream, "P");
    let code = wait_child(child);
    if code != 0 {
        return code;
    }
    let mut names: HashMap<String, u32> = HashMap::new();
    let mut bad = 0;
    for kw in stream.keywords().unwrap() {
        *names.entry(kw.name.clone()).or_default() += 1;
        let tag = &kw.name[..1];
        let k: u32 = kw.name[1..].parse().unwrap_or(u32::MAX);
        let (_, value, comment) = fork_keyword(tag, k);
        if (kw.value, kw.comment) != (value, comment) {
            bad += 1;
        }
    }
    let lost = (0..FORK_KEYWORDS)
        .flat_map(|k| [format!("P{k}"), format!("C{k}")])
        .filter(|n| !names.contains_key(n))
        .count();
    let twice = names.values().filter(|&&n| n > 1).count();
    if (lost, twice, bad) != (0, 0, 0) {
        eprintln!("lost {lost} names, {twice} names twice, {bad} mixed entries");
        return 40;
    }
    0
}

/// Role: a thread of ours is inside `set_keyword` (holding the in-process keyword lock, waiting
/// for the file lock another description holds) when the main thread forks. The child's own
/// `set_keyword` must not hang on the copy of the lock. (This role has two threads when it
/// forks — the point of the test; the child only writes a keyword and exits.)
fn keyword_write_after_a_fork_inside_another_writer() -> i32 {
    let name = std::env::var("STREAM").unwrap();
    let stream = Stream::open(&name).unwrap();
    let blocker = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(
            std::path::Path::new(&std::env::var("MILK_SHM_DIR").unwrap())
                .join(format!("{name}.im.shm")),
        )
        .unwrap();
    let region = stream.geometry().regions.keywords;
    let held = shmim_sync::range_lock::try_lock(blocker.as_fd(), region.offset, region.len)
        .unwrap()
        .expect("nobody writes keywords yet");
    std::thread::scope(|s| {
        let writer = s.spawn(|| stream.set_keyword("THREAD", Value::Long(1), ""));
        // Give the writer time to take the in-process lock and start waiting for the file lock
        // (microseconds of work): a window to fork in, not a performance bound.
        std::thread::sleep(Duration::from_millis(200));
        let child = fork_child(|| match stream.set_keyword("CHILD", Value::Long(2), "") {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("child: {e}");
                50
            }
        });
        drop(held);
        let code = wait_child(child);
        writer.join().unwrap().unwrap();
        if code != 0 {
            eprintln!("the child's set_keyword failed or hung: {code}");
            return code;
        }
        let names: Vec<String> = stream
            .keywords()
            .unwrap()
            .into_iter()
            .map(|k| k.name)
            .collect();
        if names.len() != 2 || !names.contains(&"CHILD".to_owned()) {
            eprintln!("keywords after both writes: {names:?}");
            return 51;
        }
        0
    })
}

/// Runs this binary in `role` with `MILK_SHM_DIR` = `dir` and `STREAM` = `stream`; asserts
/// that it exits with 0.
fn run_role(role: &str, dir: &StreamDir, stream: &str) {
    let status = Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env("MILK_SHM_DIR", dir.path())
        .env("STREAM", stream)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0), "role {role}: {status}");
}

fn a_forked_child_dropping_an_inherited_segment_guard_leaves_the_parents_lock_alone() {
    run_role("inherited_segment_guard", &StreamDir::new("fork-seg"), "");
}

fn keyword_writers_of_a_parent_and_its_forked_child_exclude_each_other() {
    let dir = StreamDir::new("fork-kw");
    let spec = StreamSpec::new(&[4], Datatype::U8).keywords(1024);
    Stream::create("kw", &spec.dir(dir.path())).unwrap();
    run_role("keyword_writers_across_fork", &dir, "kw");
}

fn a_child_forked_while_another_thread_writes_a_keyword_can_write_keywords() {
    let dir = StreamDir::new("fork-kw-held");
    let spec = StreamSpec::new(&[4], Datatype::U8).keywords(8);
    Stream::create("kw", &spec.dir(dir.path())).unwrap();
    run_role(
        "keyword_write_after_a_fork_inside_another_writer",
        &dir,
        "kw",
    );
}

fn main() {
    if cfg!(miri) {
        return;
    }
    match std::env::var(ROLE).as_deref() {
        Ok("inherited_reader") => std::process::exit(inherited_reader()),
        Ok("daemon") => std::process::exit(daemon_recovers_its_dead_parents_frame()),
        Ok("records") => std::process::exit(abandon_records_stay_with_their_process()),
        Ok("registry") => std::process::exit(fork_while_another_thread_uses_the_abandon_registry()),
        Ok("inherited_segment_guard") => std::process::exit(inherited_segment_guard()),
        Ok("keyword_writers_across_fork") => std::process::exit(keyword_writers_across_fork()),
        Ok("keyword_write_after_a_fork_inside_another_writer") => {
            std::process::exit(keyword_write_after_a_fork_inside_another_writer())
        }
        Ok(other) => panic!("unknown role {other}"),
        Err(_) => {}
    }
    let tests: [(&str, fn()); 7] = [
        (
            "a_forked_child_dropping_an_inherited_reader_leaves_the_parents_registration_alone",
            a_forked_child_dropping_an_inherited_reader_leaves_the_parents_registration_alone,
        ),
        (
            "a_daemons_child_that_recovers_its_dead_parents_frame_holds_the_only_write_guard",
            a_daemons_child_that_recovers_its_dead_parents_frame_holds_the_only_write_guard,
        ),
        (
            "a_forked_child_neither_adopts_its_parents_abandoned_frame_nor_loses_its_own",
            a_forked_child_neither_adopts_its_parents_abandoned_frame_nor_loses_its_own,
        ),
        (
            "a_fork_while_another_thread_uses_the_abandon_registry_does_not_hang_the_child",
            a_fork_while_another_thread_uses_the_abandon_registry_does_not_hang_the_child,
        ),
        (
            "a_forked_child_dropping_an_inherited_segment_guard_leaves_the_parents_lock_alone",
            a_forked_child_dropping_an_inherited_segment_guard_leaves_the_parents_lock_alone,
        ),
        (
            "keyword_writers_of_a_parent_and_its_forked_child_exclude_each_other",
            keyword_writers_of_a_parent_and_its_forked_child_exclude_each_other,
        ),
        (
            "a_child_forked_while_another_thread_writes_a_keyword_can_write_keywords",
            a_child_forked_while_another_thread_writes_a_keyword_can_write_keywords,
        ),
    ];
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
}
