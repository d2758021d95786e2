//! Wake-up latency between two processes, for each wait strategy and the two baselines.
//!
//! The parent and a peer process (`shmim __bench-peer`) hand a token back and forth: the parent
//! publishes on `ping`, the peer wakes and publishes on `pong`, the parent wakes. One-way latency
//! is half of each round trip timed by the parent (one clock, no cross-process clock reading).
//! Both sides use the same strategy. The modes take turns in segments of the round trips, each
//! with a warm-up of 5% that is not recorded.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};
use shmim_core::{Datatype, Reader, Stream, StreamSpec};

use super::pingpong::{PING, PONG, READY, SEM_PING, SEM_PONG, SharedPage, sem_wait, spin_until};
use super::{Effort, Figure, Row};
use crate::child::Peer;
use crate::cli::BenchPeerArgs;
use crate::failure::{Failure, Result};
use crate::stats::percentiles;

/// Spin budget of the hybrid wait: well above a busy-poll handoff, far below a frame period.
const HYBRID_SPIN: Duration = Duration::from_micros(100);
/// Bound of every single wait: a peer that stops answering ends the bench, not hangs it.
const WAIT: Duration = Duration::from_secs(5);
/// Pixels per frame: the latency rows measure the handoff, not a copy.
const FRAME: usize = 16;

/// The handoffs measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    CacheLine,
    BareSem,
    Semaphore,
    BusyPoll,
    Hybrid,
}

impl Mode {
    const ALL: [Mode; 5] = [
        Mode::CacheLine,
        Mode::BareSem,
        Mode::Semaphore,
        Mode::BusyPoll,
        Mode::Hybrid,
    ];

    fn name(self) -> &'static str {
        match self {
            Mode::CacheLine => "cacheline",
            Mode::BareSem => "sem",
            Mode::Semaphore => "semaphore",
            Mode::BusyPoll => "busy-poll",
            Mode::Hybrid => "hybrid",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| Failure::new(format!("bench peer: unknown mode {s:?}")))
    }

    fn is_baseline(self) -> bool {
        matches!(self, Mode::CacheLine | Mode::BareSem)
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    sched_getaffinity(None).map_or_else(
        |_| Vec::new(),
        |set| (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
    )
}

/// Pins the calling process to `cpu` (best effort: an unpinned figure is still a figure).
fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu);
    let _ = sched_setaffinity(None, &set);
}

/// The two sides run on two different CPUs when there are two: a busy-polling pair that the
/// scheduler happens to put on one CPU only progresses when one side yields (microseconds, not
/// nanoseconds), and which placement a run gets would otherwise be luck.
pub fn pinning() -> Option<(usize, usize)> {
    let cpus = allowed_cpus();
    (cpus.len() >= 2).then(|| (cpus[0], cpus[1]))
}

pub fn rows(dir: &Path, effort: &Effort) -> Result<Vec<Row>> {
    let before = sched_getaffinity(None).ok();
    let pinned = pinning();
    if let Some((mine, _)) = pinned {
        pin(mine);
    }
    let rows = measure_all(dir, effort, pinned.map(|(_, peer)| peer));
    if let Some(set) = before {
        let _ = sched_setaffinity(None, &set);
    }
    rows
}

fn measure_all(dir: &Path, effort: &Effort, peer_cpu: Option<usize>) -> Result<Vec<Row>> {
    // The modes take turns in segments, so a change of machine state during the run (a guest's
    // idle-poll window, a noisy neighbour) reaches every mode alike instead of one of them.
    let segments = if effort.round_trips >= 2_000 { 10 } else { 1 };
    let per_segment = effort.round_trips.div_ceil(segments);
    let warmup = (per_segment / 20).max(20);
    let mut one_way = vec![Vec::new(); Mode::ALL.len()];
    for _ in 0..segments {
        for (mode, samples) in Mode::ALL.into_iter().zip(one_way.iter_mut()) {
            let rtt = measure(dir, mode, per_segment + warmup, peer_cpu)?;
            samples.extend(rtt[warmup as usize..].iter().map(|r| r / 2));
        }
    }
    let mut fig = Vec::new();
    for samples in &mut one_way {
        let [p50, p99, _] = percentiles(samples);
        fig.push(Figure {
            ns: p50 as f64,
            p99: Some(p99 as f64),
        });
    }
    let [cacheline, baresem, sem, poll, hybrid] = [fig[0], fig[1], fig[2], fig[3], fig[4]];
    Ok(vec![
        Row::new(
            "wake: blocking semaphore (Reader::wait)".into(),
            sem,
            "sem_post/sem_wait ping-pong",
            baresem,
        ),
        Row::new(
            "wake: busy-poll (Reader::poll_spin)".into(),
            poll,
            "cache-line ping-pong",
            cacheline,
        ),
        Row::new(
            format!(
                "wake: hybrid (wait_hybrid, {} µs spin)",
                HYBRID_SPIN.as_micros()
            ),
            hybrid,
            "cache-line ping-pong",
            cacheline,
        ),
        Row::new(
            "wake: hybrid vs busy-poll".into(),
            hybrid,
            "busy-poll (Reader::poll_spin)",
            poll,
        ),
    ])
}

