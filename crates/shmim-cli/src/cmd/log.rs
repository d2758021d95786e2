//! `shmim log NAME DIR [--frames-per-cube N] [--cubes M] [--taker-cpu C] [--disk-cpu C]`: a
//! stream to FITS cubes, paced by its writer, with a progress line; Ctrl-C finishes the open cube
//! (`shmim_fits::log`).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use shmim_core::Stream;
use shmim_fits::cards::keyword_cards;
use shmim_fits::{CubeReport, LogObserver, LogOptions, LogProgress, Stop, log};

use super::fits_text::{keyword_notes, print_notes, stop_text};
use crate::cli::LogArgs;
use crate::failure::{Failure, Result};
use crate::interrupt::Interrupt;
use crate::stats::hz_text;

pub fn run(dir: &Path, a: &LogArgs) -> Result<ExitCode> {
    let stream = Stream::open_in(dir, &a.name)?;
    if !a.log_dir.is_dir() {
        return Err(Failure::new(format!(
            "log directory {} does not exist (create it first)",
            a.log_dir.display()
        )));
    }
    let opts = LogOptions {
        frames_per_cube: a.frames_per_cube,
        cubes: a.cubes,
        taker_cpu: a.taker_cpu,
        disk_cpu: a.disk_cpu,
    };
    opts.check()?;
    print_notes(&keyword_notes(&keyword_cards(&stream.keywords()?)));
    let until = a
        .cubes
        .map_or("until Ctrl-C".to_owned(), |m| format!("{m} cubes"));
    eprintln!(
        "logging {} to {} in cubes of {} frames, {until}",
        a.name,
        a.log_dir.display(),
        a.frames_per_cube
    );
    let mut screen = Screen::new(&a.name);
    let report = log(&stream, &a.log_dir, &opts, &mut screen)?;
    screen.clear();
    let stop = match (&report.stopped, report.frames) {
        (None, _) => "",
        (Some(Stop::Interrupted), 0) => " (interrupted)",
        (Some(Stop::Interrupted), _) => " (interrupted; the last cube holds the frames it had)",
        (Some(_), 0) => " (stopped by an error)",
        (Some(_), _) => " (stopped by an error; the cubes hold the frames written before it)",
    };
    let unlogged = match report.unlogged {
        0 => String::new(),
        n => format!(", {n} taken but lost to the error"),
    };
    println!(
        "logged {} frames of {} in {} cubes, {} missed{unlogged}{stop}",
        report.frames,
        a.name,
        report.cubes.len(),
        report.missed
    );
    match report.stopped {
        Some(failed @ Stop::Failed(_)) => Err(Failure::new(stop_text(failed))),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The progress line on stderr (rewritten in place on a terminal, a line a second otherwise),
/// a line per finished cube, and Ctrl-C.
struct Screen<'a> {
    name: &'a str,
    interrupt: Interrupt,
    tty: bool,
    shown: Option<Instant>,
    rate_from: (Instant, u64),
    line_open: bool,
}

impl<'a> Screen<'a> {
    fn new(name: &'a str) -> Self {
        Self {
            name,
            // Blocked before anything else starts a thread.
            interrupt: Interrupt::block(),
            tty: std::io::stderr().is_terminal(),
            shown: None,
            rate_from: (Instant::now(), 0),
            line_open: false,
        }
    }

    fn clear(&mut self) {
        if self.line_open {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.line_open = false;
        }
    }
}

impl LogObserver for Screen<'_> {
    fn stop_requested(&mut self) -> bool {
        self.interrupt.requested()
    }

    fn frame(&mut self, p: &LogProgress) {
        let every = if self.tty {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(1)
        };
        if self.shown.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        let now = Instant::now();
        let (since, frames_then) = self.rate_from;
        let rate = (p.total_frames - frames_then) as f64 / now.duration_since(since).as_secs_f64();
        let line = format!(
            "{}: cube {} {}/{} frames, {} logged, {} missed, {}",
            self.name,
            p.cube + 1,
            p.frames,
            p.frames_per_cube,
            p.total_frames,
            p.total_missed,
            hz_text(rate)
        );
        if self.tty {
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
            self.line_open = true;
        } else {
            eprintln!("{line}");
        }
        self.shown = Some(now);
        self.rate_from = (now, p.total_frames);
    }

    fn cube(&mut self, r: &CubeReport) {
        self.clear();
        if let Some(path) = &r.path {
            eprintln!(
                "cube {}: {} frames, {} missed",
                path.display(),
                r.frames,
                r.missed
            );
        }
    }
}
