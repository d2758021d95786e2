//! The write guard and registered readers behave as protocol.md says (one process; cross-process
//! behaviour is in `cross_process.rs`).

mod common;

use std::time::Duration;

use common::{StreamDir, try_wait_until};
use shmim_core::{Datatype, Error, ImageType, Stream, StreamSpec, Value, Woken};

fn stream(dir: &StreamDir, name: &str, spec: StreamSpec) -> Stream {
    Stream::create(name, &spec.dir(dir.path())).unwrap()
}

#[test]
fn commit_publishes_and_wakes_every_registered_reader() {
    let dir = StreamDir::new("commit");
    let mut w = stream(
        &dir,
        "s",
        StreamSpec::new(&[4], Datatype::U32).semaphores(3),
    );
    let readers: Vec<_> = (0..3).map(|_| w.reader().unwrap()).collect();
    assert_eq!(
        readers.iter().map(|r| r.slot()).collect::<Vec<_>>(),
        [Some(0), Some(1), Some(2)]
    );
    assert_eq!(w.write_frame(&[1u32, 2, 3, 4]).unwrap(), 1);
    for mut r in readers {
        assert_eq!(r.wait_timeout(Duration::from_secs(5)).unwrap(), 1);
        let mut buf = [0u32; 4];
        assert_eq!(r.read_into(&mut buf).unwrap(), 1);
        assert_eq!(buf, [1, 2, 3, 4]);
    }
    let md = w.metadata().unwrap();
    assert_eq!(
        (md.cnt0, md.write, md.claim_pid, md.claim_ticket),
        (1, false, 0, 1),
        "the claim is cleared with the flag; the ticket is the next writer's"
    );
    assert_eq!(md.owner_pid, 0, "ownerPID is milk's, never ours");
    assert_eq!(w.last_writer(), Some(std::process::id() as i32));
    assert!(md.write_time.tv_sec > 0 && md.atime == md.write_time);
}

#[test]
fn reader_slots_are_released_on_drop_and_exhaustion_is_an_error() {
    let dir = StreamDir::new("slots");
    let w = stream(&dir, "s", StreamSpec::new(&[1], Datatype::U8).semaphores(2));
    let a = w.reader().unwrap();
    let b = w.reader_at(1).unwrap();
    assert_eq!((a.slot(), b.slot()), (Some(0), Some(1)));
    assert!(matches!(
        w.reader(),
        Err(Error::NoFreeSlot { slots: 2, .. })
    ));
    drop(a);
    assert_eq!(w.reader().unwrap().slot(), Some(0));
    assert!(matches!(w.reader_at(2), Err(Error::IndexOutOfRange { .. })));
    let none = stream(
        &dir,
        "nosem",
        StreamSpec::new(&[1], Datatype::U8).semaphores(0),
    );
    assert!(matches!(
        none.reader(),
        Err(Error::NoFreeSlot { slots: 0, .. })
    ));
}

#[test]
fn abandoned_write_is_never_accepted_and_the_next_commit_recovers() {
    let dir = StreamDir::new("abandon");
    let mut w = stream(&dir, "s", StreamSpec::new(&[8], Datatype::U8));
    w.write_frame(&[1u8; 8]).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut g = w.write().unwrap();
        g.pixels_mut::<u8>().unwrap()[..4].fill(9);
        panic!("writer fails mid-frame");
    }));
    assert!(result.is_err());

    let mut r = Stream::open_in(dir.path(), "s").unwrap();
    r.set_read_timeout(Duration::from_millis(20));
    let mut buf = [0u8; 8];
    match r.read_into(&mut buf) {
        Err(Error::WriterStuck { writer, .. }) => assert_eq!(writer, std::process::id() as i32),
        other => panic!("expected WriterStuck, got {other:?}"),
    }
    assert!(r.is_writing());
    assert!(matches!(
        r.busy_wait_for_no_write(Duration::from_millis(10)),
        Err(Error::WriterStuck { .. })
    ));

    // The owning handle resumes its own flag; the next commit publishes a complete frame.
    assert_eq!(w.write_frame(&[2u8; 8]).unwrap(), 2);
    assert_eq!(r.read_into(&mut buf).unwrap(), 2);
    assert_eq!(buf, [2; 8]);
}

