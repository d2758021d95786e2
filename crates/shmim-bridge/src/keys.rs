//! Stream names as Zenoh key expressions.
//!
//! A stream `NAME` published under prefix `P` lives at key `P/CHUNK`, where `CHUNK` is `NAME`
//! with every byte that Zenoh gives a meaning to percent-escaped as `%HH` (upper-case hex):
//! `*`, `$`, `?`, `#`, `/` anywhere, `@` as the first character (a chunk starting with `@` is a
//! *verbatim* chunk that wildcards never match), and `%` itself, so that unescaping is exact.
//! Everything else, including UTF-8, is kept as is. `cam@1` stays `cam@1`; `@raw` becomes
//! `%40raw`; `a*b` becomes `a%2Ab`.
//!
//! The same key carries the stream's frames and descriptions (samples), its description for late
//! joiners (a queryable) and its publisher's liveliness token.

use std::fmt::Write;

/// The default key prefix of `pub` (and the default key expression of `ls`: `shmim/**`).
pub const DEFAULT_PREFIX: &str = "shmim";

/// `name` as one key-expression chunk.
pub fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        match c {
            '*' | '$' | '?' | '#' | '/' | '%' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            '@' if i == 0 => out.push_str("%40"),
            c => out.push(c),
        }
    }
    out
}

/// The stream name a chunk stands for, or `None` if the chunk is not an escaped name.
pub fn unescape(chunk: &str) -> Option<String> {
    let bytes = chunk.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = chunk.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The key of stream `name` under `prefix`.
pub fn stream_key(prefix: &str, name: &str) -> String {
    format!("{}/{}", prefix.trim_end_matches('/'), escape(name))
}

/// The stream name at the end of `key` (its last chunk, unescaped).
pub fn name_of_key(key: &str) -> Option<String> {
    unescape(key.rsplit('/').next()?)
}

/// Whether a key expression can match more than one key (it has a wildcard chunk).
pub fn has_wildcard(keyexpr: &str) -> bool {
    keyexpr.split('/').any(|c| c.contains('*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_their_own_chunk() {
        for n in ["cam", "wfs_dm-01", "aol0_modeval", "cam@1", "déjà vu"] {
            assert_eq!(escape(n), n);
        }
    }

    #[test]
    fn key_expression_characters_and_a_leading_at_are_escaped() {
        assert_eq!(escape("a*b"), "a%2Ab");
        assert_eq!(escape("x$y?z#"), "x%24y%3Fz%23");
        assert_eq!(escape("@raw"), "%40raw");
        assert_eq!(escape("50%"), "50%25");
        assert_eq!(escape("a/b"), "a%2Fb");
    }

    #[test]
    fn every_escaped_name_unescapes_to_itself() {
        for n in ["a*b", "@raw", "50%", "%41", "**", "$*", "a/b@c", "ü*", "%"] {
            let e = escape(n);
            assert!(!e.contains(['*', '$', '?', '#', '/']), "{e}");
            assert!(!e.starts_with('@'));
            assert_eq!(unescape(&e).as_deref(), Some(n));
        }
    }

    #[test]
    fn broken_escapes_are_not_names() {
        assert_eq!(unescape("a%4"), None);
        assert_eq!(unescape("a%zz"), None);
        assert_eq!(unescape("%ff"), None);
    }

    #[test]
    fn stream_keys_join_prefix_and_escaped_name() {
        assert_eq!(stream_key("shmim", "cam"), "shmim/cam");
        assert_eq!(stream_key("lab/aox/", "@x"), "lab/aox/%40x");
        assert_eq!(name_of_key("lab/aox/%40x").as_deref(), Some("@x"));
    }

    #[test]
    fn wildcards_are_seen() {
        assert!(has_wildcard("shmim/*"));
        assert!(has_wildcard("shmim/**"));
        assert!(has_wildcard("shmim/cam$*"));
        assert!(!has_wildcard("shmim/cam"));
    }
}
