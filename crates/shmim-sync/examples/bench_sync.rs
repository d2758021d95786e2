//! `cargo xtask bench sync`: what the synchronisation costs, against what the hardware costs.
//!
//! One run prints one table. The baseline is a bare cache-line ping-pong between two processes
//! sharing a mapped file (relaxed store, spin on a relaxed load): the least any cross-process
//! handoff can cost on this machine. Every other row is given as a ratio to it:
//!
//! * busy-poll on `cnt0` across the same two processes: writer begin + publish, reader
//!   `spin::wait_for_change` (relaxed watch with backoff, one acquire), and back;
//! * semaphore post → wake across the two processes (our bounded post, glibc `sem_clockwait`);
//! * begin + publish with no data, in one process;
//! * a consistent read (read_begin + read_validate) of an empty frame, in one process;
//! * a consistent read of a 64 KiB frame with `copy_out` (racy memcpy, or word-by-word relaxed
//!   atomics when built with `--features strict`).
//!
//! Cross-process rows are one-way latencies, taken as half a round trip (no clock is shared
//! across the two sides' caches); single-process rows are per-operation costs measured over
//! batches. The child is this binary re-executed with a role in the environment.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use shmim_layout::SemSlot;
use shmim_sync::semaphore::Semaphore;
use shmim_sync::spin::{self, Spin};
use shmim_sync::write_flag::StreamFlag;
use shmim_sync::{Field, seqlock};
use support::{ChildProcess, ROLE, SHM, SharedFile, wait_for};

/// Bounds every wait, so a lost peer ends the bench instead of hanging it.
const WATCHDOG: Duration = Duration::from_secs(60);

// Layout of the shared file: every hot word on its own pair of cache lines.
const PING: usize = 0;
const PONG: usize = 128;
const A_CNT0: usize = 256;
const A_WRITE: usize = 264;
const A_CLAIM: usize = 268;
const A_TICKET: usize = 272;
const B_CNT0: usize = 384;
const B_WRITE: usize = 392;
const B_CLAIM: usize = 396;
const B_TICKET: usize = 400;
const A_MD: [usize; 4] = [A_CNT0, A_WRITE, A_CLAIM, A_TICKET];
const B_MD: [usize; 4] = [B_CNT0, B_WRITE, B_CLAIM, B_TICKET];
const SEM_A: usize = 512;
const SEM_B: usize = 640;
const READY: usize = 768;
const FRAME: usize = 4096;
const FRAME_LEN: usize = 64 * 1024;
const FILE_LEN: usize = FRAME + FRAME_LEN;

const SPIN_ROUNDS: u64 = 200_000;
const SEM_ROUNDS: u64 = 20_000;
const BATCH: u64 = 1_000;
const BATCHES: u64 = 2_000;

/// A stream's four protocol fields.
struct Md<'a> {
    cnt0: Field<'a, u64>,
    write: Field<'a, u8>,
    claim: Field<'a, i32>,
    ticket: Field<'a, u32>,
}

impl Md<'_> {
    fn flag(&self) -> StreamFlag<'_> {
        StreamFlag::from_fields(self.write, self.cnt0, self.claim, self.ticket)
    }
}

struct Segment {
    file: SharedFile,
}

impl Segment {
    fn field<T: shmim_sync::Word>(&self, offset: usize) -> Field<'_, T> {
        // SAFETY: aligned and in bounds (checked by `at`); the mapping outlives the view, and
        // these words are only accessed through atomic views.
        unsafe { Field::new(self.file.at(offset)) }
    }

    /// The protocol fields at `at`: cnt0, then write, claim and ticket (as `[cnt0, write, claim,
    /// ticket]` offsets).
    fn md(&self, [cnt0, write, claim, ticket]: [usize; 4]) -> Md<'_> {
        Md {
            cnt0: self.field(cnt0),
            write: self.field(write),
            claim: self.field(claim),
            ticket: self.field(ticket),
        }
    }

    fn sem(&self, offset: usize) -> Semaphore<'_> {
        // SAFETY: initialised by the parent before any child starts; the mapping outlives it.
        unsafe { Semaphore::from_slot(self.file.at::<SemSlot>(offset)) }
    }
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let path = std::env::var_os(SHM).expect("SHM path");
        child(&role, Path::new(&path));
        return;
    }
    let file = SharedFile::create("bench", FILE_LEN);
    // SAFETY: a fresh file nobody else maps yet.
    unsafe {
        Semaphore::init(file.at(SEM_A), 0).unwrap();
        Semaphore::init(file.at(SEM_B), 0).unwrap();
    }
    let seg = Segment { file };
    // Counted before pinning (which narrows what this process may use).
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    pin_to_cpu(0);

    let baseline = cross_process(&seg, "pingpong", SPIN_ROUNDS, |i| {
        let (ping, pong) = (seg.field::<u64>(PING), seg.field::<u64>(PONG));
        ping.set(i);
        spin_until(|| pong.peek() == i);
    });
    let poll = cross_process(&seg, "poll", SPIN_ROUNDS, |i| {
        let (a, b) = (seg.md(A_MD), seg.md(B_MD));
        write_frame(&a);
        wait_for_count(&b, i);
    });
    let sem = cross_process(&seg, "sem", SEM_ROUNDS, |_| {
        seg.sem(SEM_A).post();
        assert!(seg.sem(SEM_B).wait_timeout(WATCHDOG).unwrap(), "watchdog");
    });

    let local = seg.md(A_MD);
    let begin_publish = per_op(|| write_frame(&local));
    let empty_read = per_op(|| {
        let c = seqlock::read_begin(local.cnt0.cell(), local.write.cell()).unwrap();
        black_box(seqlock::read_validate(
            local.cnt0.cell(),
            local.write.cell(),
            c,
        ))
    });
    let frame: *const u8 = seg.file.at(FRAME);
    let mut copy = vec![0u8; FRAME_LEN];
    let frame_read = per_op(|| {
        let mut spin = Spin::for_duration(WATCHDOG);
        seqlock::read(local.cnt0.cell(), local.write.cell(), &mut spin, || {
            // SAFETY: the frame region holds FRAME_LEN bytes, disjoint from `copy`.
            unsafe { seqlock::copy_out(&mut copy, frame) }
        })
        .unwrap()
    });

    let mode = if cfg!(feature = "strict") {
        "strict copy"
    } else {
        "memcpy"
    };
    println!("\nshmim-sync bench — {cpus} CPUs; cross-process rows: one-way = round trip / 2");
    println!(
        "{:<46} {:>9} {:>9} {:>9} {:>9}",
        "", "p50 ns", "p99 ns", "p50 ×base", "p99 ×base"
    );
    let row = |name: &str, s: Stats| {
        println!(
            "{:<46} {:>9.1} {:>9.1} {:>9.2} {:>9.2}",
            name,
            s.p50,
            s.p99,
            s.p50 / baseline.p50,
            s.p99 / baseline.p99
        );
    };
    row("cache-line ping-pong, 2 processes (baseline)", baseline);
    row("busy-poll on cnt0, 2 processes", poll);
    row("sem post → wake, 2 processes", sem);
    row("begin + publish, no data", begin_publish);
    row("consistent read, empty frame", empty_read);
    row(&format!("consistent read, 64 KiB, {mode}"), frame_read);
}

