//! Keyword writers racing each other, in threads and in processes, never leave a mixed entry, a
//! lost keyword or two entries of one name.

mod common;

use std::collections::HashMap;
use std::sync::Barrier;

use common::{StreamDir, arg, expect_success, role, spawn_child};
use shmim_core::{Datatype, Keyword, Stream, StreamSpec, Value};

/// Writers per run: threads with their own handle, threads sharing one handle, processes.
const OWN_HANDLE_THREADS: u32 = 2;
const SHARED_HANDLE_THREADS: u32 = 2;
const PROCESSES: u32 = 2;
/// Keywords each writer adds (each also rewrites the one name all writers share, every round).
const ROUNDS: u32 = 60;
const ENTRIES: u16 = 512;

/// Writer `id`'s round `k`: a name only it uses, and a value and comment that say who wrote them,
/// so an entry mixed from two writes reads as a mismatch.
fn own_entry(id: u32, k: u32) -> (String, Value, String) {
    (
        format!("W{id}K{k}"),
        Value::Long(i64::from(id * 10_000 + k)),
        format!("writer {id} round {k}"),
    )
}

fn shared_entry(id: u32, k: u32) -> (Value, String) {
    (
        Value::Long(i64::from(id * 10_000 + k)),
        format!("shared by writer {id} round {k}"),
    )
}

/// One writer's work: `ROUNDS` new names, and the shared name each round.
fn write_rounds(stream: &Stream, id: u32, start: Option<&Barrier>) {
    for k in 0..ROUNDS {
        if let Some(b) = start {
            b.wait();
        }
        let (name, value, comment) = own_entry(id, k);
        stream.set_keyword(&name, value, &comment).unwrap();
        let (value, comment) = shared_entry(id, k);
        stream.set_keyword("SHARED", value, &comment).unwrap();
    }
}

#[test]
fn child() {
    let Some(role) = role() else { return };
    assert_eq!(role, "keyword_writer");
    let dir = std::path::PathBuf::from(arg("MILK_SHM_DIR"));
    let id: u32 = arg("WRITER_ID").parse().unwrap();
    let stream = Stream::open_in(&dir, "kw").unwrap();
    write_rounds(&stream, id, None);
}

/// Every entry is one writer's complete entry; every name written is there exactly once.
fn check_entries(entries: &[Keyword], writers: u32) {
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, u16> = HashMap::new();
    for kw in entries {
        if let Some(first) = seen.insert(&kw.name, kw.index) {
            problems.push(format!("{} in entries {first} and {}", kw.name, kw.index));
        }
        let Value::Long(v) = kw.value else {
            problems.push(format!("entry {}: {kw:?} is not a writer's Long", kw.index));
            continue;
        };
        let (id, k) = ((v / 10_000) as u32, (v % 10_000) as u32);
        let expected = if kw.name == "SHARED" {
            let (value, comment) = shared_entry(id, k);
            ("SHARED".to_owned(), value, comment)
        } else {
            own_entry(id, k)
        };
        if (&kw.name, &kw.value, &kw.comment) != (&expected.0, &expected.1, &expected.2) {
            problems.push(format!("entry {} mixes two writes: {kw:?}", kw.index));
        }
    }
    for id in 0..writers {
        for k in 0..ROUNDS {
            let name = own_entry(id, k).0;
            if !seen.contains_key(name.as_str()) {
                problems.push(format!("{name} was lost"));
            }
        }
    }
    if !seen.contains_key("SHARED") {
        problems.push("SHARED was lost".into());
    }
    assert!(
        problems.is_empty(),
        "{} problems, the first ones: {:#?}",
        problems.len(),
        &problems[..problems.len().min(8)]
    );
}

#[test]
fn racing_keyword_writers_leave_complete_entries_and_one_entry_per_name() {
    let dir = StreamDir::new("kw-race");
    let spec = StreamSpec::new(&[4], Datatype::U8)
        .keywords(ENTRIES)
        .dir(dir.path());
    let shared = Stream::create("kw", &spec).unwrap();
    let threads = OWN_HANDLE_THREADS + SHARED_HANDLE_THREADS;
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            spawn_child(
                "child",
                "keyword_writer",
                dir.path(),
                &[("WRITER_ID", (threads + p).to_string())],
            )
        })
        .collect();
    let start = Barrier::new(threads as usize);
    std::thread::scope(|s| {
        for id in 0..OWN_HANDLE_THREADS {
            let (dir, start) = (dir.path(), &start);
            s.spawn(move || {
                let own = Stream::open_in(dir, "kw").unwrap();
                write_rounds(&own, id, Some(start));
            });
        }
        for id in OWN_HANDLE_THREADS..threads {
            let (shared, start) = (&shared, &start);
            s.spawn(move || write_rounds(shared, id, Some(start)));
        }
    });
    for c in children {
        expect_success(c);
    }
    check_entries(&shared.keywords().unwrap(), threads + PROCESSES);
}

#[test]
fn a_keyword_writer_that_never_lets_go_is_reported_not_waited_for() {
    use std::os::fd::AsFd;
    let dir = StreamDir::new("kw-held");
    let spec = StreamSpec::new(&[4], Datatype::U8)
        .keywords(4)
        .dir(dir.path());
    let stream = Stream::create("kw", &spec).unwrap();
    // Another open file description holds the keyword range, as a stopped writer would.
    let other = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.file("kw"))
        .unwrap();
    let region = stream.geometry().regions.keywords;
    let held = shmim_sync::range_lock::try_lock(other.as_fd(), region.offset, region.len)
        .unwrap()
        .expect("nobody else writes keywords");
    match stream.set_keyword("GAIN", Value::Double(0.5), "") {
        Err(shmim_core::Error::KeywordsLocked { path, .. }) => assert_eq!(path, dir.file("kw")),
        other => panic!("expected KeywordsLocked, got {other:?}"),
    }
    drop(held);
    assert_eq!(
        stream.set_keyword("GAIN", Value::Double(0.5), "").unwrap(),
        0
    );
}

#[test]
fn clearing_a_keyword_never_clears_another_name_added_meanwhile() {
    // Two threads set and clear one name; a third adds its own name, which must be there until
    // it clears it. A clear that looked the entry up and wrote it in two steps could find "X" at
    // index i, lose the race to the other clearer, and wipe the name added at i meanwhile.
    let dir = StreamDir::new("kw-clear");
    let spec = StreamSpec::new(&[4], Datatype::U8)
        .keywords(4)
        .dir(dir.path());
    let stream = Stream::create("kw", &spec).unwrap();
    let rounds = common::count_from_env("SHMIM_KEYWORD_CLEAR_ROUNDS", 20_000);
    std::thread::scope(|s| {
        for t in 0..2 {
            let stream = &stream;
            s.spawn(move || {
                for k in 0..rounds {
                    stream
                        .set_keyword("X", Value::Long(k), &format!("t{t}"))
                        .unwrap();
                    stream.clear_keyword("X").unwrap();
                }
            });
        }
        s.spawn(|| {
            for k in 0..rounds {
                stream.set_keyword("Y", Value::Long(k), "mine").unwrap();
                let y = stream.keyword("Y").unwrap();
                assert!(
                    y.as_ref().is_some_and(|y| y.value == Value::Long(k)),
                    "round {k}: Y was cleared by someone else: {y:?}"
                );
                assert!(stream.clear_keyword("Y").unwrap().is_some());
            }
        });
    });
    assert!(stream.keywords().unwrap().is_empty());
    assert_eq!(stream.clear_keyword("X").unwrap(), None, "nothing to clear");
}
