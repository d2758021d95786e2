//! Loom model of the publication idiom, on instances (the process-wide `static` does not exist
//! under loom). Run with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p shmim-envcache --release --test loom
//! ```
//!
//! Loom explores the interleavings of two or three threads racing first reads. It tracks every
//! access to a row's entry: a reader that touched an entry whose write does not happen-before the
//! read (a torn row) fails the model, whichever value it then returned. On top of that, each
//! reader checks it got its name's value, and each model checks how often the source was read.
#![cfg(loom)]
#![allow(clippy::disallowed_types)] // this crate may use raw atomics (clippy.toml)

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use shmim_envcache::EnvCache;

/// A source that counts its calls and answers `<name>=<call number>`, so a reader can tell which
/// fill it saw.
fn counting(calls: &AtomicUsize) -> impl FnOnce(&OsStr) -> Option<OsString> + '_ {
    move |name| {
        // Relaxed: a tally; the models read it after joining.
        let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
        let mut v = name.to_os_string();
        v.push(format!("={n}"));
        Some(v)
    }
}

fn read<const N: usize>(table: &EnvCache<N>, calls: &AtomicUsize, name: &str) -> OsString {
    let v = table.get_with(name, counting(calls));
    v.map(Cow::into_owned)
        .expect("the source never answers absent")
}

#[test]
fn racing_first_reads_of_one_name_fill_it_once() {
    loom::model(|| {
        let table = Arc::new(EnvCache::<2>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let others: Vec<_> = (0..2)
            .map(|_| {
                let (table, calls) = (table.clone(), calls.clone());
                thread::spawn(move || read(&table, &calls, "A"))
            })
            .collect();
        let mine = read(&table, &calls, "A");
        for other in others {
            assert_eq!(other.join().unwrap(), mine);
        }
        assert_eq!(mine, "A=1");
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(table.len(), 1);
    });
}

#[test]
fn racing_first_reads_of_different_names_fill_different_rows() {
    loom::model(|| {
        let table = Arc::new(EnvCache::<2>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        // Each reads both names, in opposite orders: a second read may hit the row the other
        // thread is publishing, or fill the next row.
        let other = {
            let (table, calls) = (table.clone(), calls.clone());
            thread::spawn(move || (read(&table, &calls, "B"), read(&table, &calls, "A")))
        };
        let a = read(&table, &calls, "A");
        let b = read(&table, &calls, "B");
        assert_eq!(other.join().unwrap(), (b.clone(), a.clone()));
        assert!(a.as_encoded_bytes().starts_with(b"A="));
        assert!(b.as_encoded_bytes().starts_with(b"B="));
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(table.len(), 2);
        assert_eq!(table.full_misses(), 0);
    });
}

#[test]
fn three_threads_reading_two_names_agree() {
    loom::model(|| {
        let table = Arc::new(EnvCache::<2>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let others: Vec<_> = ["A", "B"]
            .into_iter()
            .map(|name| {
                let (table, calls) = (table.clone(), calls.clone());
                thread::spawn(move || read(&table, &calls, name))
            })
            .collect();
        let a = read(&table, &calls, "A");
        let seen: Vec<OsString> = others.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(seen[0], a);
        assert!(seen[1].as_encoded_bytes().starts_with(b"B="));
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(table.len(), 2);
    });
}

#[test]
fn racing_first_reads_past_capacity_serve_the_loser_uncached() {
    loom::model(|| {
        let table = Arc::new(EnvCache::<1>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let other = {
            let (table, calls) = (table.clone(), calls.clone());
            thread::spawn(move || read(&table, &calls, "B"))
        };
        let a = read(&table, &calls, "A");
        let b = other.join().unwrap();
        assert!(a.as_encoded_bytes().starts_with(b"A="));
        assert!(b.as_encoded_bytes().starts_with(b"B="));
        assert_eq!(table.len(), 1);
        assert_eq!(table.full_misses(), 1);
        // Exactly one name won the row: it hits, the other is read again.
        let again_a = table.get_with("A", |_| None);
        let again_b = table.get_with("B", |_| None);
        match (again_a, again_b) {
            (Some(Cow::Borrowed(_)), None) | (None, Some(Cow::Borrowed(_))) => {}
            other => panic!("expected one cached name, got {other:?}"),
        }
    });
}
