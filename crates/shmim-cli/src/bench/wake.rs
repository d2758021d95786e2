//! Wake-up latency between two processes, for each wait strategy and the two baselines.
//!
//! The parent and a peer process (`shmim __bench-peer`) hand a token back and forth: the parent
//! publishes on `ping`, the peer wakes and publishes on `pong`, the parent wakes. One-way latency
//! is half of each round trip timed by the parent (one clock, no cross-process clock reading).
//! Both sides use the same strategy. A warm-up of 5% of the round trips is not recorded.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

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

pub fn rows(dir: &Path, effort: &Effort) -> Result<Vec<Row>> {
    let warmup = (effort.round_trips / 20).max(20);
    let total = effort.round_trips + warmup;
    let mut fig = Vec::new();
    for mode in Mode::ALL {
        let mut rtt = measure(dir, mode, total)?;
        let mut one_way: Vec<u64> = rtt.drain(warmup as usize..).map(|r| r / 2).collect();
        let [p50, p99, _] = percentiles(&mut one_way);
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
fn measure(dir: &Path, mode: Mode, total: u64) -> Result<Vec<u64>> {
    let args = |path: &Path| {
        vec![
            "__bench-peer".to_owned(),
            "--mode".into(),
            mode.name().into(),
            "--path".into(),
            path.display().to_string(),
            "--rounds".into(),
            total.to_string(),
            "--deadline-ms".into(),
            (WAIT.as_millis() as u64 * 4 + total / 5).to_string(),
        ]
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