#[test]
fn a_second_writer_is_refused_while_the_flag_is_held() {
    let dir = StreamDir::new("twowriters");
    let mut a = stream(&dir, "s", StreamSpec::new(&[2], Datatype::U8));
    let mut b = Stream::open_in(dir.path(), "s").unwrap();
    let g = a.write().unwrap();
    assert!(matches!(b.write(), Err(Error::WriterBusy { .. })));
    assert!(
        matches!(b.recover_writer(false), Err(Error::WriterBusy { .. })),
        "owner alive: no take-over"
    );
    g.commit().unwrap();
    assert_eq!(b.write_frame(&[1u8, 1]).unwrap(), 2);
}

#[test]
fn forced_take_over_publishes_a_new_frame() {
    let dir = StreamDir::new("takeover");
    let mut a = stream(&dir, "s", StreamSpec::new(&[2], Datatype::U8));
    drop(a.write().unwrap()); // abandoned
    let mut b = Stream::open_in(dir.path(), "s").unwrap();
    let mut g = b.recover_writer(true).unwrap();
    g.copy_from(&[5u8, 5]).unwrap();
    assert_eq!(g.commit().unwrap(), 1);
    assert!(!b.is_writing());
}

#[test]
fn a_frame_abandoned_by_a_dropped_handle_is_resumed_by_the_next_handle_of_the_process() {
    let dir = StreamDir::new("abandon-dropped");
    let mut a = stream(&dir, "s", StreamSpec::new(&[2], Datatype::U8));
    drop(a.write().unwrap()); // abandoned
    drop(a);
    let mut b = Stream::open_in(dir.path(), "s").unwrap();
    assert!(b.is_writing(), "the half frame stays flagged");
    let mut g = b
        .write()
        .expect("this process's abandoned frame is resumed");
    g.copy_from(&[3u8, 3]).unwrap();
    assert_eq!(g.commit().unwrap(), 1);

    // The same through recover_writer(false), which refuses a live claim but not our own
    // abandoned one.
    drop(b.write().unwrap());
    drop(b);
    let mut c = Stream::open_in(dir.path(), "s").unwrap();
    assert_eq!(c.recover_writer(false).unwrap().commit().unwrap(), 2);
}

#[test]
fn two_threads_racing_to_adopt_an_abandoned_frame_get_exactly_one_guard() {
    let dir = StreamDir::new("abandon-race");
    let mut a = stream(&dir, "s", StreamSpec::new(&[2], Datatype::U8));
    for round in 0..200 {
        drop(a.write().unwrap()); // abandoned by `a`, which stays open
        let barrier = std::sync::Barrier::new(2);
        let won: Vec<bool> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..2)
                .map(|_| {
                    let barrier = &barrier;
                    let mut h = Stream::open_in(dir.path(), "s").unwrap();
                    s.spawn(move || {
                        barrier.wait();
                        let guard = h.write();
                        let won = guard.is_ok();
                        // Hold the guard until both have tried.
                        barrier.wait();
                        if let Ok(g) = guard {
                            g.commit().unwrap();
                        }
                        won
                    })
                })
                .collect();
            racers.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(
            won.iter().filter(|&&w| w).count(),
            1,
            "round {round}: {won:?}"
        );
        assert!(!a.is_writing());
    }
}

#[test]
fn a_stale_abandon_record_never_hands_out_a_flag_another_handle_holds() {
    let dir = StreamDir::new("abandon-stale");
    let mut a = stream(&dir, "s", StreamSpec::new(&[2], Datatype::U8));
    drop(a.write().unwrap()); // abandoned and recorded
    let mut b = Stream::open_in(dir.path(), "s").unwrap();
    assert_eq!(b.recover_writer(true).unwrap().commit().unwrap(), 1);
    // The record is stale now: the flag was taken over and published since.
    let mut c = Stream::open_in(dir.path(), "s").unwrap();
    let held = c.write().unwrap();
    let mut d = Stream::open_in(dir.path(), "s").unwrap();
    assert!(matches!(d.write(), Err(Error::WriterBusy { .. })));
    held.commit().unwrap();
    assert_eq!(d.write_frame(&[1u8, 1]).unwrap(), 3);
    drop(a);
}

