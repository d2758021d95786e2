//! Benchmark (not a test): a hit in the process-wide table against `std::env::var_os` for the same
//! name, with 1 to 16 threads reading at once. Run in release by `cargo xtask bench envcache`.
//!
//! Each thread reads in a loop until told to stop; its cost is its own CPU time (from
//! `/proc/thread-self/schedstat`) divided by its reads, so threads waiting for a CPU on a machine
//! with fewer cores than threads are not charged for the wait. Contention is charged: a thread
//! spinning or bouncing a cache line spends CPU time. Where schedstat is missing, wall time is
//! used and the table says so.
#![allow(clippy::disallowed_types)] // this crate may use raw atomics (clippy.toml)

fn main() {
    // Under `cfg(loom)` the crate runs on loom's model primitives: nothing to measure.
    #[cfg(not(loom))]
    bench::main();
}

#[cfg(not(loom))]
mod bench {
    use std::hint::black_box;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::{Duration, Instant};

    const NAME: &str = "MILK_SHM_DIR";
    const VALUE: &str = "/milk/shm";
    const THREADS: [usize; 5] = [1, 2, 4, 8, 16];
    /// How long each (read, thread count) pair runs.
    const RUN_FOR: Duration = Duration::from_millis(400);
    /// Reads between two looks at the stop flag.
    const BATCH: u64 = 1024;

    pub fn main() {
        // SAFETY: no other thread exists yet, so nothing can read the environment concurrently.
        unsafe { std::env::set_var(NAME, VALUE) };
        // Fill the row once, as the first stream open of a process would.
        assert_eq!(
            shmim_envcache::var_os(NAME).as_deref(),
            Some(VALUE.as_ref())
        );

        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        let clock = if thread_cpu_ns().is_some() {
            "thread CPU time"
        } else {
            "wall time (no schedstat; inflated once threads > CPUs)"
        };
        println!(
            "envcache: hit vs std::env::var_os({NAME:?}), per-thread ns/op by {clock}, {cpus} CPUs"
        );
        println!(
            "  hit: the name is a literal, as at shmim's call sites (compared against constants)"
        );
        println!("  hit*: the name is opaque to the compiler (`black_box`), compared byte by byte");
        println!(
            "{:>7}  {:>9}  {:>9}  {:>12}  {:>11}  {:>11}",
            "threads", "hit ns/op", "hit* ns/op", "var_os ns/op", "var_os/hit", "var_os/hit*"
        );
        let mut worst = (f64::INFINITY, f64::INFINITY);
        let mut hits = Vec::new();
        for threads in THREADS {
            let hit = per_thread_ns(threads, || {
                black_box(shmim_envcache::var_os(NAME));
            });
            let opaque = per_thread_ns(threads, || {
                black_box(shmim_envcache::var_os(black_box(NAME)));
            });
            let std = per_thread_ns(threads, || {
                black_box(std::env::var_os(black_box(NAME)));
            });
            let (ratio, ratio_opaque) = (std / hit, std / opaque);
            worst = (worst.0.min(ratio), worst.1.min(ratio_opaque));
            hits.push(hit);
            println!(
                "{threads:>7}  {hit:>9.2}  {opaque:>10.2}  {std:>12.2}  {ratio:>10.1}×  {ratio_opaque:>10.1}×"
            );
        }
        let (lo, hi) = hits.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &h| {
            (lo.min(h), hi.max(h))
        });
        println!(
            "goal: hit ≥ 20× faster than var_os (worst here {:.1}×, {:.1}× opaque), hit cost flat \
             (max/min over thread counts {:.2})",
            worst.0,
            worst.1,
            hi / lo
        );
        let misses = shmim_envcache::global().full_misses();
        assert_eq!(misses, 0, "the benchmark's name must hit the table");
    }

    /// Mean over `threads` threads of each thread's ns per `op`.
    fn per_thread_ns<F>(threads: usize, op: F) -> f64
    where
        F: Fn() + Copy + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(threads + 1));
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (stop, start) = (stop.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let (cpu0, wall0) = (thread_cpu_ns(), Instant::now());
                    let mut ops = 0u64;
                    // Relaxed: the flag only ends the loop; no data travels with it.
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..BATCH {
                            op();
                        }
                        ops += BATCH;
                    }
                    let spent = match (cpu0, thread_cpu_ns()) {
                        (Some(a), Some(b)) => b.saturating_sub(a) as f64,
                        _ => wall0.elapsed().as_nanos() as f64,
                    };
                    spent / ops as f64
                })
            })
            .collect();
        start.wait();
        thread::sleep(RUN_FOR);
        stop.store(true, Ordering::Relaxed);
        let per_op: Vec<f64> = workers
            .into_iter()
            .map(|w| w.join().expect("bench thread panicked"))
            .collect();
        per_op.iter().sum::<f64>() / per_op.len() as f64
    }

    /// CPU time of the calling thread in ns, from the first field of `/proc/thread-self/schedstat`.
    fn thread_cpu_ns() -> Option<u64> {
        // A yield first: the kernel brings the running thread's total up to date when it schedules.
        thread::yield_now();
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        stat.split_whitespace().next()?.parse().ok()
    }
}
