//! Printing a check: the sides and their verdicts, the mismatch table (causes, each with a
//! one-line summary of its consequences), the optional full side-by-side table, and `--json`.

use std::fmt::Write as _;

use super::Check;
use super::compare::Mismatch;
use super::manifest::Manifest;

/// The human-readable report.
pub fn text(check: &Check, verbose: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "abi: {} layout against {}",
        check.manifest.variant,
        relative(&check.manifest.path)
    );
    for side in &check.sides {
        let verdict = match &side.skipped {
            Some(why) => format!("not checked: {why}"),
            None => {
                let n = check
                    .mismatches
                    .iter()
                    .filter(|m| m.side == side.name)
                    .count();
                let counts = side.counts.clone();
                match n {
                    0 => format!("{counts}: ok"),
                    n => format!("{counts}: {}", count(n, "mismatch", "mismatches")),
                }
            }
        };
        let _ = writeln!(s, "  {:<9} {}", side.name, side.source);
        let _ = writeln!(s, "  {:<9}   {verdict}", "");
    }
    if check.mismatches.is_empty() {
        let _ = writeln!(s, "no mismatches");
        return s;
    }
    let causes: Vec<&Mismatch> = check
        .mismatches
        .iter()
        .filter(|m| m.consequence_of.is_none())
        .collect();
    let _ = writeln!(
        s,
        "\n{}: {}, {} (items that moved with a cause)",
        count(check.mismatches.len(), "mismatch", "mismatches"),
        count(causes.len(), "cause", "causes"),
        count(
            check.mismatches.len() - causes.len(),
            "consequence",
            "consequences"
        )
    );
    let width = check
        .mismatches
        .iter()
        .map(|m| m.item.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let col = |x: &str, w: usize| format!("{x:<w$}");
    let _ = writeln!(
        s,
        "  {} {} {} {} {} note",
        col("item", width),
        col("side", 9),
        col("what", 9),
        col("expected", 24),
        col("found", 24)
    );
    let row = |s: &mut String, m: &Mismatch| {
        let note = match (m.moved, &m.consequence_of) {
            (_, Some(c)) => format!("follows {c}"),
            (Some(d), None) => format!("moved {d:+}"),
            _ => String::new(),
        };
        let line = format!(
            "  {} {} {} {} {} {note}",
            col(&m.item, width),
            col(&m.side, 9),
            col(m.kind.name(), 9),
            col(&m.expected, 24),
            col(&m.found, 24)
        );
        let _ = writeln!(s, "{}", line.trim_end());
    };
    for cause in causes {
        row(&mut s, cause);
        let followers: Vec<&Mismatch> = check
            .mismatches
            .iter()
            .filter(|m| m.side == cause.side && m.consequence_of.as_ref() == Some(&cause.item))
            .collect();
        if followers.is_empty() {
            continue;
        }
        if verbose {
            for f in followers {
                row(&mut s, f);
            }
        } else {
            let names: Vec<String> = followers.iter().map(|f| follower_name(cause, f)).collect();
            let _ = writeln!(
                s,
                "  {} and with it: {} (--verbose lists them)",
                col("", width),
                names.join(", ")
            );
        }
    }
    s
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `cnt1` for a field of the cause's struct, `sizeof 384 -> 392` for the struct itself.
fn follower_name(cause: &Mismatch, f: &Mismatch) -> String {
    let struct_name = cause.item.split('.').next().unwrap_or("");
    if f.item == struct_name {
        let size = |s: &str| s.split_whitespace().nth(1).unwrap_or("?").to_string();
        format!("sizeof {} -> {}", size(&f.expected), size(&f.found))
    } else {
        f.item
            .strip_prefix(&format!("{struct_name}."))
            .unwrap_or(&f.item)
            .to_string()
    }
}

/// Every struct field and type with the manifest's figure and each checked side's, `=` where
/// a side agrees.
pub fn table(check: &Check) -> String {
    let m: &Manifest = &check.manifest;
    let sides: Vec<_> = check.measurements.iter().collect();
    let mut s = String::new();
    let mut header = format!("  {:<42} {:<22}", "item", "manifest");
    for side in &sides {
        let _ = write!(header, " {:<22}", side.side);
    }
    let _ = writeln!(s, "{}", header.trim_end());
    let mut line = |item: &str, expected: String, found: Vec<Option<String>>| {
        let mut l = format!("  {item:<42} {expected:<22}");
        for f in found {
            let cell = match f {
                None => "-".to_string(),
                Some(f) if f == expected => "=".to_string(),
                Some(f) => f,
            };
            let _ = write!(l, " {cell:<22}");
        }
        let _ = writeln!(s, "{}", l.trim_end());
    };
    for t in &m.types {
        let found = sides
            .iter()
            .map(|side| {
                side.types
                    .get(&t.name)
                    .map(|l| format!("size {} align {}", l.size, l.align))
            })
            .collect();
        line(&t.name, format!("size {} align {}", t.size, t.align), found);
    }
    for st in &m.structs {
        let found = sides
            .iter()
            .map(|side| {
                side.structs
                    .get(&st.name)
                    .map(|l| format!("size {} align {}", l.size, l.align))
                    .or_else(|| side.rejected.get(&st.name).map(|_| "missing".into()))
            })
            .collect();
        line(
            &st.name,
            format!("size {} align {}", st.size, st.align),
            found,
        );
        for f in &st.fields {
            let item = format!("{}.{}", st.name, f.path);
            let found = sides
                .iter()
                .map(|side| {
                    if let Some(x) = side.fields.get(&item) {
                        let mut cell = format!("@{} size {}", x.offset, x.size);
                        if x.type_ok == Some(false) {
                            let t = x.found_type.as_deref().unwrap_or("another type");
                            cell.push_str(&format!(", type {t}"));
                        }
                        Some(cell)
                    } else {
                        side.rejected.get(&item).map(|_| "missing".to_string())
                    }
                })
                .collect();
            line(
                &format!("  .{}", f.path),
                format!("@{} size {}", f.offset, f.size),
                found,
            );
        }
    }
    for f in &m.functions {
        let found = sides
            .iter()
            .map(|side| {
                if !side.covers_functions {
                    None
                } else if side.rejected.contains_key(&f.name) {
                    Some("not declared".to_string())
                } else {
                    match side.functions.get(&f.name) {
                        Some(true) => Some("prototype".to_string()),
                        _ => Some("another type".to_string()),
                    }
                }
            })
            .collect();
        line(&f.name, "prototype".to_string(), found);
    }
    s
}

/// The machine-readable report.
pub fn json(check: &Check) -> String {
    let mut s = String::from("{\n");
    let _ = writeln!(
        s,
        "  \"manifest\": {},",
        quote(&relative(&check.manifest.path))
    );
    let _ = writeln!(s, "  \"variant\": {},", quote(&check.manifest.variant));
    let _ = writeln!(s, "  \"ok\": {},", check.mismatches.is_empty());
    s.push_str("  \"sides\": [\n");
    for (i, side) in check.sides.iter().enumerate() {
        let mismatches = check
            .mismatches
            .iter()
            .filter(|m| m.side == side.name)
            .count();
        let _ = write!(
            s,
            "    {{\"side\": {}, \"source\": {}, \"checked\": {}, \"skipped_because\": {}, \"mismatches\": {}}}",
            quote(&side.name),
            quote(&side.source),
            side.skipped.is_none(),
            side.skipped.as_deref().map(quote).unwrap_or("null".into()),
            mismatches
        );
        s.push_str(if i + 1 < check.sides.len() {
            ",\n"
        } else {
            "\n"
        });
    }
    s.push_str("  ],\n  \"mismatches\": [\n");
    for (i, m) in check.mismatches.iter().enumerate() {
        let _ = write!(
            s,
            "    {{\"side\": {}, \"item\": {}, \"kind\": {}, \"expected\": {}, \"found\": {}, \"moved\": {}, \"consequence_of\": {}}}",
            quote(&m.side),
            quote(&m.item),
            quote(m.kind.name()),
            quote(&m.expected),
            quote(&m.found),
            m.moved.map(|d| d.to_string()).unwrap_or("null".into()),
            m.consequence_of
                .as_deref()
                .map(quote)
                .unwrap_or("null".into())
        );
        s.push_str(if i + 1 < check.mismatches.len() {
            ",\n"
        } else {
            "\n"
        });
    }
    s.push_str("  ]\n}\n");
    s
}

/// A JSON string literal.
fn quote(text: &str) -> String {
    let mut q = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(q, "\\u{:04x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// `path` relative to the workspace root when it is inside it.
fn relative(path: &std::path::Path) -> String {
    path.strip_prefix(crate::cmd::root())
        .unwrap_or(path)
        .display()
        .to_string()
}