#[test]
fn forcing_our_own_abandoned_flag_consumes_its_record() {
    let dir = StreamDir::new("abandon-forced");
    let mut a = stream(&dir, "s", StreamSpec::new(&[2], Datatype::U8));
    drop(a.write().unwrap()); // abandoned and recorded
    let mut b = Stream::open_in(dir.path(), "s").unwrap();
    let held = b.recover_writer(true).unwrap(); // same ticket as the record: no publish yet
    let mut c = Stream::open_in(dir.path(), "s").unwrap();
    assert!(
        matches!(c.write(), Err(Error::WriterBusy { .. })),
        "the forced flag is b's alone"
    );
    assert_eq!(held.commit().unwrap(), 1);
    assert_eq!(c.write_frame(&[1u8, 1]).unwrap(), 2);
}

#[test]
fn a_process_local_image_resumes_its_abandoned_frame_through_recover_writer() {
    let spec = StreamSpec::new(&[2], Datatype::U8);
    let mut local = Stream::create_local("local-abandon", &spec).unwrap();
    drop(local.write().unwrap());
    assert_eq!(local.recover_writer(false).unwrap().commit().unwrap(), 1);
}

#[test]
fn a_held_frame_is_its_handles_alone_until_resumed() {
    let dir = StreamDir::new("held");
    let mut a = stream(&dir, "s", StreamSpec::new(&[4], Datatype::U8));
    a.write_frame(&[1u8; 4]).unwrap();
    let mut g = a.write().unwrap();
    g.copy_from(&[7u8; 4]).unwrap();
    let held = g.hold();

    // Another handle of this very process: refused, as under a live guard (an abandoned frame
    // would be adopted here).
    let mut b = Stream::open_in(dir.path(), "s").unwrap();
    assert!(matches!(b.write(), Err(Error::WriterBusy { .. })));
    assert!(matches!(
        b.recover_writer(false),
        Err(Error::WriterBusy { .. })
    ));
    b.set_read_timeout(Duration::from_millis(20));
    let mut buf = [0u8; 4];
    assert!(
        matches!(b.read_into(&mut buf), Err(Error::WriterStuck { .. })),
        "readers never see the held frame as published"
    );

    let g = a.resume(held).unwrap();
    assert_eq!(g.commit().unwrap(), 2);
    assert_eq!(b.read_into(&mut buf).unwrap(), 2);
    assert_eq!(buf, [7; 4]);
    let me = std::process::id() as i32;
    assert_eq!(
        b.semaphore_writers(),
        vec![me; 10],
        "every post recorded its writer"
    );
}

/// A 2-byte stream `s` in a new directory: a handle `a` holding a frame, and a second handle.
fn held_frame(tag: &str) -> (StreamDir, Stream, shmim_core::HeldWrite, Stream) {
    let dir = StreamDir::new(tag);
    let mut a = stream(&dir, "s", StreamSpec::new(&[2], Datatype::U8));
    let held = a.write().unwrap().hold();
    let b = Stream::open_in(dir.path(), "s").unwrap();
    (dir, a, held, b)
}

#[test]
fn a_dropped_held_frame_is_an_abandon_the_next_writer_of_the_process_resumes() {
    let (_dir, a, held, mut b) = held_frame("held-dropped");
    drop(held);
    drop(a);
    assert!(b.is_writing());
    assert_eq!(b.write_frame(&[3u8, 3]).unwrap(), 1);
}

#[test]
fn a_held_frame_is_resumed_only_through_the_handle_that_held_it() {
    let (_dir, mut a, held, mut b) = held_frame("held-elsewhere");
    match b.resume(held) {
        Err(Error::HeldElsewhere { name }) => assert_eq!(name, "s"),
        Err(e) => panic!("expected HeldElsewhere, got {e}"),
        Ok(_) => panic!("another handle resumed the held frame"),
    }
    // The refused frame was abandoned: any writer of this process resumes it now.
    assert_eq!(b.write_frame(&[4u8, 4]).unwrap(), 1);
    assert_eq!(a.write_frame(&[5u8, 5]).unwrap(), 2);
}

