use std::sync::Arc;

use shmim_core::Timespec;

use super::*;
use crate::layout::Layout;

/// A description of generation `generation` whose frames have `bytes` bytes.
fn meta(generation: u64, bytes: u32) -> StreamMeta {
    StreamMeta {
        generation,
        name: "x".into(),
        layout: Layout {
            datatype: shmim_core::Datatype::U8,
            shape: vec![bytes],
            imagetype: 0,
            semaphores: 1,
            keyword_slots: 0,
            cb_size: 0,
        },
        keywords: vec![],
    }
}

fn frame(generation: u64, cnt0: u64, bytes: usize) -> Arrived {
    let header = FrameHeader {
        generation,
        cnt0,
        cnt1: 0,
        atime: Timespec::default(),
        writetime: Timespec::default(),
        sent: Timespec::default(),
    };
    let mut payload = Vec::new();
    crate::wire::encode_frame_header(&header, bytes as u64, &mut payload);
    payload.resize(payload.len() + bytes, cnt0 as u8);
    Arrived {
        header,
        payload: ZBytes::from(payload),
        latency_ns: 0,
        replaced: 0,
    }
}

fn mailbox(mode: Mode) -> Mailbox {
    let m = Mailbox::new(mode, Arc::new(Queued::new(u64::MAX)));
    assert_eq!(m.put_meta(meta(1, 4), Origin::Sample), Verdict::Accept);
    assert!(matches!(m.take_now(), Some(Work::Meta(_))));
    m
}

/// The next frame's (cnt0, replaced), skipping nothing.
fn next(m: &Mailbox) -> Option<(u64, u64)> {
    match m.take_now()? {
        Work::Frame(f) => Some((f.header.cnt0, f.replaced)),
        _ => None,
    }
}

#[test]
fn latest_keeps_only_the_newest_frame_and_says_how_many_it_replaced() {
    let m = mailbox(Mode::Latest);
    for c in 1..=5 {
        m.put_frame(frame(1, c, 4), true);
    }
    assert_eq!(next(&m), Some((5, 4)));
    assert!(m.take_now().is_none());
    assert_eq!(m.progress().received, 5);
}

#[test]
fn descriptions_and_frames_are_taken_in_arrival_order_with_one_pending_description() {
    let m = mailbox(Mode::Every);
    m.put_frame(frame(1, 1, 4), true);
    m.put_meta(meta(1, 4), Origin::Sample);
    m.put_frame(frame(1, 2, 4), true);
    let mut newer = meta(1, 4);
    newer.keywords.push(shmim_core::Keyword {
        index: 0,
        name: "K".into(),
        value: shmim_core::Value::Long(1),
        comment: String::new(),
        cnt: 0,
    });
    m.put_meta(newer.clone(), Origin::Sample);
    assert_eq!(next(&m), Some((1, 0)));
    match m.take_now() {
        Some(Work::Meta(got)) => assert_eq!(got, newer, "the newer replaced the pending one"),
        _ => panic!("a description"),
    }
    assert_eq!(next(&m), Some((2, 0)));
    assert!(m.take_now().is_none());
}

#[test]
fn frames_of_another_generation_or_size_never_reach_the_worker_and_ask_for_the_description() {
    let m = mailbox(Mode::Every);
    assert_eq!(m.put_frame(frame(7, 1, 4), true), Verdict::Stale);
    assert_eq!(
        m.put_frame(frame(1, 1, 3), true),
        Verdict::WrongSize { expected: 4 }
    );
    assert!(matches!(m.take_now(), Some(Work::Request)));
    assert!(m.take_now().is_none());
    let p = m.progress();
    assert_eq!((p.received, p.stale, p.stats.malformed), (2, 1, 1));
}

#[test]
fn every_mode_keeps_order_and_makes_the_producer_wait_when_full() {
    let m = Arc::new(mailbox(Mode::Every));
    for c in 1..=EVERY_QUEUE as u64 {
        m.put_frame(frame(1, c, 4), true);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let producer = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || {
            m.put_frame(frame(1, 100, 4), true);
            tx.send(()).unwrap();
        })
    };
    // The queue is full: the producer cannot have returned yet (on a slow machine this can
    // only pass wrongly, never fail wrongly).
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    assert_eq!(next(&m), Some((1, 0)));
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the producer got room");
    producer.join().unwrap();
    let rest: Vec<u64> = std::iter::from_fn(|| next(&m).map(|f| f.0)).collect();
    assert_eq!(
        rest,
        (2..=EVERY_QUEUE as u64).chain([100]).collect::<Vec<_>>()
    );
}

#[test]
fn every_mode_queues_of_all_streams_share_one_byte_bound() {
    let frame_len = frame(1, 1, 4).payload.len() as u64;
    let queued = Arc::new(Queued::new(2 * frame_len));
    let a = Arc::new(Mailbox::new(Mode::Every, Arc::clone(&queued)));
    let b = Mailbox::new(Mode::Every, Arc::clone(&queued));
    for m in [&*a, &b] {
        m.put_meta(meta(1, 4), Origin::Sample);
        let _ = m.take_now();
    }
    a.put_frame(frame(1, 1, 4), true);
    a.put_frame(frame(1, 2, 4), true);
    // b's queue is empty: it always takes one frame, whatever the bound.
    b.put_frame(frame(1, 1, 4), true);
    let (tx, rx) = std::sync::mpsc::channel();
    let producer = {
        let a = Arc::clone(&a);
        std::thread::spawn(move || {
            a.put_frame(frame(1, 3, 4), true);
            tx.send(()).unwrap();
        })
    };
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "over the bound"
    );
    assert_eq!(next(&b), Some((1, 0)));
    assert_eq!(next(&b), None);
    assert_eq!(next(&a), Some((1, 0)));
    rx.recv_timeout(Duration::from_secs(60))
        .expect("room again");
    producer.join().unwrap();
}

#[test]
fn closing_releases_a_waiting_producer_and_the_queued_bytes() {
    let frame_len = frame(1, 1, 4).payload.len() as u64;
    let bound = EVERY_QUEUE as u64 * frame_len;
    let queued = Arc::new(Queued::new(bound));
    let m = Arc::new(Mailbox::new(Mode::Every, Arc::clone(&queued)));
    m.put_meta(meta(1, 4), Origin::Sample);
    let _ = m.take_now();
    for c in 1..=EVERY_QUEUE as u64 {
        m.put_frame(frame(1, c, 4), true);
    }
    let producer = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || m.put_frame(frame(1, 99, 4), true))
    };
    std::thread::sleep(Duration::from_millis(20));
    m.close();
    producer.join().unwrap();
    assert!(queued.try_take(bound, false), "every byte given back");
}

#[test]
fn a_held_description_reaches_the_worker_just_before_the_frame_that_proves_it() {
    let m = mailbox(Mode::Every);
    m.put_frame(frame(1, 1, 4), true);
    assert_eq!(m.put_meta(meta(2, 8), Origin::Sample), Verdict::Held);
    m.put_frame(frame(1, 2, 4), true);
    assert_eq!(m.put_frame(frame(2, 1, 8), true), Verdict::Switch);
    assert_eq!(next(&m), Some((1, 0)));
    assert_eq!(next(&m), Some((2, 0)));
    match m.take_now() {
        Some(Work::Meta(got)) => assert_eq!(got.generation, 2),
        _ => panic!("the held description"),
    }
    match m.take_now() {
        Some(Work::Frame(f)) => assert_eq!(f.header.generation, 2),
        _ => panic!("its frame"),
    }
    assert!(m.take_now().is_none());
}
