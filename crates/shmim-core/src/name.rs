//! Stream names: what may appear between the directory and `.im.shm`.
//!
//! A name becomes a path component and the `md->name` C string (at most 79 bytes). We refuse what
//! could escape the directory (`/`, `.`/`..`), what C or a shell would misread (NUL, control
//! characters, a leading `-` that tools take for an option), and a leading `.` (shmim's temporary
//! files start with one, and listings skip them).

use shmim_layout::IMAGE_NAME_LEN;

use crate::error::{Error, Result};

/// Checks a stream name; returns it unchanged when it is usable.
pub fn validate_name(name: &str) -> Result<&str> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.into(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() >= IMAGE_NAME_LEN {
        return bad("longer than 79 bytes");
    }
    if name.contains('/') {
        return bad("contains '/'");
    }
    if name.contains('\0') {
        return bad("contains a NUL byte");
    }
    if name.chars().any(char::is_control) {
        return bad("contains a control character");
    }
    if name.starts_with('.') {
        return bad("starts with '.'");
    }
    if name.starts_with('-') {
        return bad("starts with '-'");
    }
    Ok(name)
}

/// Checks a name given as bytes (from C or a non-UTF-8 OS string).
pub fn validate_name_bytes(name: &[u8]) -> Result<&str> {
    match std::str::from_utf8(name) {
        Ok(s) => validate_name(s),
        Err(_) => Err(Error::InvalidName {
            name: String::from_utf8_lossy(name).into(),
            reason: "not UTF-8",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass() {
        for n in [
            "dm00disp",
            "aol0_wfsim",
            "cam.raw",
            "a",
            "x".repeat(79).as_str(),
            "ünïcode",
        ] {
            assert!(validate_name(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn names_that_escape_or_confuse_are_refused() {
        let long = "x".repeat(80);
        for n in [
            "",
            "a/b",
            "..",
            ".",
            ".hidden",
            "-rf",
            "a\0b",
            "tab\there",
            long.as_str(),
        ] {
            assert!(
                matches!(validate_name(n), Err(Error::InvalidName { .. })),
                "{n:?}"
            );
        }
        assert!(validate_name_bytes(b"caf\xe9").is_err());
    }
}
