//! `shmim watch NAME`: a live view, refreshed a few times a second.
//!
//! On a terminal the view redraws in place and quits on `q` or Ctrl-C; otherwise (a pipe, a file)
//! it prints one line per refresh. `--count N` stops after N refreshes either way.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use shmim_core::Stream;

use crate::cli::WatchArgs;
use crate::clock::age_of;
use crate::cmd::pid_state;
use crate::failure::{Failure, Result};
use crate::parse::{shape_text, type_name};
use crate::stats::{hz_text, ns_text};
use crate::term::{CTRL_C, KeyInput};

pub fn run(dir: &Path, a: &WatchArgs) -> Result<ExitCode> {
    let mut stream = Stream::open_in(dir, &a.name)?;
    let interval = Duration::from_millis(a.interval);
    let tty = std::io::stdout().is_terminal();
    let keys = if tty { KeyInput::enable() } else { None };
    let mut out = std::io::stdout().lock();
    let mut last = (Instant::now(), stream.cnt0());
    let mut drawn_lines = 0usize;
    let mut refreshes = 0u64;
    loop {
        // Wait one interval (or until a key), then sample.
        match &keys {
            Some(k) => {
                if let Some(key) = k.key_within(interval) {
                    if matches!(key, b'q' | b'Q' | CTRL_C) {
                        break;
                    }
                }
            }
            None => std::thread::sleep(interval),
        }
        if stream.reopen_if_replaced().unwrap_or(false) {
            last = (Instant::now(), stream.cnt0());
        }
        if stream.inode_changed().unwrap_or(true) {
            drop(keys);
            return Err(Failure::new(format!(
                "stream {} was removed from {}",
                a.name,
                dir.display()
            )));
        }
        let now = (Instant::now(), stream.cnt0());
        let rate = now.1.wrapping_sub(last.1) as f64 / now.0.duration_since(last.0).as_secs_f64();
        last = now;
        let lines = view(&stream, rate);
        if tty {
            // Back to the top of the previous view, then overwrite it line by line.
            if drawn_lines > 0 {
                let _ = write!(out, "\x1b[{drawn_lines}A");
            }
            for l in &lines {
                let _ = write!(out, "\r{l}\x1b[K\r\n");
            }
            drawn_lines = lines.len();
        } else {
            let _ = writeln!(out, "{}", lines[1..].join("  "));
        }
        let _ = out.flush();
        refreshes += 1;
        if a.count.is_some_and(|n| refreshes >= n) {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The view: a title line, then one line per figure group.
fn view(s: &Stream, rate: f64) -> Vec<String> {
    let md = s.metadata_snapshot();
    let writer = s.writer_pid().unwrap_or(0);
    let since = age_of(md.write_time.tv_sec, md.write_time.tv_nsec)
        .map_or("never".to_owned(), |a| format!("{} ago", ns_text(a * 1e9)));
    let readers: Vec<String> = s
        .registered_readers()
        .iter()
        .map(|&(slot, pid)| format!("{slot}:{pid}({})", pid_state(pid)))
        .collect();
    let sems: Vec<String> = s.semaphore_values().iter().map(u32::to_string).collect();
    vec![
        format!(
            "{} {} {} (q or Ctrl-C quits)",
            s.name(),
            shape_text(&md.shape),
            md.datatype.map_or("?", type_name)
        ),
        format!(
            "cnt0 {}  rate {}  last write {}  write flag {}",
            md.cnt0,
            hz_text(rate),
            since,
            if md.write { "set" } else { "clear" }
        ),
        format!(
            "owner {} ({})  writer {} ({})  readers [{}]  semaphores [{}]",
            md.owner_pid,
            pid_state(md.owner_pid),
            writer,
            pid_state(writer),
            readers.join(" "),
            sems.join(" ")
        ),
    ]
}
