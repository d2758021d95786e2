//! `shmim-bridge bench` (`cargo xtask bench bridge`): the bridge against a plain TCP pipeline.
//!
//! For each frame size (64², 512², 2048² f32) both pipelines run as real processes on loopback,
//! in the same run: `pub` + `sub --mode every` over Zenoh, and [`tcp`]'s `__tcp-send` +
//! `__tcp-recv`, which do the same waits and copies over a bare socket. This process writes the
//! source stream and is the mirror's registered reader:
//!
//! * **latency**: one frame at a time; commit time (the frame's `atime`, carried by both
//!   pipelines) → the mirror reader awake, p50/p99 over every sample;
//! * **throughput**: frames kept in flight (a window of [`WINDOW`]) until the source's frame
//!   number `cnt1` reaches the mirror; frames/s and MB/s delivered into the mirror (the median
//!   round).
//!
//! Both pipelines of a size are started together and measured in alternating rounds, so that a
//! busy spell of the (shared, 2-core) machine falls on both alike; the pipeline not being
//! measured is stopped (`SIGSTOP`, then `SIGCONT` for its round), so that its idle threads
//! (Zenoh's timers, the bridge's polls) do not take CPU time from the one measured. Both
//! receivers publish the same mirror keywords per frame (source `cnt0`, latency, writetime).
//!
//! Ratios are bridge ÷ baseline. Targets (issue 18): throughput ≥ 50 % of the baseline's at 512²,
//! latency p50 ≤ 2× the baseline's at 64². A benchmark, not a test: nothing fails on a figure.

mod measure;
pub mod tcp;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use clap::Args;
use rustix::process::{Pid, Signal, kill_process};
use shmim_core::{Datatype, Stream, StreamSpec};

use crate::error::{BridgeError, Result};
pub use measure::Figures;
pub use tcp::{TcpRecvArgs, TcpSendArgs, tcp_recv, tcp_send};

/// Frames in flight in the throughput runs.
pub const WINDOW: u64 = 4;

/// `bench`'s options.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Frame sides (frames are SIDE×SIDE f32).
    #[arg(long, value_delimiter = ',', default_values_t = [64u32, 512, 2048])]
    pub sides: Vec<u32>,
    /// Fewer frames (for tests; noisier figures).
    #[arg(long)]
    pub quick: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A pipeline's processes, killed on drop.
struct Pipeline {
    children: Vec<Child>,
}

impl Pipeline {
    /// Sends `signal` to every process of the pipeline.
    fn signal(&self, signal: Signal) -> Result<()> {
        for c in &self.children {
            kill_process(Pid::from_child(c), signal)
                .map_err(|e| BridgeError::io("signal a pipeline process", e.into()))?;
        }
        Ok(())
    }

    /// Stops the pipeline while the other is measured (a round lasts well under Zenoh's 10 s
    /// lease, so its link survives).
    fn pause(&self) -> Result<()> {
        self.signal(Signal::STOP)
    }

    /// Lets the pipeline run again.
    fn resume(&self) -> Result<()> {
        self.signal(Signal::CONT)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn spawn(args: &[&str]) -> Result<Child> {
    let exe = std::env::current_exe().map_err(|e| BridgeError::io("find this executable", e))?;
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| BridgeError::io("start a pipeline process", e))
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BridgeError::io("find a free port", e))
}

/// Which pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `pub` + `sub` over Zenoh.
    Bridge,
    /// `__tcp-send` + `__tcp-recv`.
    Tcp,
}

fn start(kind: Kind, src: &Path, dst: &Path) -> Result<Pipeline> {
    let port = free_port()?.to_string();
    let (s, d) = (src.to_string_lossy(), dst.to_string_lossy());
    let children = match kind {
        Kind::Bridge => {
            let ep = format!("tcp/127.0.0.1:{port}");
            vec![
                spawn(&["pub", "bsrc", "--dir", &s, "--listen", &ep])?,
                spawn(&[
                    "sub",
                    "shmim/bsrc",
                    "--mode",
                    "every",
                    "--status-every",
                    "0",
                    "--dir",
                    &d,
                    "--connect",
                    &ep,
                ])?,
            ]
        }
        Kind::Tcp => vec![
            spawn(&["__tcp-recv", "--name", "bsrc", "--dir", &d, "--port", &port])?,
            spawn(&[
                "__tcp-send",
                "--name",
                "bsrc",
                "--dir",
                &s,
                "--connect",
                &format!("127.0.0.1:{port}"),
            ])?,
        ],
    };
    Ok(Pipeline { children })
}

/// A private directory for one pipeline's streams, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Result<Self> {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let p = base.join(format!("shmim-bridge-bench-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join("src"))
            .and_then(|()| std::fs::create_dir_all(p.join("dst")))
            .map_err(|e| BridgeError::io(format!("create {}", p.display()), e))?;
        Ok(Self(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running pipeline with its streams.
struct Running {
    rig: measure::Rig,
    pipeline: Pipeline,
    _scratch: Scratch,
}

fn start_rig(kind: Kind, side: u32) -> Result<Running> {
    let scratch = Scratch::new(&format!("{kind:?}-{side}"))?;
    let (src_dir, dst_dir) = (scratch.0.join("src"), scratch.0.join("dst"));
    let mut src = Stream::create(
        "bsrc",
        &StreamSpec::new(&[side, side], Datatype::Float).dir(&src_dir),
    )?;
    let pipeline = start(kind, &src_dir, &dst_dir)?;
    let mirror = measure::wait_for_mirror(&mut src, &dst_dir, "bsrc")?;
    Ok(Running {
        rig: measure::Rig::new(src, mirror)?,
        pipeline,
        _scratch: scratch,
    })
}

/// Measures both pipelines at one size, in alternating rounds (so that a busy spell of the
/// machine falls on both alike), the one not measured stopped.
fn measure_side(side: u32, quick: bool) -> Result<[Figures; 2]> {
    let mut tcp = start_rig(Kind::Tcp, side)?;
    tcp.pipeline.pause()?;
    let mut bridge = start_rig(Kind::Bridge, side)?;
    bridge.pipeline.pause()?;
    let bytes = (side as usize) * (side as usize) * 4;
    let (rounds, lat_frames, thr_frames) = match (quick, bytes) {
        (true, _) => (2, 15, 15),
        (false, b) if b <= 1 << 16 => (7, 500, 1000),
        (false, b) if b <= 1 << 20 => (7, 100, 200),
        _ => (5, 20, 30),
    };
    let watchdog = Duration::from_secs(30);
    for _ in 0..rounds {
        for r in [&mut tcp, &mut bridge] {
            r.pipeline.resume()?;
            r.rig.latency_round(lat_frames, 5, watchdog)?;
            r.rig.throughput_round(thr_frames, watchdog)?;
            r.pipeline.pause()?;
        }
    }
    Ok([tcp.rig.figures(), bridge.rig.figures()])
}

/// Runs the benchmark.
pub fn run(a: &BenchArgs) -> Result<ExitCode> {
    let mut rows = Vec::new();
    for &side in &a.sides {
        let [tcp, bridge] = measure_side(side, a.quick)?;
        rows.push((side, Kind::Tcp, tcp));
        rows.push((side, Kind::Bridge, bridge));
    }
    if a.json {
        println!("{}", measure::json(&rows));
    } else {
        print!("{}", measure::table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}
