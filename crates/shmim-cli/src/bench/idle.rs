//! CPU burned by a waiting reader while no frame comes.
//!
//! The writer publishes one frame every `idle` (50 ms); a reader process waits for each with one
//! strategy and measures its own CPU time (`CLOCK_PROCESS_CPUTIME_ID`) across every wait. Issue
//! 11: a hybrid wait burns no CPU beyond its spin budget when frames do not come within it; the
//! row's target allows 50 µs over the budget for blocking, waking and returning, which are CPU
//! time too. Busy-poll (burns the whole wait, by design) and blocking (burns almost nothing) are
//! shown beside it.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use rustix::time::{ClockId, clock_gettime};
use serde::{Deserialize, Serialize};
use shmim_core::{Datatype, Stream, StreamSpec};

use super::{Effort, Figure, Report, Row};
use crate::child::Peer;
use crate::cli::BenchPeerArgs;
use crate::failure::{Failure, Result};

/// CPU time a hybrid wait may spend beyond its spin budget (blocking, waking up, returning).
const SLACK: Duration = Duration::from_micros(50);
/// Bound of one wait in the peer, and of the peer's start and end.
const WAIT: Duration = Duration::from_secs(10);
const FRAME: usize = 16;

/// What the peer reports: CPU and wall time of each wait, in ns.
#[derive(Debug, Serialize, Deserialize)]
struct Waits {
    cpu_ns: Vec<u64>,
    wall_ns: Vec<u64>,
}

pub fn measure(dir: &Path, effort: &Effort, report: &mut Report) -> Result<()> {
    let idle = effort.idle;
    let budget = effort.hybrid_spin;
    let ms = idle.as_millis();
    for strategy in ["hybrid", "busy-poll", "blocking"] {
        let mut waits = run(dir, strategy, effort)?;
        let cpu = median(&mut waits.cpu_ns);
        let row = match strategy {
            "hybrid" => Row::new(
                "idle",
                format!("idle CPU: hybrid, {ms} ms between frames"),
                Figure::ns(cpu),
                "hybrid spin budget",
                Figure::ns(budget.as_nanos() as f64),
            )
            .target(
                format!("≤ budget + {} µs", SLACK.as_micros()),
                cpu <= (budget + SLACK).as_nanos() as f64,
            ),
            "busy-poll" => Row::new(
                "idle",
                format!("idle CPU: busy-poll, {ms} ms between frames"),
                Figure::ns(cpu),
                "time waited",
                Figure::ns(median(&mut waits.wall_ns)),
            ),
            _ => Row::new(
                "idle",
                format!("idle CPU: blocking, {ms} ms between frames"),
                Figure::ns(cpu),
                "time waited",
                Figure::ns(median(&mut waits.wall_ns)),
            ),
        };
        report.rows.push(row);
    }
    Ok(())
}

fn median(v: &mut [u64]) -> f64 {
    v.sort_unstable();
    v.get(v.len() / 2).map_or(f64::NAN, |&x| x as f64)
}

/// One peer waiting `effort.idle_waits` times with `strategy` for frames `effort.idle` apart.
fn run(dir: &Path, strategy: &str, effort: &Effort) -> Result<Waits> {
    let spec = StreamSpec::new(&[FRAME as u32], Datatype::Float).dir(dir);
    let name = format!("idle-{strategy}");
    let mut stream = Stream::create(&name, &spec)?;
    let role = format!("bench idle reader ({strategy})");
    let args = [
        "__bench-peer".to_owned(),
        "--mode".into(),
        name.clone(),
        "--path".into(),
        dir.display().to_string(),
        "--rounds".into(),
        effort.idle_waits.to_string(),
        "--deadline-ms".into(),
        (WAIT.as_millis() as u64 * 2).to_string(),
        "--spin-us".into(),
        effort.hybrid_spin.as_micros().to_string(),
    ];
    let mut peer = Peer::spawn(dir, &role, &args)?;
    let ready_by = Instant::now() + WAIT;
    while stream.registered_readers().is_empty() {
        if peer.exited() || Instant::now() >= ready_by {
            return Err(peer
                .collect::<serde_json::Value>()
                .err()
                .unwrap_or_else(|| Failure::new(format!("{role} did not get ready"))));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let frame = [0f32; FRAME];
    for _ in 0..effort.idle_waits {
        std::thread::sleep(effort.idle);
        stream.write_frame(&frame)?;
    }
    let waits: Waits = peer.finish_within(WAIT)?;
    stream.destroy()?;
    Ok(waits)
}

fn cpu_now() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// The idle reader (`--mode idle-hybrid|idle-busy-poll|idle-blocking`): waits for each of the
/// writer's `rounds` frames, timing its own CPU use, and prints the figures as JSON.
pub fn peer(a: &BenchPeerArgs) -> Result<ExitCode> {
    let stream = Stream::open_in(&a.path, &a.mode)?;
    let mut r = stream.reader()?;
    let spin = Duration::from_micros(a.spin_us);
    let mut waits = Waits {
        cpu_ns: Vec::new(),
        wall_ns: Vec::new(),
    };
    // Until the writer's last frame, not for a count of waits: a reader descheduled across two
    // frames (a loaded machine) sees both in one wait, and would then wait for a frame that
    // never comes. The stream is fresh, so its frames are numbered 1..=rounds.
    while r.last_frame() < a.rounds {
        let (cpu, wall) = (cpu_now(), Instant::now());
        match a.mode.as_str() {
            "idle-hybrid" => r.wait_hybrid(spin, WAIT)?,
            "idle-busy-poll" => r.poll_spin(Instant::now() + WAIT)?,
            _ => r.wait_timeout(WAIT)?,
        };
        waits.cpu_ns.push((cpu_now() - cpu).as_nanos() as u64);
        waits.wall_ns.push(wall.elapsed().as_nanos() as u64);
    }
    println!("{}", serde_json::to_string(&waits).unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}