/// The child's half of each cross-process measurement: echo every round.
fn child(role: &str, path: &Path) {
    let seg = Segment {
        file: SharedFile::open(path),
    };
    pin_to_cpu(1);
    let ready = seg.field::<u32>(READY);
    let rounds = match role {
        "sem" => SEM_ROUNDS,
        _ => SPIN_ROUNDS,
    };
    ready.publish(1);
    for i in 1..=rounds {
        match role {
            "pingpong" => {
                let (ping, pong) = (seg.field::<u64>(PING), seg.field::<u64>(PONG));
                spin_until(|| ping.peek() == i);
                pong.set(i);
            }
            "poll" => {
                let (a, b) = (seg.md(A_MD), seg.md(B_MD));
                wait_for_count(&a, i);
                write_frame(&b);
            }
            "sem" => {
                assert!(seg.sem(SEM_A).wait_timeout(WATCHDOG).unwrap(), "watchdog");
                seg.sem(SEM_B).post();
            }
            other => panic!("unknown role {other}"),
        }
    }
}

/// Starts the child in `role`, waits until it is ready, and times `rounds` round trips of
/// `round(i)`, keeping the last 90 % (the first 10 % warm caches and branch predictors).
fn cross_process(seg: &Segment, role: &str, rounds: u64, mut round: impl FnMut(u64)) -> Stats {
    // Each measurement starts from zeroed counters.
    for off in [PING, PONG, A_CNT0, B_CNT0] {
        seg.field::<u64>(off).set(0);
    }
    seg.field::<u32>(READY).set(0);
    let mut child = ChildProcess::spawn(&[], role, seg.file.path());
    let deadline = Instant::now() + WATCHDOG;
    wait_for("child never got ready", deadline, || {
        seg.field::<u32>(READY).observe() == 1
    });
    let mut samples = Vec::with_capacity(rounds as usize);
    for i in 1..=rounds {
        let t = Instant::now();
        round(i);
        samples.push(t.elapsed().as_nanos() as f64 / 2.0);
    }
    assert!(child.wait_until(deadline).success(), "child failed");
    Stats::of(&mut samples[rounds as usize / 10..])
}

/// Per-operation cost of `op`, over `BATCHES` batches of `BATCH` calls.
fn per_op<R>(mut op: impl FnMut() -> R) -> Stats {
    let mut samples: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..BATCH {
                black_box(op());
            }
            t.elapsed().as_nanos() as f64 / BATCH as f64
        })
        .collect();
    Stats::of(&mut samples[BATCHES as usize / 10..])
}

fn write_frame(md: &Md<'_>) {
    md.flag()
        .begin(1, |_| false)
        .expect("one writer per stream");
    md.flag().publish(1);
}

fn wait_for_count(md: &Md<'_>, want: u64) {
    let mut spin = Spin::for_duration(WATCHDOG);
    let got = spin::wait_for_change(md.cnt0.cell(), want - 1, &mut spin, || true);
    assert_eq!(got, Ok(want), "watchdog, or a lost frame");
}

/// The baseline's wait: a bare relaxed spin with a CPU hint (deadline checked now and then).
fn spin_until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WATCHDOG;
    let mut n = 0u32;
    while !done() {
        std::hint::spin_loop();
        n = n.wrapping_add(1);
        if n % 4096 == 0 {
            assert!(Instant::now() < deadline, "watchdog");
        }
    }
}

/// Pins this process to `cpu` when the machine has one, so the two processes do not share a
/// core (best effort).
fn pin_to_cpu(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    let _ = rustix::thread::sched_setaffinity(None, &set);
}

#[derive(Clone, Copy)]
struct Stats {
    p50: f64,
    p99: f64,
}

impl Stats {
    fn of(samples: &mut [f64]) -> Self {
        samples.sort_unstable_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        Self {
            p50: at(0.50),
            p99: at(0.99),
        }
    }
}
