//! The command line: every subcommand and its options (clap derive). Behaviour lives in `cmd/`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use shmim_core::Datatype;

use crate::parse::{Shape, parse_datatype, parse_mode, parse_shape};

/// shmim: ImageStreamIO shared-memory image streams from the command line.
#[derive(Debug, Parser)]
#[command(name = "shmim", version, about, long_about = None)]
pub struct Cli {
    /// Stream directory (default: $MILK_SHM_DIR, else /milk/shm, else /tmp).
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stream frames from a writer process to two reader processes and report what was measured.
    Demo(DemoArgs),
    /// List the streams of the directory.
    Ls(LsArgs),
    /// Show every metadata field, keyword and semaphore of a stream.
    Info(InfoArgs),
    /// Live view of a stream (q or Ctrl-C quits; one line per refresh when not on a terminal).
    Watch(WatchArgs),
    /// Create a stream.
    Create(CreateArgs),
    /// Remove streams (refuses streams with live registered readers unless --force).
    Rm(RmArgs),
    /// Remove every stream whose creator, writer and readers are all gone.
    Purge(PurgeArgs),
    /// Write synthetic frames into a stream.
    Write(WriteArgs),
    /// Read frames as a registered reader, validating checksum frames.
    Read(ReadArgs),
    /// Measure writer, reader and wake-up costs against hardware baselines.
    Bench(BenchArgs),
    /// Save the current frame (or the next N frames, as a cube) to a FITS file.
    #[cfg(feature = "fits")]
    Save(SaveArgs),
    /// Create a stream from a FITS image, or publish it as the next frame of an existing one.
    #[cfg(feature = "fits")]
    Load(LoadArgs),
    /// Log a stream to FITS cubes in a directory, paced by its writer (Ctrl-C finishes the open
    /// cube).
    #[cfg(feature = "fits")]
    Log(LogArgs),
    /// The demo's writer process.
    #[command(name = "__demo-writer", hide = true)]
    DemoWriter(ChildWriterArgs),
    /// The demo's reader processes.
    #[command(name = "__demo-reader", hide = true)]
    DemoReader(ChildReaderArgs),
    /// The bench's second process.
    #[command(name = "__bench-peer", hide = true)]
    BenchPeer(BenchPeerArgs),
    /// `shmim X ARGS…` runs `shmim-X ARGS…` (next to shmim, else on PATH), e.g. `shmim bridge`.
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Frames to stream.
    #[arg(long, default_value_t = 3000)]
    pub frames: u64,
    /// Frames per second the writer publishes (0: as fast as it can).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Frame side: frames are SIZE×SIZE f32.
    #[arg(long, default_value_t = 512)]
    pub size: u32,
    /// Reader processes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub readers: u16,
    /// Keep the stream directory afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 45)]
    pub timeout: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// List the streams published on the network instead (runs `shmim-bridge ls`).
    #[arg(long)]
    pub remote: bool,
    /// With --remote: the bridge endpoint to ask, e.g. tcp/10.0.0.2:7447 (repeatable).
    #[arg(long, value_name = "ENDPOINT", requires = "remote")]
    pub connect: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Stream name.
    pub name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Stream name.
    pub name: String,
    /// Refresh period in milliseconds.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..))]
    pub interval: u64,
    /// Stop after this many refreshes.
    #[arg(long)]
    pub count: Option<u64>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Stream name.
    pub name: String,
    /// Axis lengths, 1 to 3 of them: 512x512, 1024, 64x64x100.
    #[arg(long, value_parser = parse_shape)]
    pub shape: Shape,
    /// Pixel type: u8 i8 u16 i16 u32 i32 u64 i64 f16 f32 f64 cf32 cf64.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_datatype, default_value = "f32")]
    pub datatype: Datatype,
    /// Keyword entries.
    #[arg(long, default_value_t = 0)]
    pub keywords: u16,
    /// Semaphores (the number of readers that can register).
    #[arg(long, default_value_t = 10)]
    pub sems: u16,
    /// Circular-buffer frames.
    #[arg(long, default_value_t = 0)]
    pub cb: u32,
    /// File mode in octal, e.g. 0660 (default: 0666 less the umask).
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<u32>,
    /// Replace an existing stream of that name.
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Stream names.
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Remove even with live registered readers, or when the file is not a valid stream.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Only say what would be removed.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `shmim write` puts in each frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Pattern {
    /// Pixel i of frame k holds (i + k) modulo the type's range.
    Ramp,
    /// Uniform random values.
    Noise,
    /// Frame number, publish time and a checksum over the frame (`shmim read` validates it).
    Checksum,
}

impl Pattern {
    /// The pattern's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ramp => "ramp",
            Self::Noise => "noise",
            Self::Checksum => "checksum",
        }
    }
}

