//! What `shmim save`, `load` and `log` say: the notes about keywords and cards, and FITS errors as
//! one-line failures.

use shmim_fits::cards::{KeywordCards, Skipped};

use crate::failure::Failure;

/// One line per keyword written under another name or left out.
pub fn keyword_notes(k: &KeywordCards) -> Vec<String> {
    let renamed = k.renamed.iter().map(|r| {
        let how = if r.hierarch { "HIERARCH card" } else { "card" };
        format!("keyword {:?} written as {how} {}", r.keyword, r.card)
    });
    let skipped = k
        .skipped
        .iter()
        .map(|s| format!("keyword {:?} not saved: {}", s.name, s.reason));
    renamed.chain(skipped).collect()
}

/// One line per header card that did not become a keyword.
pub fn card_notes(skipped: &[Skipped]) -> Vec<String> {
    skipped
        .iter()
        .map(|s| format!("card {} not loaded: {}", s.name, s.reason))
        .collect()
}

/// Prints notes on stderr, `note: ` first.
pub fn print_notes(notes: &[String]) {
    for n in notes {
        eprintln!("note: {n}");
    }
}

impl From<shmim_fits::Error> for Failure {
    fn from(e: shmim_fits::Error) -> Self {
        match e {
            shmim_fits::Error::Stream(e) => e.into(),
            e => Failure::new(e.to_string()),
        }
    }
}