/// `total` round trips in `mode`; returns each round trip's time in ns.
fn measure(dir: &Path, mode: Mode, total: u64, cpu: Option<usize>) -> Result<Vec<u64>> {
    let args = |path: &Path| {
        let mut args = vec![
            "__bench-peer".to_owned(),
            "--mode".into(),
            mode.name().into(),
            "--path".into(),
            path.display().to_string(),
            "--rounds".into(),
            total.to_string(),
            "--deadline-ms".into(),
            (WAIT.as_millis() as u64 * 4 + total / 5).to_string(),
        ];
        if let Some(cpu) = cpu {
            args.extend(["--cpu".to_owned(), cpu.to_string()]);
        }
        args
    };
    let role = format!("bench peer ({})", mode.name());
    let lost = || Failure::new(format!("{role} stopped answering"));
    let mut samples = Vec::with_capacity(total as usize);
    if mode.is_baseline() {
        let path = dir.join(format!("pingpong-{}", mode.name()));
        let page = SharedPage::create(&path)?;
        let mut peer = Peer::spawn(dir, &role, &args(&path))?;
        if !spin_wait_ready(&page, &mut peer) {
            return Err(peer_failure(peer, &role));
        }
        let (ping, pong) = (page.word(PING), page.word(PONG));
        for i in 1..=total {
            let t = Instant::now();
            let ok = match mode {
                Mode::CacheLine => {
                    ping.publish(i);
                    spin_until(pong, i, t + WAIT)
                }
                _ => {
                    page.glibc_post(SEM_PING);
                    sem_wait(&page, SEM_PONG, WAIT)?
                }
            };
            if !ok {
                return Err(lost());
            }
            samples.push(t.elapsed().as_nanos() as u64);
        }
        peer.finish_within::<serde_json::Value>(WAIT)?;
        let _ = std::fs::remove_file(&path);
    } else {
        let spec = StreamSpec::new(&[FRAME as u32], Datatype::Float).dir(dir);
        let mut ping = Stream::create("ping", &spec)?;
        let pong = Stream::create("pong", &spec)?;
        let mut back = pong.reader()?;
        let mut peer = Peer::spawn(dir, &role, &args(dir))?;
        let ready_by = Instant::now() + WAIT;
        while ping.registered_readers().is_empty() {
            if peer.exited() || Instant::now() >= ready_by {
                return Err(peer_failure(peer, &role));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let frame = [0f32; FRAME];
        for _ in 0..total {
            let t = Instant::now();
            ping.write_frame(&frame)?;
            wait(&mut back, mode).map_err(|_| lost())?;
            samples.push(t.elapsed().as_nanos() as u64);
        }
        peer.finish_within::<serde_json::Value>(WAIT)?;
        drop(back);
        ping.destroy()?;
        pong.destroy()?;
    }
    Ok(samples)
}

/// Waits until the peer has mapped the page; false if it died or took too long.
fn spin_wait_ready(page: &SharedPage, peer: &mut Peer) -> bool {
    let until = Instant::now() + WAIT;
    while page.word(READY).observe() == 0 {
        if peer.exited() || Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

fn peer_failure(peer: Peer, role: &str) -> Failure {
    let role = role.to_owned();
    peer.collect::<serde_json::Value>()
        .err()
        .unwrap_or_else(|| Failure::new(format!("{role} did not get ready")))
}

/// One wait of `mode` on `reader`.
fn wait(reader: &mut Reader, mode: Mode) -> shmim_core::Result<u64> {
    match mode {
        Mode::BusyPoll => reader.poll_spin(Instant::now() + WAIT),
        Mode::Hybrid => reader.wait_hybrid(HYBRID_SPIN, WAIT),
        _ => reader.wait_timeout(WAIT),
    }
}

/// `shmim __bench-peer`: the other side of every handoff.
pub fn peer(a: &BenchPeerArgs) -> Result<ExitCode> {
    let mode = Mode::parse(&a.mode)?;
    if let Some(cpu) = a.cpu {
        pin(cpu);
    }
    let deadline = Instant::now() + Duration::from_millis(a.deadline_ms);
    let lost = || Failure::new("bench peer: the bench stopped answering");
    if mode.is_baseline() {
        let page = SharedPage::open(&a.path)?;
        page.word(READY).publish(1);
        let (ping, pong) = (page.word(PING), page.word(PONG));
        for i in 1..=a.rounds {
            let ok = match mode {
                Mode::CacheLine => {
                    let ok = spin_until(ping, i, deadline);
                    pong.publish(i);
                    ok
                }
                _ => {
                    let ok = sem_wait(&page, SEM_PING, WAIT)?;
                    page.glibc_post(SEM_PONG);
                    ok
                }
            };
            if !ok {
                return Err(lost());
            }
        }
    } else {
        let ping = Stream::open_in(&a.path, "ping")?;
        let mut pong = Stream::open_in(&a.path, "pong")?;
        let mut r = ping.reader()?;
        let frame = [0f32; FRAME];
        for _ in 0..a.rounds {
            if Instant::now() >= deadline {
                return Err(lost());
            }
            wait(&mut r, mode).map_err(|_| lost())?;
            pong.write_frame(&frame)?;
        }
    }
    println!("{{\"rounds\": {}}}", a.rounds);
    Ok(ExitCode::SUCCESS)
}
