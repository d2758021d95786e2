//! What `shmim save`, `load` and `log` say: the notes about keywords and cards, and FITS errors as
//! one-line failures.

use shmim_fits::Stop;
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

/// One line per header card that did not become a keyword, and one for the cards not read.
pub fn card_notes(skipped: &[Skipped], unread: usize) -> Vec<String> {
    let unread = (unread > 0).then(|| {
        format!(
            "{unread} more header cards not read (a file gives a stream at most {} keywords, from its first {} cards)",
            shmim_fits::MAX_KEYWORDS,
            shmim_fits::MAX_CARDS
        )
    });
    let skipped = skipped
        .iter()
        .map(|s| format!("card {} not loaded: {}", s.name, s.reason));
    unread.into_iter().chain(skipped).collect()
}

/// The most notes printed; the rest are counted.
const MAX_NOTES: usize = 40;

/// Prints notes on stderr, `note: ` first (at most [`MAX_NOTES`], then how many more).
pub fn print_notes(notes: &[String]) {
    for n in notes.iter().take(MAX_NOTES) {
        eprintln!("note: {n}");
    }
    if notes.len() > MAX_NOTES {
        eprintln!("note: … and {} more", notes.len() - MAX_NOTES);
    }
}

/// What ended a cube, or logging, early.
pub fn stop_text(stop: Stop) -> String {
    match stop {
        Stop::Interrupted => "interrupted".to_owned(),
        Stop::NoFrame { waited } => {
            format!(
                "no new frame within {:.1} s (is a writer running?)",
                waited.as_secs_f64()
            )
        }
        Stop::Failed(e) => Failure::from(e).to_string(),
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
