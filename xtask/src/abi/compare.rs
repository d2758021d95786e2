//! Comparing a side's measurement with the manifest: the list of mismatches.
//!
//! One moved field moves every field after it, so mismatches are split into *causes* and
//! *consequences*. Walking a struct's fields in declaration order, a field whose offset differs
//! from the manifest by the same amount as the last cause's shift (and whose size is right) is a
//! consequence of that cause; the struct's `sizeof` is a consequence when it grew or shrank by
//! that same amount. Anything else is a cause: the first field that moved, a field whose size,
//! type or presence differs, a later field that moved by a different amount. A field back at its
//! manifest offset ends the shift. Union members follow their union field the same way, without
//! disturbing the shift of the fields after the union. So a padding member inserted before
//! `IMAGE_METADATA.cnt0` yields exactly one cause, `IMAGE_METADATA.cnt0` moved +8, whose
//! consequences are the fields after it and `sizeof(IMAGE_METADATA)`.

use std::collections::BTreeSet;

use super::manifest::{FieldSpec, Manifest, StructSpec};
use super::measure::Measurement;

/// What differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Offset or size of a field, size or alignment of a struct or type.
    Layout,
    /// A field's C type.
    Type,
    /// The header (or Rust struct) lacks the item.
    Missing,
    /// A function's declared type differs from the legacy prototype.
    Prototype,
    /// A function the library does not export, or an export the manifest does not list.
    Symbol,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Layout => "layout",
            Kind::Type => "type",
            Kind::Missing => "missing",
            Kind::Prototype => "prototype",
            Kind::Symbol => "symbol",
        }
    }
}

/// One difference between a side and the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `c:shmim`, `c:legacy`, `rust` or `lib`.
    pub side: String,
    /// `IMAGE_METADATA.cnt0`, `IMAGE_METADATA` (its sizeof/alignof), `struct timespec`,
    /// `ImageStreamIO_openIm`.
    pub item: String,
    pub kind: Kind,
    /// The manifest's figure.
    pub expected: String,
    /// This side's.
    pub found: String,
    /// For a consequence, the cause it follows from.
    pub consequence_of: Option<String>,
    /// For a moved field, found offset minus expected offset.
    pub moved: Option<i64>,
}

impl Mismatch {
    fn new(side: &str, item: &str, kind: Kind, expected: String, found: String) -> Self {
        Mismatch {
            side: side.to_string(),
            item: item.to_string(),
            kind,
            expected,
            found,
            consequence_of: None,
            moved: None,
        }
    }
}

fn at(offset: u64, size: u64) -> String {
    format!("@{offset} size {size}")
}

fn size_align(size: u64, align: u64) -> String {
    format!("sizeof {size} alignof {align}")
}

/// Every mismatch between `m` and the manifest, over the items `m` covers.
pub fn compare(manifest: &Manifest, m: &Measurement) -> Vec<Mismatch> {
    let side = m.side.as_str();
    let mut out = Vec::new();
    if m.covers_types {
        for t in &manifest.types {
            let expected = size_align(t.size, t.align);
            if let Some(msg) = m.rejected.get(&t.name) {
                out.push(Mismatch::new(
                    side,
                    &t.name,
                    Kind::Missing,
                    expected,
                    missing(msg),
                ));
            } else if let Some(l) = m.types.get(&t.name) {
                if (l.size, l.align) != (t.size, t.align) {
                    let found = size_align(l.size, l.align);
                    out.push(Mismatch::new(side, &t.name, Kind::Layout, expected, found));
                }
            }
        }
    }
    for s in manifest
        .structs
        .iter()
        .filter(|s| m.covers.contains(&s.name))
    {
        compare_struct(s, m, &mut out);
    }
    if m.covers_functions {
        for f in &manifest.functions {
            let expected = f.prototype.clone();
            let found = match (m.rejected.get(&f.name), m.functions.get(&f.name)) {
                (Some(msg), _) => format!("not declared ({msg})"),
                (None, Some(true)) => continue,
                (None, Some(false)) => "a declaration of another type".to_string(),
                (None, None) => "not measured".to_string(),
            };
            let kind = if m.rejected.contains_key(&f.name) {
                Kind::Missing
            } else {
                Kind::Prototype
            };
            out.push(Mismatch::new(side, &f.name, kind, expected, found));
        }
    }
    out
}

fn missing(compiler_message: &str) -> String {
    format!("missing ({compiler_message})")
}

