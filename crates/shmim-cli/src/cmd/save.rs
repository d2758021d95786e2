//! `shmim save NAME FILE.fits [--frames N] [--overwrite]`: the current frame, or the next N
//! frames as a cube, to a FITS file (`shmim_fits::save`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use shmim_core::Stream;
use shmim_fits::{SaveOptions, save};

use super::fits_text::{keyword_notes, print_notes, stop_text};
use crate::cli::SaveArgs;
use crate::failure::{Failure, Result};
use crate::interrupt::Interrupt;
use crate::parse::{shape_text, type_name};

pub fn run(dir: &Path, a: &SaveArgs) -> Result<ExitCode> {
    let timeout = Duration::try_from_secs_f64(a.timeout)
        .map_err(|_| Failure::new(format!("bad --timeout {}: seconds ≥ 0", a.timeout)))?;
    let stream = Stream::open_in(dir, &a.name)?;
    let opts = SaveOptions {
        frames: a.frames,
        overwrite: a.overwrite,
        timeout,
    };
    let mut interrupt = Interrupt::block();
    if let Some(n) = a.frames {
        eprintln!(
            "saving the next {n} frames of {} (Ctrl-C ends the cube early)",
            a.name
        );
    }
    let report = save(&stream, &a.file, &opts, &mut || interrupt.requested())?;
    print_notes(&keyword_notes(&report.keywords));
    let cube = &report.cube;
    let what = format!(
        "{} {}",
        type_name(stream.datatype()),
        shape_text(stream.shape())
    );
    match (a.frames, cube.first) {
        (None, Some(first)) => println!(
            "saved frame {} of {} ({what}) to {}",
            first.cnt0,
            a.name,
            a.file.display()
        ),
        _ => println!(
            "saved {} frames of {} ({what}) to {} as a cube, {} missed",
            cube.frames,
            a.name,
            a.file.display(),
            cube.missed
        ),
    }
    match report.stopped {
        None => Ok(ExitCode::SUCCESS),
        Some(stop) => {
            let held = match &cube.path {
                Some(_) => format!(
                    "{} holds the {} of {} frames taken",
                    a.file.display(),
                    cube.frames,
                    a.frames.unwrap_or(1)
                ),
                None => "nothing was saved".to_owned(),
            };
            Err(Failure::new(format!("{}: {held}", stop_text(stop))))
        }
    }
}
