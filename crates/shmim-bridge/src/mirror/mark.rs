//! The mark that makes a local stream a bridge's mirror, and whose mirror it is.
//!
//! A mirror has `n + 7` keyword entries, `n` being its source's; entry `n` (that is, `NBkw − 7`)
//! is the mark: name [`MARK`], a string value naming the transport (`zenoh`, `milk-tcp`, `tcp`
//! for the benchmark's baseline) and a comment naming the source (`zenoh mirror of shmim/cam`).
//! The mark is looked for at that index only: a keyword named `SHMIM_MIRROR` anywhere else (one a
//! relay copied from upstream, one a user wrote) proves nothing. And the bridge never writes a
//! keyword of that name, or of its statistics' names, that came from the network
//! ([`is_reserved`]), so the mark cannot be forged through a bridge.

use shmim_core::{Stream, Value};

use super::EXTRA_KEYWORDS;

/// The name of the mark keyword.
pub const MARK: &str = "SHMIM_MIRROR";

/// The transports whose mirrors carry a mark (the mark's value).
const ORIGINS: [&str; 3] = ["zenoh", "milk-tcp", "tcp"];

/// Who a stream at a mirror's path belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// No mark at `NBkw − 7`: not a bridge's (a user's, milk's, a program's).
    Unmarked,
    /// The mirror of this very source.
    Ours,
    /// The mirror of another source (the mark's comment says which).
    Other(String),
}

/// The mark's comment for `source`: `ORIGIN mirror of SOURCE`, or, when that does not fit in a
/// keyword comment, the source's 64-bit FNV-1a hash and as much of its end as fits (so that two
/// long keys sharing a long prefix still have different comments).
pub fn comment(origin: &str, source: &str) -> String {
    let max = shmim_layout::KEYWORD_MAX_COMMENT - 1;
    let full = format!("{origin} mirror of {source}");
    if full.len() <= max {
        return full;
    }
    let hash = source.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let head = format!("{origin} mirror of #{hash:016x} ...");
    let room = max.saturating_sub(head.len());
    let mut start = source.len().saturating_sub(room);
    while !source.is_char_boundary(start) {
        start += 1;
    }
    format!("{head}{}", &source[start..])
}

/// Whose mirror `stream` is, for a bridge mirroring `source` over `origin`.
pub fn owner(stream: &Stream, origin: &str, source: &str) -> Owner {
    let Some(at) = stream
        .metadata_snapshot()
        .keywords
        .checked_sub(EXTRA_KEYWORDS)
    else {
        return Owner::Unmarked;
    };
    let Ok(k) = stream.keyword_at(at) else {
        return Owner::Unmarked;
    };
    match &k.value {
        Value::Str(v) if k.name == MARK && ORIGINS.contains(&v.as_str()) => {
            if v == origin && k.comment == comment(origin, source) {
                Owner::Ours
            } else {
                Owner::Other(k.comment)
            }
        }
        _ => Owner::Unmarked,
    }
}

/// Whether a keyword of this name is the bridge's own (the mark or a statistic): one arriving
/// from the network is never written into a mirror, where it would shadow the real one.
pub fn is_reserved(name: &str) -> bool {
    name == MARK || super::stats::NAMES.iter().any(|(n, _)| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_sources_are_named_whole() {
        assert_eq!(comment("zenoh", "shmim/cam"), "zenoh mirror of shmim/cam");
    }

    #[test]
    fn long_sources_keep_their_end_and_a_hash_that_tells_them_apart() {
        let a = format!("{}/cam", "lab/".repeat(30));
        let b = format!("{}/cam", "lbb/".repeat(30));
        let (ca, cb) = (comment("zenoh", &a), comment("zenoh", &b));
        assert!(ca.len() < shmim_layout::KEYWORD_MAX_COMMENT, "{ca}");
        assert!(ca.ends_with("/cam"));
        assert_ne!(ca, cb);
        assert_eq!(ca, comment("zenoh", &a), "deterministic");
        let utf8 = "é".repeat(60);
        assert!(comment("zenoh", &utf8).ends_with('é'));
    }

    #[test]
    fn the_marks_and_statistics_names_are_reserved() {
        for n in ["SHMIM_MIRROR", "BR_SRC_CNT0", "BR_GAPS", "BR_MALFORMED"] {
            assert!(is_reserved(n), "{n}");
        }
        for n in ["GAIN", "BR_TEMP", "SHMIM_MIRROR2", ""] {
            assert!(!is_reserved(n), "{n}");
        }
    }
}
