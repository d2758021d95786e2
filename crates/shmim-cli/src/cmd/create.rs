//! `shmim create NAME --shape 512x512 --type f32 [--keywords N --sems N --cb N --mode 0660]`.

use std::path::Path;
use std::process::ExitCode;

use shmim_core::{Stream, StreamSpec};
use shmim_layout::FILE_SUFFIX;

use crate::cli::CreateArgs;
use crate::failure::{Failure, Result};
use crate::parse::{shape_text, type_name};
use crate::stats::bytes_text;

pub fn run(dir: &Path, a: &CreateArgs) -> Result<ExitCode> {
    let name = shmim_core::validate_name(&a.name)?;
    let path = dir.join(format!("{name}{FILE_SUFFIX}"));
    if !a.replace && std::fs::symlink_metadata(&path).is_ok() {
        return Err(Failure::new(format!(
            "{} already exists (pass --replace to re-create it, or `shmim rm {name}` first)",
            path.display()
        )));
    }
    let mut spec = StreamSpec::new(&a.shape.0, a.datatype)
        .keywords(a.keywords)
        .semaphores(a.sems)
        .circular_buffer(a.cb)
        .dir(dir);
    if let Some(mode) = a.mode {
        spec = spec.mode(mode);
    }
    let stream = Stream::create(name, &spec)?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "created {name}: {} {}, {} semaphores, {} keywords, {} circular-buffer frames, {} ({size} bytes) at {}",
        shape_text(&a.shape.0),
        type_name(a.datatype),
        a.sems,
        a.keywords,
        a.cb,
        bytes_text(size),
        stream.path().unwrap_or(&path).display()
    );
    Ok(ExitCode::SUCCESS)
}
