//! 16 threads racing first reads of the same and of different names through one table, round
//! after round until a deadline. Run under ThreadSanitizer by `cargo xtask ci` (step `tsan`).
//!
//! Each round uses a fresh table with more names than rows, read through a counting source, and
//! checks: every read returns its name's full value; a cached name was read from the source once;
//! a name that found the table full was read on every access, and counted.
#![cfg(not(loom))]
#![allow(clippy::disallowed_types)] // this crate may use raw atomics (clippy.toml)

use std::ffi::{OsStr, OsString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use shmim_envcache::EnvCache;

const ROWS: usize = 8;

#[cfg(not(miri))]
const THREADS: usize = 16;
#[cfg(miri)]
const THREADS: usize = 4;

#[cfg(not(miri))]
const NAMES: usize = 12;
#[cfg(miri)]
const NAMES: usize = ROWS + 2;

/// Reads of each name per thread per round.
const PASSES: usize = 3;

/// How long to keep starting rounds (at least one round always runs).
#[cfg(not(miri))]
const RUN_FOR: Duration = Duration::from_millis(500);
#[cfg(miri)]
const RUN_FOR: Duration = Duration::ZERO;

/// A round that has not finished by then is deadlocked.
const WATCHDOG: Duration = Duration::from_secs(300);

fn name(i: usize) -> String {
    format!("SHMIM_STRESS_{i}")
}

/// Long enough that a torn or mixed-up row could not pass for the right one.
fn expected(name: &OsStr) -> OsString {
    let mut v = OsString::new();
    for _ in 0..16 {
        v.push(name);
        v.push(":");
    }
    v
}

fn round() {
    let table = Arc::new(EnvCache::<ROWS>::new());
    let calls: Arc<Vec<AtomicUsize>> = Arc::new((0..NAMES).map(|_| AtomicUsize::new(0)).collect());
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (table, calls, start) = (table.clone(), calls.clone(), start.clone());
            thread::spawn(move || {
                start.wait();
                for pass in 0..PASSES {
                    for k in 0..NAMES {
                        // Half the threads share an order (racing on the same name), the rest
                        // start at different names (racing on different rows).
                        let i = if t % 2 == 0 {
                            k
                        } else {
                            (k + t + pass) % NAMES
                        };
                        let n = name(i);
                        let v = table.get_with(&n, |asked| {
                            assert_eq!(asked, n.as_str());
                            // Relaxed: a tally read only after the threads are joined.
                            calls[i].fetch_add(1, Ordering::Relaxed);
                            (i % 5 != 0).then(|| expected(asked))
                        });
                        let want = (i % 5 != 0).then(|| expected(OsStr::new(&n)));
                        assert_eq!(v.as_deref(), want.as_deref(), "wrong value for {n}");
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker panicked");
    }

    let per_name: Vec<usize> = calls.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let cached = per_name.iter().filter(|&&c| c == 1).count();
    let uncached = per_name.iter().filter(|&&c| c == THREADS * PASSES).count();
    assert_eq!(cached, ROWS, "source calls per name: {per_name:?}");
    assert_eq!(
        uncached,
        NAMES - ROWS,
        "source calls per name: {per_name:?}"
    );
    assert_eq!(table.len(), ROWS);
    assert_eq!(table.full_misses(), (NAMES - ROWS) * THREADS * PASSES);
}

#[test]
fn racing_first_reads_never_see_a_torn_row() {
    let (done_tx, done_rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        let until = Instant::now() + RUN_FOR;
        let mut rounds = 0u64;
        loop {
            round();
            rounds += 1;
            if Instant::now() >= until {
                break;
            }
        }
        let _ = done_tx.send(rounds);
    });
    match done_rx.recv_timeout(WATCHDOG) {
        Ok(rounds) => eprintln!("{rounds} rounds of {THREADS} threads"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The runner died: re-raise its panic.
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
            unreachable!("runner ended without reporting");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("no progress for {WATCHDOG:?}: deadlock"),
    }
}
