//! FITS files written by hand, byte by byte: files no FITS library would write, to see what
//! reading them makes of them. (Shared with the `shmim` command-line tests.)

use std::path::Path;

/// One 80-character header card `NAME = value` (the value as written: strings with their quotes).
pub fn card_text(name: &str, value: &str) -> String {
    format!("{name:<8}= {value:>20}")
}

/// Writes a FITS file by hand: a primary header of `cards` (80-character records, `END` added,
/// padded to 2880 bytes) and `data` (padded with zeros to 2880 bytes) — files no FITS library
/// would write, to see what load makes of them.
pub fn write_fits(path: &Path, cards: &[String], data: &[u8]) {
    let mut bytes = Vec::new();
    for c in cards.iter().map(String::as_str).chain(["END"]) {
        assert!(c.len() <= 80, "{c}");
        bytes.extend(format!("{c:<80}").bytes());
    }
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    bytes.extend_from_slice(data);
    bytes.resize(bytes.len().div_ceil(2880) * 2880, 0);
    std::fs::write(path, bytes).unwrap();
}

/// The structural cards of a primary image of `bitpix` and `axes`.
pub fn image_cards(bitpix: i32, axes: &[u64]) -> Vec<String> {
    let mut cards = vec![
        card_text("SIMPLE", "T"),
        card_text("BITPIX", &bitpix.to_string()),
        card_text("NAXIS", &axes.len().to_string()),
    ];
    for (i, n) in axes.iter().enumerate() {
        cards.push(card_text(&format!("NAXIS{}", i + 1), &n.to_string()));
    }
    cards
}
