//! What one side (a C probe, the Rust probe) measured, and the compile loop both probes share.
//!
//! A probe is a generated program with one source line per manifest item (a type, a struct, a
//! field, a function). A header that lacks an item fails to compile *on that item's line*; the
//! loop records the compiler's message for the item, drops it and compiles again, so a single
//! run reports every missing item instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// `sizeof` and `alignof`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub size: u64,
    pub align: u64,
}

/// One field as a side sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldFound {
    pub offset: u64,
    pub size: u64,
    /// Whether its type is compatible with the manifest's (`None`: this side does not compare
    /// types, or the manifest names none).
    pub type_ok: Option<bool>,
    /// A name for the type it has, when `type_ok` is `Some(false)`.
    pub found_type: Option<String>,
}

/// Everything one side measured. Keys are the report's item names: `IMAGE_METADATA` (a
/// struct), `IMAGE_METADATA.cnt0` (a field), `struct timespec` (a type), `ImageStreamIO_openIm`
/// (a function).
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    /// Short name in the report: `c:shmim`, `c:legacy`, `rust`.
    pub side: String,
    /// What was compiled, for the report header.
    pub source: String,
    /// Structs this side describes; the others are not compared.
    pub covers: BTreeSet<String>,
    /// Whether `types` and `functions` were measured.
    pub covers_types: bool,
    pub covers_functions: bool,
    pub types: BTreeMap<String, Layout>,
    pub structs: BTreeMap<String, Layout>,
    pub fields: BTreeMap<String, FieldFound>,
    /// Function name → its declaration is compatible with the manifest's prototype.
    pub functions: BTreeMap<String, bool>,
    /// Items the compiler rejected, with its first message about each.
    pub rejected: BTreeMap<String, String>,
}

impl Measurement {
    /// Reads a probe's output: tab-separated lines `struct NAME SIZE ALIGN`, `type NAME SIZE
    /// ALIGN`, `field NAME OFFSET SIZE TYPE_OK FOUND_TYPE` (`-` for "not compared"), `function
    /// NAME OK`.
    pub fn read_output(&mut self, out: &str) -> Result<(), String> {
        for line in out.lines() {
            let cols: Vec<&str> = line.split('\t').collect();
            let num = |i: usize| -> Result<u64, String> {
                cols.get(i)
                    .and_then(|s| s.parse().ok())
                    .ok_or(format!("bad probe output line `{line}`"))
            };
            let name = cols.get(1).map(|s| s.to_string()).unwrap_or_default();
            match cols[0] {
                "struct" => {
                    let l = Layout {
                        size: num(2)?,
                        align: num(3)?,
                    };
                    self.structs.insert(name, l);
                }
                "type" => {
                    let l = Layout {
                        size: num(2)?,
                        align: num(3)?,
                    };
                    self.types.insert(name, l);
                }
                "field" => {
                    let type_ok = match cols.get(4).copied() {
                        Some("1") => Some(true),
                        Some("0") => Some(false),
                        _ => None,
                    };
                    let found_type = cols.get(5).filter(|s| **s != "-").map(|s| s.to_string());
                    let f = FieldFound {
                        offset: num(2)?,
                        size: num(3)?,
                        type_ok,
                        found_type,
                    };
                    self.fields.insert(name, f);
                }
                "function" => {
                    self.functions.insert(name, num(2)? == 1);
                }
                _ => return Err(format!("bad probe output line `{line}`")),
            }
        }
        Ok(())
    }
}

/// A generated probe: a source file made of fixed text around one line per item.
pub struct ProbeSource {
    /// Text before the item lines.
    pub prologue: String,
    /// (item name, source line without newline).
    pub items: Vec<(String, String)>,
    /// Text after the item lines.
    pub epilogue: String,
}

impl ProbeSource {
    /// The source with the items not in `dropped`, and the source line number of each item.
    fn render(&self, dropped: &BTreeMap<String, String>) -> (String, BTreeMap<usize, String>) {
        let mut text = self.prologue.clone();
        let mut lines = BTreeMap::new();
        let mut line_no = self.prologue.lines().count();
        for (name, code) in &self.items {
            if dropped.contains_key(name) {
                continue;
            }
            line_no += 1;
            lines.insert(line_no, name.clone());
            text.push_str(code);
            text.push('\n');
        }
        text.push_str(&self.epilogue);
        (text, lines)
    }
}

/// Writes `source` to `file` and runs `compile` until it succeeds, dropping the items whose
/// lines the compiler rejects. `file_marker` is how diagnostics name the file (`probe.c:`,
/// `main.rs:`). Returns the rejected items with the compiler's first message about each.
pub fn compile_dropping_rejected(
    source: &ProbeSource,
    file: &Path,
    file_marker: &str,
    mut compile: impl FnMut() -> Command,
) -> Result<BTreeMap<String, String>, String> {
    let mut dropped = BTreeMap::new();
    loop {
        let (text, lines) = source.render(&dropped);
        // Unchanged text keeps its modification time, so cargo does not rebuild the Rust probe.
        if std::fs::read_to_string(file).ok() != Some(text.clone()) {
            std::fs::write(file, &text).map_err(|e| format!("{}: {e}", file.display()))?;
        }
        let mut cmd = compile();
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
        if out.status.success() {
            return Ok(dropped);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut progress = false;
        for (line_no, message) in error_lines(&stderr, file_marker) {
            if let Some(item) = lines.get(&line_no) {
                if !dropped.contains_key(item) {
                    dropped.insert(item.clone(), message);
                    progress = true;
                }
            }
        }
        if !progress {
            return Err(format!(
                "the probe {} does not compile, and not because of one of its items:\n{stderr}",
                file.display()
            ));
        }
    }
}

/// `(line, message)` of each error diagnostic about `marker` (`probe.c:12:5: error: …`, or
/// rustc's short form `src/main.rs:12:5: error[E0609]: …`).
fn error_lines(stderr: &str, marker: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for line in stderr.lines() {
        let Some(at) = line.find(marker) else {
            continue;
        };
        let rest = &line[at + marker.len()..];
        let Some((num, rest)) = rest.split_once(':') else {
            continue;
        };
        let Ok(num) = num.parse::<usize>() else {
            continue;
        };
        let Some((_, message)) = rest.split_once(" error") else {
            continue;
        };
        let message = message
            .trim_start_matches(|c| c != ':')
            .trim_start_matches(':');
        found.push((num, message.trim().to_string()));
    }
    found
}