#[test]
fn a_held_frame_forced_away_and_published_is_not_resumed_over_its_new_holder() {
    let (dir, mut a, held, mut b) = held_frame("held-forced");
    assert_eq!(b.recover_writer(true).unwrap().commit().unwrap(), 1);
    let c_guard = {
        let mut c = Stream::open_in(dir.path(), "s").unwrap();
        let g = c.write().unwrap().hold();
        (c, g)
    };
    // The ticket moved with b's publish: a's hold is stale, and c holds the flag now.
    assert!(matches!(a.resume(held), Err(Error::WriterBusy { .. })));
    let (mut c, g) = c_guard;
    assert_eq!(c.resume(g).unwrap().commit().unwrap(), 2);
}

#[test]
fn a_process_local_image_resumes_a_held_frame() {
    let spec = StreamSpec::new(&[2], Datatype::U8);
    let mut local = Stream::create_local("local-held", &spec).unwrap();
    let held = local.write().unwrap().hold();
    assert_eq!(local.resume(held).unwrap().commit().unwrap(), 1);
    drop(local.write().unwrap().hold());
    assert_eq!(
        local.write_frame(&[1u8, 1]).unwrap(),
        2,
        "dropped: kept as an abandon"
    );
}

#[test]
fn a_create_that_may_not_replace_refuses_an_existing_stream_and_racing_creators_get_one_stream() {
    let dir = StreamDir::new("noreplace");
    let spec = StreamSpec::new(&[2], Datatype::U8)
        .dir(dir.path())
        .replace(false);
    let first = Stream::create("s", &spec).unwrap();
    match Stream::create("s", &spec) {
        Err(Error::Occupied { path, .. }) => assert!(path.ends_with("s.im.shm")),
        other => panic!("expected Occupied, got {other:?}"),
    }
    assert!(
        !first.inode_changed().unwrap(),
        "the existing stream is untouched"
    );

    // Creators racing for a free name: a check before the rename would let every one of them
    // "succeed", each replacing the last; with RENAME_NOREPLACE exactly one does.
    for round in 0..50 {
        let name = format!("race{round}");
        let barrier = std::sync::Barrier::new(4);
        let won = std::thread::scope(|s| {
            let racers: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        match Stream::create(&name, &spec) {
                            Ok(_) => true,
                            Err(Error::Occupied { .. }) => false,
                            Err(e) => panic!("round {round}: {e}"),
                        }
                    })
                })
                .collect::<Vec<_>>();
            racers
                .into_iter()
                .map(|t| t.join().unwrap())
                .filter(|&w| w)
                .count()
        });
        assert_eq!(won, 1, "round {round}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary file left: {leftovers:?}"
    );
}

#[test]
fn keywords_round_trip_field_for_field() {
    let dir = StreamDir::new("keywords");
    let s = stream(&dir, "s", StreamSpec::new(&[1], Datatype::U8).keywords(3));
    assert_eq!(
        s.set_keyword("GAIN", Value::Long(-7), "detector gain")
            .unwrap(),
        0
    );
    assert_eq!(
        s.set_keyword("EXPTIME", Value::Double(1.5e-3), "").unwrap(),
        1
    );
    assert_eq!(
        s.set_keyword("MODE", Value::Str("fast".into()), "readout")
            .unwrap(),
        2
    );
    assert_eq!(
        s.set_keyword("GAIN", Value::Long(8), "detector gain")
            .unwrap(),
        0,
        "same name, same entry"
    );
    assert!(matches!(
        s.set_keyword("MORE", Value::Long(1), ""),
        Err(Error::KeywordsFull { count: 3 })
    ));
    let r = Stream::open_in(dir.path(), "s").unwrap();
    let gain = r.keyword("GAIN").unwrap().unwrap();
    assert_eq!(
        (gain.value, gain.comment.as_str(), gain.cnt),
        (Value::Long(8), "detector gain", 2)
    );
    assert_eq!(r.keyword_at(1).unwrap().value, Value::Double(1.5e-3));
    assert_eq!(
        r.keyword("MODE").unwrap().unwrap().value,
        Value::Str("fast".into())
    );
    assert!(matches!(
        s.set_keyword("WAY_TOO_LONG_NAME", Value::Long(1), ""),
        Err(Error::KeywordTooLong { what: "name", .. })
    ));
    // A NUL is not a length problem: C would read the name as ending there.
    assert!(matches!(
        s.set_keyword("k\0", Value::Long(1), ""),
        Err(Error::KeywordNul {
            what: "name",
            at: 1,
            ..
        })
    ));
    assert!(matches!(
        s.set_keyword_at(0, "S", Value::Str("sixteen chars!!!".into()), ""),
        Err(Error::KeywordTooLong { .. })
    ));
    assert!(matches!(
        s.set_keyword_at(0, "C", Value::Long(0), &"c".repeat(80)),
        Err(Error::KeywordTooLong {
            what: "comment",
            ..
        })
    ));
    assert!(matches!(
        s.keyword_at(3),
        Err(Error::IndexOutOfRange { .. })
    ));
}

