//! `shmim load FILE.fits NAME [--replace]`: a FITS image into a new stream, or as the next frame
//! of an existing one of the same shape and type (`shmim_fits::load`).

use std::path::Path;
use std::process::ExitCode;

use super::fits_text::{card_notes, print_notes};
use crate::cli::LoadArgs;
use crate::failure::Result;
use crate::parse::{shape_text, type_name};

pub fn run(dir: &Path, a: &LoadArgs) -> Result<ExitCode> {
    let r = shmim_fits::load(&a.file, dir, &a.name, a.replace)?;
    print_notes(&card_notes(&r.skipped, r.unread));
    let how = if r.created { "created" } else { "filled" };
    let hdu = if r.hdu == 0 {
        String::new()
    } else {
        format!(" (HDU {})", r.hdu)
    };
    println!(
        "{how} stream {} ({} {}) from {}{hdu}: frame {}, {} keywords",
        r.name,
        type_name(r.datatype),
        shape_text(&r.shape),
        a.file.display(),
        r.frame,
        r.keywords
    );
    Ok(ExitCode::SUCCESS)
}
