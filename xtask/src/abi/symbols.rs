//! The library side: the dynamic symbols `libImageStreamIO.so` defines (`nm -D --defined-only`).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The names of the symbols `lib` exports.
pub fn exported(lib: &Path) -> Result<BTreeSet<String>, String> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run nm (binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "nm -D {}: {}",
            lib.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // Lines are `ADDRESS TYPE NAME`; type `A` marks symbol-version nodes, not symbols.
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace().rev();
            let name = cols.next()?;
            let kind = cols.next()?;
            (kind != "A").then(|| name.split('@').next().unwrap_or(name).to_string())
        })
        .collect())
}