#[test]
fn circular_buffer_wraps_and_counts_its_cycles() {
    let dir = StreamDir::new("cb");
    let mut s = stream(
        &dir,
        "s",
        StreamSpec::new(&[2, 2], Datatype::I16).circular_buffer(3),
    );
    for f in 1..=7i16 {
        s.write_frame(&[f; 4]).unwrap();
    }
    // Slot after frame f is f mod 3; seven frames wrap twice.
    assert_eq!(s.cb_position(), (1, 2));
    let mut buf = [0i16; 4];
    for (slot, frame) in [(1u32, 7i16), (0, 6), (2, 5)] {
        let md = s.read_cb_frame_into(slot, &mut buf).unwrap();
        assert_eq!((buf, md.cnt0), ([frame; 4], frame as u64));
    }
    assert!(matches!(
        s.read_cb_frame_into(3, &mut buf),
        Err(Error::IndexOutOfRange { .. })
    ));
}

#[test]
fn cube_slices_follow_the_legacy_index_rules() {
    let dir = StreamDir::new("cube");
    let spec = StreamSpec::new(&[2, 2, 3], Datatype::U8)
        .imagetype(ImageType::CIRCULAR_BUFFER | ImageType::ZAXIS_TEMPORAL);
    let mut s = stream(&dir, "s", spec);
    assert!(s.has_slices());
    assert_eq!(
        (s.slice_count(), s.write_index(), s.last_written_index()),
        (3, 1, 0)
    );
    let mut g = s.write().unwrap();
    g.copy_slice_from(1, &[7u8; 4]).unwrap();
    g.set_cnt1(1);
    assert!(matches!(
        g.copy_slice_from(3, &[0u8; 4]),
        Err(Error::IndexOutOfRange { .. })
    ));
    g.commit().unwrap();
    assert_eq!((s.write_index(), s.last_written_index()), (2, 1));
    let mut r = s.poller();
    let mut slice = [0u8; 4];
    r.read_slice_into(1, &mut slice).unwrap();
    assert_eq!(slice, [7; 4]);
}

