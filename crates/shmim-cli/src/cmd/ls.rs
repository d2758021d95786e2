//! `shmim ls [--json]`: the streams of a directory, with counters, rates and who is attached.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;
use shmim_core::Stream;

use crate::cli::LsArgs;
use crate::cmd::pid_state;
use crate::failure::Result;
use crate::parse::{shape_text, type_name};
use crate::stats::hz_text;
use crate::table::Table;

/// How long `cnt0` is watched to estimate the update rate.
const RATE_WINDOW: Duration = Duration::from_millis(100);

/// One stream as `ls --json` prints it.
#[derive(Serialize)]
struct Row {
    name: String,
    path: String,
    /// Why the file could not be opened (the other fields are then empty).
    error: Option<String>,
    shape: Vec<u32>,
    datatype: String,
    size_bytes: u64,
    cnt0: u64,
    rate_hz: f64,
    writing: bool,
    creator_pid: i32,
    creator: &'static str,
    /// `ownerPID`: the stream's owner as milk sets it (`shmimsetown*`), 0 = none.
    owner_pid: i32,
    owner: &'static str,
    /// The writer: the claim PID while a shmim writer holds the write flag, else the process
    /// that published last (`semWritePID`); 0 = none.
    writer_pid: i32,
    writer: &'static str,
    /// `[slot, pid]` of every registered reader.
    readers: Vec<(u16, i32)>,
    readers_alive: usize,
}

pub fn run(dir: &Path, a: &LsArgs) -> Result<ExitCode> {
    let listed = shmim_core::list(dir)?;
    // Open everything, sample every cnt0 once, wait one window, sample again.
    let opened: Vec<_> = listed
        .iter()
        .map(|l| Stream::open_in(dir, &l.name))
        .collect();
    let t0 = Instant::now();
    let first: Vec<u64> = opened
        .iter()
        .map(|s| s.as_ref().map_or(0, Stream::cnt0))
        .collect();
    if opened.iter().any(Result::is_ok) {
        std::thread::sleep(RATE_WINDOW);
    }
    let dt = t0.elapsed().as_secs_f64();

    let mut rows = Vec::new();
    for ((l, s), c0) in listed.iter().zip(&opened).zip(first) {
        let size_bytes = std::fs::metadata(&l.path).map_or(0, |m| m.len());
        let mut row = Row {
            name: l.name.clone(),
            path: l.path.display().to_string(),
            error: None,
            shape: Vec::new(),
            datatype: String::new(),
            size_bytes,
            cnt0: 0,
            rate_hz: 0.0,
            writing: false,
            creator_pid: 0,
            creator: "-",
            owner_pid: 0,
            owner: "-",
            writer_pid: 0,
            writer: "-",
            readers: Vec::new(),
            readers_alive: 0,
        };
        match s {
            Err(e) => row.error = Some(e.to_string()),
            Ok(s) => {
                let md = s.metadata_snapshot();
                row.shape = md.shape.clone();
                row.datatype = md.datatype.map_or("?", type_name).to_owned();
                row.cnt0 = s.cnt0();
                row.rate_hz = row.cnt0.wrapping_sub(c0) as f64 / dt;
                row.writing = s.is_writing();
                row.creator_pid = md.creator_pid;
                row.creator = pid_state(md.creator_pid);
                row.owner_pid = md.owner_pid;
                row.owner = pid_state(md.owner_pid);
                // The writer holding the flag now, else the last one that published.
                row.writer_pid = s.writer_pid().unwrap_or(0);
                row.writer = pid_state(row.writer_pid);
                row.readers = s.registered_readers();
                row.readers_alive = row
                    .readers
                    .iter()
                    .filter(|&&(_, p)| pid_state(p) == "alive")
                    .count();
            }
        }
        rows.push(row);
    }

    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no streams in {}", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&[
        "NAME", "SHAPE", "TYPE", ">SIZE", ">CNT0", ">RATE", "WRITE", "CREATOR", "OWNER", "WRITER",
        ">READERS",
    ]);
    let mut unreadable = Vec::new();
    for r in &rows {
        if let Some(e) = &r.error {
            unreadable.push(format!("{}: unreadable: {e}", r.name));
            continue;
        }
        let pid = |p: i32, state: &str| {
            if p > 0 {
                format!("{p} {state}")
            } else {
                "-".into()
            }
        };
        t.row(vec![
            r.name.clone(),
            shape_text(&r.shape),
            r.datatype.clone(),
            r.size_bytes.to_string(),
            r.cnt0.to_string(),
            hz_text(r.rate_hz),
            if r.writing { "writing" } else { "idle" }.into(),
            pid(r.creator_pid, r.creator),
            pid(r.owner_pid, r.owner),
            pid(r.writer_pid, r.writer),
            readers_text(r),
        ]);
    }
    print!("{}", t.render());
    for line in &unreadable {
        println!("{line}");
    }
    println!("{} streams in {}", rows.len(), dir.display());
    Ok(ExitCode::SUCCESS)
}

/// `2`, or `3 (1 dead)` when some registered PIDs no longer exist.
fn readers_text(r: &Row) -> String {
    let gone = r.readers.len() - r.readers_alive;
    if gone > 0 {
        format!("{} ({gone} not alive)", r.readers.len())
    } else {
        r.readers.len().to_string()
    }
}