#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Stream name.
    pub name: String,
    /// Frames per second (0: as fast as possible).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// What each frame holds.
    #[arg(long, value_enum, default_value_t = Pattern::Ramp)]
    pub pattern: Pattern,
    /// Stop after this many frames (default: run until interrupted).
    #[arg(long)]
    pub count: Option<u64>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Stream name.
    pub name: String,
    /// Frames to read.
    #[arg(long, default_value_t = 10)]
    pub count: u64,
    /// Give up when no frame arrives for this many seconds.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[cfg(feature = "fits")]
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Stream name.
    pub name: String,
    /// FITS file to write (written under a temporary name, then renamed).
    pub file: PathBuf,
    /// Save the next N frames as a cube (with a per-frame table) instead of the current frame.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub frames: Option<u64>,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// With --frames: give up when no new frame comes for this many seconds.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub timeout: f64,
}

#[cfg(feature = "fits")]
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// FITS file to read (the primary image, or the first image extension).
    pub file: PathBuf,
    /// Stream name.
    pub name: String,
    /// Re-create the stream if it exists with another shape or type.
    #[arg(long)]
    pub replace: bool,
}

#[cfg(feature = "fits")]
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Stream name.
    pub name: String,
    /// Directory for the cubes (NAME_YYYYMMDDThh:mm:ss.nnnnnnnnn.fits).
    #[arg(value_name = "DIR")]
    pub log_dir: PathBuf,
    /// Frames per cube.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    pub frames_per_cube: u64,
    /// Stop after this many cubes (default: until Ctrl-C).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub cubes: Option<u64>,
    /// Run the thread that takes the frames on this CPU only (e.g. the writer's CPU).
    #[arg(long, value_name = "CPU")]
    pub taker_cpu: Option<usize>,
    /// Run the thread that writes the cubes on this CPU only: with few CPUs, give it one of its
    /// own to keep up with a fast writer.
    #[arg(long, value_name = "CPU")]
    pub disk_cpu: Option<usize>,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Fewer iterations and round trips (for tests; figures are noisier).
    #[arg(long)]
    pub quick: bool,
    /// Print the raw figures as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Round trips per wake-up strategy.
    #[arg(long)]
    pub round_trips: Option<u64>,
    /// Write SVG charts (latency histograms per wait strategy, cost vs frame size, scaling)
    /// into this directory.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Spin budget of the hybrid wait, in µs, before it blocks on the semaphore.
    #[arg(long, default_value_t = 100, value_name = "US")]
    pub hybrid_spin_us: u64,
    /// Pure-spin phase of the busy-poll reader, in µs, before it backs off and yields
    /// (default: the library's, 50 µs).
    #[arg(long, value_name = "US")]
    pub pure_spin_us: Option<u64>,
    /// A stream directory backed by huge pages (e.g. a tmpfs mounted with huge=always); without
    /// it the bench mounts a private one when it runs as root, else reports huge pages as not
    /// measured.
    #[arg(long, value_name = "DIR")]
    pub huge_dir: Option<PathBuf>,
    /// Run only these sections (comma-separated): publish, frames, wake, idle, scaling, huge,
    /// envcache, fits.
    #[arg(long, value_delimiter = ',', value_name = "SECTION,…")]
    pub only: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ChildWriterArgs {
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub frames: u64,
    #[arg(long)]
    pub rate: f64,
    #[arg(long)]
    pub deadline_ms: u64,
}

#[derive(Debug, Args)]
pub struct ChildReaderArgs {
    #[arg(long)]
    pub name: String,
    /// Stop after reading this frame number.
    #[arg(long)]
    pub until_frame: u64,
    #[arg(long)]
    pub deadline_ms: u64,
}

#[derive(Debug, Args)]
pub struct BenchPeerArgs {
    /// Which handoff to answer.
    #[arg(long)]
    pub mode: String,
    /// The shared file (ping-pong baselines) or the stream directory (stream modes).
    #[arg(long)]
    pub path: PathBuf,
    #[arg(long)]
    pub rounds: u64,
    #[arg(long)]
    pub deadline_ms: u64,
    /// CPU to pin the peer to.
    #[arg(long)]
    pub cpu: Option<usize>,
    /// Hybrid spin budget (µs).
    #[arg(long, default_value_t = 100)]
    pub spin_us: u64,
    /// Busy-poll pure-spin phase (µs).
    #[arg(long, default_value_t = 50)]
    pub pure_spin_us: u64,
    /// This reader's index (fan-out).
    #[arg(long, default_value_t = 0)]
    pub index: u16,
    /// Frame period of the FITS bench's writer, in µs.
    #[arg(long, default_value_t = 0)]
    pub period_us: u64,
}
