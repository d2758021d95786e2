//! `shmim info NAME [--json]`: every metadata field, keywords, semaphores, circular buffer.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value as Json, json};
use shmim_core::{Metadata, Stream, Timespec, Value};

use crate::cli::InfoArgs;
use crate::clock::age_of;
use crate::cmd::pid_state;
use crate::failure::Result;
use crate::parse::{shape_text, type_name};

pub fn run(dir: &Path, a: &InfoArgs) -> Result<ExitCode> {
    let stream = Stream::open_in(dir, &a.name)?;
    let md = stream.metadata_snapshot();
    let keywords = stream.keywords()?;
    let values = stream.semaphore_values();
    let readers = stream.registered_readers();
    let (cb_index, cb_cycle) = stream.cb_position();
    let path = stream.path().map(|p| p.display().to_string());
    let file_size = stream
        .path()
        .and_then(|p| std::fs::metadata(p).ok())
        .map_or(0, |m| m.len());

    let sems: Vec<Json> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let pid = readers
                .iter()
                .find(|&&(s, _)| usize::from(s) == i)
                .map_or(0, |&(_, p)| p);
            json!({"index": i, "value": v, "reader_pid": pid, "reader": pid_state(pid)})
        })
        .collect();
    let kws: Vec<Json> = keywords
        .iter()
        .map(|k| {
            let (ty, v) = match &k.value {
                Value::Long(l) => ("L", json!(l)),
                Value::Double(d) => ("D", json!(d)),
                Value::Str(s) => ("S", json!(s)),
                Value::Empty => ("N", Json::Null),
            };
            json!({"index": k.index, "name": k.name, "type": ty, "value": v,
                   "comment": k.comment, "writes": k.cnt})
        })
        .collect();

    if a.json {
        let doc = json!({
            "name": a.name, "path": path, "file_size": file_size,
            "metadata": metadata_json(&md),
            "keywords": kws, "semaphores": sems,
            "circular_buffer": {"size": md.cb_size, "index": cb_index, "cycle": cb_cycle},
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }

    let pid = |p: i32| format!("{p} ({})", pid_state(p));
    let time = |t: Timespec| match age_of(t.tv_sec, t.tv_nsec) {
        Some(age) => format!("{}.{:09} ({age:.3} s ago)", t.tv_sec, t.tv_nsec),
        None => "never".to_owned(),
    };
    let fields: Vec<(&str, String)> = vec![
        ("name", md.name.clone()),
        ("path", path.unwrap_or_else(|| "-".into())),
        ("file size", format!("{file_size} bytes")),
        ("shape", shape_text(&md.shape)),
        ("nelement", md.nelement.to_string()),
        (
            "datatype",
            format!(
                "{} (code {})",
                md.datatype.map_or("?", type_name),
                md.datatype_code
            ),
        ),
        ("frame bytes", md.imdatamemsize.to_string()),
        ("imagetype", format!("{:#x}", md.imagetype)),
        ("shared", md.shared.to_string()),
        (
            "location",
            if md.location < 0 {
                "CPU".into()
            } else {
                format!("GPU {}", md.location)
            },
        ),
        ("inode", md.inode.to_string()),
        ("status", md.status.to_string()),
        ("flag", format!("{:#x}", md.flag)),
        ("logflag", md.logflag.to_string()),
        ("creator PID", pid(md.creator_pid)),
        ("owner PID (ownerPID, set by milk)", pid(md.owner_pid)),
        (
            "writer PID (claims the write flag)",
            pid(stream.flag_claim().unwrap_or(0)),
        ),
        (
            "last writer PID (semWritePID)",
            pid(stream.last_writer().unwrap_or(0)),
        ),
        ("creation time", time(md.creation_time)),
        ("last access time", time(md.last_access_time)),
        ("write time", time(md.write_time)),
        ("acquisition time", time(md.atime)),
        ("cnt0 (frames)", md.cnt0.to_string()),
        ("cnt1 (slice)", md.cnt1.to_string()),
        ("cnt2", md.cnt2.to_string()),
        (
            "write flag",
            if md.write { "set (writing)" } else { "clear" }.into(),
        ),
        ("proc-trace entries", md.proc_trace.to_string()),
        (
            "circular buffer",
            format!("{} frames, index {cb_index}, cycle {cb_cycle}", md.cb_size),
        ),
        (
            "keywords",
            format!("{} used of {}", keywords.len(), md.keywords),
        ),
        ("semaphores", md.semaphores.to_string()),
    ];
    let w = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in &fields {
        println!("{k:<w$}  {v}");
    }
    for k in &kws {
        println!(
            "  keyword {:>3}  {:<15} {} {:<20} {}",
            k["index"].as_u64().unwrap_or(0),
            k["name"].as_str().unwrap_or(""),
            k["type"].as_str().unwrap_or(""),
            k["value"].to_string(),
            k["comment"].as_str().unwrap_or("")
        );
    }
    for s in &sems {
        let reader = match s["reader_pid"].as_i64() {
            Some(p) if p > 0 => format!("reader PID {p} ({})", s["reader"].as_str().unwrap_or("")),
            _ => "no reader".into(),
        };
        let (i, v) = (
            s["index"].as_u64().unwrap_or(0),
            s["value"].as_u64().unwrap_or(0),
        );
        println!("  semaphore {i:>2}  value {v:>2}  {reader}");
    }
    Ok(ExitCode::SUCCESS)
}

fn metadata_json(md: &Metadata) -> Json {
    let t = |t: Timespec| json!({"sec": t.tv_sec, "nsec": t.tv_nsec});
    json!({
        "name": md.name, "shape": md.shape, "nelement": md.nelement,
        "datatype": md.datatype.map(type_name), "datatype_code": md.datatype_code,
        "imagetype": md.imagetype, "creation_time": t(md.creation_time),
        "last_access_time": t(md.last_access_time), "atime": t(md.atime),
        "write_time": t(md.write_time), "creator_pid": md.creator_pid,
        "creator": pid_state(md.creator_pid), "owner_pid": md.owner_pid,
        "owner": pid_state(md.owner_pid), "claim_pid": md.claim_pid,
        "claim_ticket": md.claim_ticket, "shared": md.shared, "inode": md.inode,
        "location": md.location, "status": md.status, "flag": md.flag, "logflag": md.logflag,
        "semaphores": md.semaphores, "proc_trace": md.proc_trace, "cnt0": md.cnt0,
        "cnt1": md.cnt1, "cnt2": md.cnt2, "write": md.write, "keywords": md.keywords,
        "cb_size": md.cb_size, "cb_index": md.cb_index, "cb_cycle": md.cb_cycle,
        "imdatamemsize": md.imdatamemsize,
    })
}