/// A shift the fields after a cause are expected to carry.
struct Shift {
    cause: String,
    delta: i64,
}

fn compare_struct(s: &StructSpec, m: &Measurement, out: &mut Vec<Mismatch>) {
    let side = m.side.as_str();
    let expected_struct = size_align(s.size, s.align);
    if let Some(msg) = m.rejected.get(&s.name) {
        out.push(Mismatch::new(
            side,
            &s.name,
            Kind::Missing,
            expected_struct,
            missing(msg),
        ));
        return;
    }
    // The shift of the top-level fields, and that of the members of the current union field.
    let mut shift: Option<Shift> = None;
    let mut member_shift: Option<Shift> = None;
    for f in &s.fields {
        let item = format!("{}.{}", s.name, f.path);
        let scope = if f.is_member() {
            &mut member_shift
        } else {
            &mut shift
        };
        if f.shmim_private && !m.fields.contains_key(&item) && !m.rejected.contains_key(&item) {
            // Not attempted by this side (C probes: padding has no name there).
            continue;
        }
        let Some(found) = m.fields.get(&item) else {
            let why = m
                .rejected
                .get(&item)
                .map(|msg| missing(msg))
                .unwrap_or_else(|| "missing (not measured)".into());
            out.push(Mismatch::new(
                side,
                &item,
                Kind::Missing,
                at(f.offset, f.size),
                why,
            ));
            *scope = None;
            if !f.is_member() {
                member_shift = None;
            }
            continue;
        };
        let delta = found.offset as i64 - f.offset as i64;
        let size_delta = found.size as i64 - f.size as i64;
        let mut cause_of_this = None;
        if delta != 0 || size_delta != 0 {
            let mut row = Mismatch::new(
                side,
                &item,
                Kind::Layout,
                at(f.offset, f.size),
                at(found.offset, found.size),
            );
            row.moved = (delta != 0).then_some(delta);
            match scope
                .as_ref()
                .filter(|sh| size_delta == 0 && sh.delta == delta)
            {
                Some(sh) => {
                    row.consequence_of = Some(sh.cause.clone());
                    cause_of_this = Some(sh.cause.clone());
                }
                None => {
                    *scope = Some(Shift {
                        cause: item.clone(),
                        delta: delta + size_delta,
                    });
                    cause_of_this = Some(item.clone());
                }
            }
            out.push(row);
        } else {
            *scope = None;
        }
        if !f.is_member() {
            // The members of a union field move with it.
            member_shift = cause_of_this
                .filter(|_| delta != 0)
                .map(|cause| Shift { cause, delta });
        }
        type_row(f, &item, found, side, out);
    }
    let Some(l) = m.structs.get(&s.name) else {
        return;
    };
    if (l.size, l.align) != (s.size, s.align) {
        let mut row = Mismatch::new(
            side,
            &s.name,
            Kind::Layout,
            expected_struct,
            size_align(l.size, l.align),
        );
        let size_delta = l.size as i64 - s.size as i64;
        if l.align == s.align {
            row.consequence_of = shift.filter(|sh| sh.delta == size_delta).map(|sh| sh.cause);
        }
        out.push(row);
    }
}

fn type_row(
    f: &FieldSpec,
    item: &str,
    found: &super::measure::FieldFound,
    side: &str,
    out: &mut Vec<Mismatch>,
) {
    if let (Some(expected), Some(false)) = (&f.ctype, found.type_ok) {
        let found = found
            .found_type
            .clone()
            .unwrap_or_else(|| "an incompatible type".into());
        out.push(Mismatch::new(
            side,
            item,
            Kind::Type,
            expected.clone(),
            found,
        ));
    }
}

/// The library's exports against the manifest's functions: each must be exported, and nothing
/// else may be.
pub fn compare_symbols(manifest: &Manifest, exported: &BTreeSet<String>) -> Vec<Mismatch> {
    let listed: BTreeSet<&str> = manifest.functions.iter().map(|f| f.name.as_str()).collect();
    let mut out = Vec::new();
    for f in &manifest.functions {
        if !exported.contains(&f.name) {
            out.push(Mismatch::new(
                "lib",
                &f.name,
                Kind::Symbol,
                "exported".into(),
                "not exported".into(),
            ));
        }
    }
    for e in exported.iter().filter(|e| !listed.contains(e.as_str())) {
        out.push(Mismatch::new(
            "lib",
            e,
            Kind::Symbol,
            "not exported (not in the manifest)".into(),
            "exported".into(),
        ));
    }
    out
}