#[test]
fn a_blocked_reader_of_a_replaced_stream_returns_replaced_and_handles_can_follow() {
    let dir = StreamDir::new("replace");
    let spec = StreamSpec::new(&[4], Datatype::U8).dir(dir.path());
    let old = Stream::create("s", &spec).unwrap();
    let mut follower = Stream::open_in(dir.path(), "s").unwrap();
    let mut reader = old.reader().unwrap();
    let waiter = std::thread::spawn(move || reader.wait_timeout(Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(20));
    let mut new =
        Stream::create("s", &StreamSpec::new(&[8], Datatype::U8).dir(dir.path())).unwrap();
    assert!(matches!(
        waiter.join().unwrap(),
        Err(Error::Replaced { .. })
    ));

    assert!(follower.inode_changed().unwrap());
    assert!(follower.reopen_if_replaced().unwrap());
    assert_eq!(follower.shape(), &[8]);
    assert!(!follower.reopen_if_replaced().unwrap());
    new.write_frame(&[3u8; 8]).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(follower.read_into(&mut buf).unwrap(), 1);
}

/// One call of each wait strategy, bounded by a watchdog far longer than the 100 ms within which
/// a replacement must be noticed.
const STRATEGIES: [&str; 6] = [
    "wait",
    "wait_timeout",
    "try_wait",
    "wait_latest",
    "poll_spin",
    "wait_hybrid",
];

fn wait_with(strategy: &str, r: &mut shmim_core::Reader) -> shmim_core::Result<u64> {
    let watchdog = Duration::from_secs(30);
    match strategy {
        "wait" => r.wait(),
        "wait_timeout" => r.wait_timeout(watchdog),
        "try_wait" => {
            try_wait_until(r, std::time::Instant::now() + watchdog)?.ok_or(Error::Timeout(watchdog))
        }
        "wait_latest" => r.wait_latest(watchdog),
        "poll_spin" => r.poll_spin(std::time::Instant::now() + watchdog),
        "wait_hybrid" => r.wait_hybrid(Duration::from_micros(100), watchdog),
        other => unreachable!("{other}"),
    }
}

/// Starts a reader of `s` waiting with `strategy` in a thread, lets it block, runs `change`,
/// and returns what the wait returned.
fn waiting_through(
    dir: &StreamDir,
    strategy: &'static str,
    change: impl FnOnce(),
) -> shmim_core::Result<u64> {
    let old = Stream::open_in(dir.path(), "s").unwrap();
    let mut reader = old.reader().unwrap();
    let waiter = std::thread::spawn(move || wait_with(strategy, &mut reader));
    std::thread::sleep(Duration::from_millis(20));
    change();
    let got = waiter.join().unwrap();
    assert_eq!(
        old.semaphore_values(),
        vec![0; old.semaphore_values().len()],
        "{strategy}: nothing may be posted on the old file"
    );
    got
}

/// For every strategy, on a fresh stream: what a blocked wait returns when `change` runs.
fn every_strategy_through(
    tag: &str,
    change: impl Fn(&StreamDir, &StreamSpec),
) -> Vec<(&'static str, shmim_core::Result<u64>)> {
    STRATEGIES
        .into_iter()
        .map(|strategy| {
            let dir = StreamDir::new(tag);
            let spec = StreamSpec::new(&[4], Datatype::U8).dir(dir.path());
            Stream::create("s", &spec).unwrap();
            (
                strategy,
                waiting_through(&dir, strategy, || change(&dir, &spec)),
            )
        })
        .collect()
}

#[test]
fn replacing_a_stream_posts_nothing_and_every_wait_strategy_returns_replaced() {
    let results = every_strategy_through("replaced-strategies", |_, spec| {
        Stream::create("s", spec).unwrap();
    });
    for (strategy, got) in results {
        assert!(
            matches!(got, Err(Error::Replaced { .. })),
            "{strategy}: {got:?}"
        );
    }
}

#[test]
fn deleting_a_stream_makes_every_wait_strategy_return_removed() {
    let results = every_strategy_through("removed-strategies", |dir, _| {
        std::fs::remove_file(dir.file("s")).unwrap()
    });
    for (strategy, got) in results {
        match got {
            Err(Error::Removed { path, .. }) => assert!(path.ends_with("s.im.shm"), "{path:?}"),
            other => panic!("{strategy}: expected Removed, got {other:?}"),
        }
    }
}

/// A writer that still maps a replaced stream's old file keeps publishing there (a process that
/// never checks the inode). In lock-step with it (a frame, a millisecond's sleep, one wait) the
/// reader gets `Ok` for each old frame until its wait says why it stopped; panics if that never
/// happens within 1000 frames, which take more than a second: ten times the 100 ms promise.
fn frames_until_the_wait_fails(
    strategy: &str,
    reader: &mut shmim_core::Reader,
    old_writer: &mut Stream,
) -> (u32, Error) {
    for returned in 0..1000 {
        old_writer.write_frame(&[returned as u8; 4]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
        if let Err(e) = wait_with(strategy, reader) {
            return (returned, e);
        }
    }
    panic!("{strategy}: 1000 frames of the replaced file returned, over a second");
}

/// Replaces stream `s` of `dir` as a legacy creator would: a complete new file renamed onto the
/// path, the old file's `READY` bits untouched (so only the path tells).
fn replace_by_rename(dir: &StreamDir, spec: &StreamSpec) {
    let side = StreamDir::new("replacement-side");
    Stream::create("s", &spec.clone().dir(side.path())).unwrap();
    std::fs::rename(side.file("s"), dir.file("s")).unwrap();
}

#[test]
fn a_reader_whose_replaced_stream_still_gets_frames_says_replaced_within_100_ms() {
    for strategy in STRATEGIES {
        for (how, replace) in [
            (
                "create",
                (|_, spec| drop(Stream::create("s", spec).unwrap())) as fn(&_, &_),
            ),
            ("rename", replace_by_rename),
        ] {
            let dir = StreamDir::new("replaced-live-writer");
            let spec = StreamSpec::new(&[4], Datatype::U8).dir(dir.path());
            let old = Stream::create("s", &spec).unwrap();
            let mut old_writer = Stream::open_in(dir.path(), "s").unwrap();
            let mut reader = old.reader().unwrap();
            replace(&dir, &spec);
            let (returned, e) = frames_until_the_wait_fails(strategy, &mut reader, &mut old_writer);
            assert!(
                matches!(e, Error::Replaced { .. }),
                "{strategy}, {how}: {e}"
            );
            if how == "create" {
                // The creator cleared READY on our slot: seen by the first wait, not 100 ms later.
                assert_eq!(
                    returned, 0,
                    "{strategy}: frames of the replaced file returned"
                );
            }
        }
    }
    // A poller has no slot: its busy-poll goes by the path.
    let dir = StreamDir::new("replaced-live-writer-poller");
    let spec = StreamSpec::new(&[4], Datatype::U8).dir(dir.path());
    let old = Stream::create("s", &spec).unwrap();
    let mut old_writer = Stream::open_in(dir.path(), "s").unwrap();
    let mut poller = old.poller();
    Stream::create("s", &spec).unwrap();
    let (_, e) = frames_until_the_wait_fails("poll_spin", &mut poller, &mut old_writer);
    assert!(matches!(e, Error::Replaced { .. }), "poller: {e}");
}

/// A stream is its name in its directory (docs/protocol.md, "Replacing and removing a stream"):
/// when the directory is renamed, the stream can no longer be found by name, and its readers
/// are told `Removed` (with the path they opened it by), even though a writer that mapped it
/// before goes on publishing into the same file.
#[test]
fn a_stream_whose_directory_was_renamed_is_removed_for_its_readers() {
    let root = StreamDir::new("renamed-dir");
    let (before, after) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir(&before).unwrap();
    let spec = StreamSpec::new(&[4], Datatype::U8).dir(&before);
    let mut writer = Stream::create("s", &spec).unwrap();
    let mut reader = writer.reader().unwrap();
    std::fs::rename(&before, &after).unwrap();
    let (_, e) = frames_until_the_wait_fails("wait_timeout", &mut reader, &mut writer);
    match e {
        Error::Removed { path, .. } => assert_eq!(path, before.join("s.im.shm")),
        other => panic!("expected Removed, got {other}"),
    }
}

/// Posts every semaphore of the stream file `file` without publishing a frame, through the
/// legacy `sempost(im, -1)`: what milk's `imsetsempost` and `sempost_loop` do.
fn bare_post(file: &std::path::Path) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    // SAFETY: a shared mapping of a stream file nobody truncates during the test.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
    // SAFETY: the mapping is page-aligned and valid for its whole length while `map` lives,
    // which outlives `view`.
    let view = unsafe { shmim_core::legacy::View::new(map.as_mut_ptr(), map.len()) }.unwrap();
    view.post_all();
}

#[test]
fn post_waits_return_for_any_post_and_frame_waits_only_for_new_frames() {
    let dir = StreamDir::new("post-waits");
    let spec = StreamSpec::new(&[1], Datatype::U8).semaphores(1);
    let mut w = stream(&dir, "s", spec.clone());
    let mut r = w.reader().unwrap();
    let short = Duration::from_millis(50);
    let watchdog = Duration::from_secs(30);
    let bare = |cnt0| Woken {
        cnt0,
        new_frame: false,
    };

    // A bare post: a frame wait consumes it and waits on...
    bare_post(&dir.file("s"));
    assert!(matches!(r.wait_timeout(short), Err(Error::Timeout(_))));
    assert_eq!(w.semaphore_values(), [0], "the post was consumed");
    // ...a post wait returns for it, one post per wait.
    bare_post(&dir.file("s"));
    assert_eq!(r.wait_post_timeout(watchdog).unwrap(), bare(0));
    bare_post(&dir.file("s"));
    assert_eq!(r.try_wait_post().unwrap(), Some(bare(0)));
    assert_eq!(r.try_wait_post().unwrap(), None);
    assert!(matches!(r.wait_post_timeout(short), Err(Error::Timeout(_))));
    bare_post(&dir.file("s"));
    assert_eq!(r.wait_post().unwrap(), bare(0));

    // A frame's post: the frame is returned once, to whichever wait takes it.
    w.write_frame(&[1u8]).unwrap();
    let frame = Woken {
        cnt0: 1,
        new_frame: true,
    };
    assert_eq!(r.wait_post_timeout(watchdog).unwrap(), frame);
    assert_eq!(r.last_frame(), 1);
    w.write_frame(&[2u8]).unwrap();
    bare_post(&dir.file("s"));
    assert_eq!(r.wait_timeout(watchdog).unwrap(), 2);
    assert_eq!(
        r.try_wait_post().unwrap(),
        Some(bare(2)),
        "the bare post after it"
    );

    // Replaced: a post wait says so too.
    Stream::create("s", &spec.dir(dir.path())).unwrap();
    assert!(matches!(
        r.wait_post_timeout(watchdog),
        Err(Error::Replaced { .. })
    ));
}

#[test]
fn semaphores_saturate_and_readers_count_missed_frames() {
    let dir = StreamDir::new("saturate");
    let mut w = stream(&dir, "s", StreamSpec::new(&[1], Datatype::U8).semaphores(1));
    let mut r = w.reader().unwrap();
    for i in 0..15u8 {
        w.write_frame(&[i]).unwrap();
    }
    // Ten tokens at most (SEMAPHORE_MAXVAL); the first wake already sees frame 15.
    assert_eq!(r.wait_timeout(Duration::from_secs(1)).unwrap(), 15);
    assert_eq!(r.missed(), 14);
    assert_eq!(r.flush().unwrap(), 9);
    assert_eq!(r.try_wait().unwrap(), None);
    w.write_frame(&[0u8]).unwrap();
    assert_eq!(r.wait_latest(Duration::from_secs(1)).unwrap(), 16);
}

#[test]
fn pollers_need_no_slot() {
    let dir = StreamDir::new("poll");
    let mut w = stream(&dir, "s", StreamSpec::new(&[1], Datatype::U8).semaphores(0));
    let mut p = w.poller();
    assert!(p.wait_timeout(Duration::from_millis(1)).is_err());
    let deadline = std::time::Instant::now() + Duration::from_millis(5);
    assert!(matches!(p.poll_spin(deadline), Err(Error::Timeout(_))));
    w.write_frame(&[1u8]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    assert_eq!(p.poll_spin(deadline).unwrap(), 1);
}

#[test]
fn proc_trace_entries_start_fresh_and_round_trip() {
    let dir = StreamDir::new("proctrace");
    let s = stream(&dir, "s", StreamSpec::new(&[1], Datatype::U8));
    let fresh = s.proc_trace(9).unwrap();
    assert_eq!(
        (fresh.trigsemindex, fresh.procwrite_pid, fresh.cnt0),
        (-1, 0, 0)
    );
    let mut e = fresh;
    e.procwrite_pid = 1234;
    e.cnt0 = 99;
    s.set_proc_trace(3, &e).unwrap();
    assert_eq!(
        Stream::open_in(dir.path(), "s")
            .unwrap()
            .proc_trace(3)
            .unwrap(),
        e
    );
    assert!(matches!(
        s.proc_trace(10),
        Err(Error::IndexOutOfRange { .. })
    ));
}

#[test]
fn gpu_streams_refuse_pixel_access_on_every_path() {
    let dir = StreamDir::new("gpu");
    let mut s = stream(
        &dir,
        "s",
        StreamSpec::new(&[4, 4, 2], Datatype::U8).keywords(1).gpu(0),
    );
    let mut slice = [0u8; 16];
    assert!(matches!(
        s.poller().read_slice_into(0, &mut slice),
        Err(Error::GpuStream { location: 0, .. })
    ));
    let mut frame = [0u8; 32];
    assert!(matches!(
        s.read_into(&mut frame),
        Err(Error::GpuStream { .. })
    ));
    assert!(matches!(s.write(), Err(Error::GpuStream { .. })));
}
