//! `self-contained` step: nothing tracked refers to material outside this repository.
//!
//! A user's clone is the whole project: the specification the project was built from, and the
//! legacy test data it was checked against, live beside the repository only where the project
//! is developed. Tests, builds and docs must use what is inside (`docs/`, `tests/data/`), so
//! every tracked file is searched for a path that reaches out of the clone into that sibling
//! folder.

use std::process::Command;

use crate::cmd::root;

/// The forbidden spellings, built at run time so that this file does not match itself.
fn patterns() -> Vec<String> {
    let sibling = "shared";
    vec![
        format!("../{sibling}"),
        format!("{sibling}/spec"),
        format!("{sibling}/testdata"),
    ]
}

/// Lines of tracked files that refer outside the repository, as `path:line: text`.
pub fn offending_lines() -> Result<Vec<String>, String> {
    let out = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run git ls-files: {e}"))?;
    if !out.status.success() {
        return Err("git ls-files failed (is this a git checkout?)".into());
    }
    let patterns = patterns();
    let mut found = Vec::new();
    for path in out.stdout.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        let path = String::from_utf8_lossy(path).into_owned();
        if path.ends_with(".lock") {
            continue;
        }
        // Binary files (the golden streams) cannot hold a path a reader follows; skip them.
        let Ok(text) = std::fs::read_to_string(root().join(&path)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if patterns.iter().any(|p| line.contains(p.as_str())) {
                found.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    Ok(found)
}

/// The CI step: fails listing every offending line.
pub fn check() -> Result<(), String> {
    let found = offending_lines()?;
    if found.is_empty() {
        eprintln!("no tracked file refers outside the repository");
        return Ok(());
    }
    Err(format!(
        "{} line(s) of tracked files refer to material outside the repository (use docs/ and \
         tests/data/ instead):\n  {}",
        found.len(),
        found.join("\n  ")
    ))
}

#[cfg(test)]
mod tests {
    use super::patterns;

    #[test]
    fn patterns_catch_each_spelling_and_not_this_repositorys_docs() {
        let hits = |s: &str| patterns().iter().any(|p| s.contains(p.as_str()));
        assert!(hits(&format!("see ../{}/x", "shared")));
        assert!(hits(&format!("{}/spec/format.md", "shared")));
        assert!(hits(&format!("{}/testdata/legacy", "shared")));
        assert!(!hits("docs/format.md"));
        assert!(!hits("crates/shmim-core/tests/data/legacy"));
        assert!(!hits("shared memory file"));
    }
}
