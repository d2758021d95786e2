use shmim_core::{Keyword, Value};

use super::*;

fn kw(name: &str, value: Value) -> Keyword {
    Keyword {
        index: 0,
        name: name.into(),
        value,
        comment: "c".into(),
        cnt: 1,
    }
}

fn raw(name: &str, value: &str) -> RawCard {
    RawCard {
        name: name.into(),
        value: value.into(),
        comment: "why".into(),
    }
}

#[test]
fn standard_names_are_kept_and_values_map_by_type() {
    let out = keyword_cards(&[
        kw("EXPTIME", Value::Double(0.001)),
        kw("GAIN", Value::Long(-3)),
        kw("FILTER", Value::Str("H-band".into())),
        kw("LOOP", Value::Str("#TRUE#".into())),
        kw("DARK", Value::Str("#FALSE#".into())),
    ]);
    let values: Vec<_> = out.cards.iter().map(|c| c.value.clone()).collect();
    assert_eq!(
        values,
        [
            CardValue::Float(0.001),
            CardValue::Int(-3),
            CardValue::Str("H-band".into()),
            CardValue::Logical(true),
            CardValue::Logical(false),
        ]
    );
    assert!(out.renamed.is_empty() && out.skipped.is_empty());
}

#[test]
fn names_fits_cannot_hold_are_upper_cased_or_hierarch_and_said() {
    let out = keyword_cards(&[
        kw("tint", Value::Long(1)),
        kw("LONGNAME9", Value::Long(2)),
        kw("wfs.gain", Value::Long(3)),
    ]);
    let names: Vec<_> = out.cards.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["TINT", "LONGNAME9", "WFS.GAIN"]);
    let hierarch: Vec<_> = out
        .renamed
        .iter()
        .map(|r| (r.card.as_str(), r.hierarch))
        .collect();
    assert_eq!(
        hierarch,
        [("TINT", false), ("LONGNAME9", true), ("WFS.GAIN", true)]
    );
}

#[test]
fn technical_reserved_unusable_and_duplicate_names_are_skipped_with_reasons() {
    let out = keyword_cards(&[
        kw("_internal", Value::Long(1)),
        kw("BITPIX", Value::Long(1)),
        kw("naxis2", Value::Long(1)),
        kw("cnt0", Value::Long(1)),
        kw("a=b", Value::Long(1)),
        kw("caméra", Value::Long(1)),
        kw(" pad", Value::Long(1)),
        kw("Gain", Value::Long(1)),
        kw("GAIN", Value::Long(2)),
    ]);
    let reasons: Vec<_> = out.skipped.iter().map(|s| s.reason.clone()).collect();
    assert_eq!(
        reasons,
        [
            Skip::Technical,
            Skip::Reserved,
            Skip::Reserved,
            Skip::Reserved,
            Skip::UnusableName,
            Skip::UnusableName,
            Skip::UnusableName,
            Skip::Duplicate("GAIN".into()),
        ]
    );
    assert_eq!(out.cards.len(), 1);
}

#[test]
fn values_fits_cannot_hold_are_skipped_and_comments_are_made_printable() {
    let mut k = kw("OK", Value::Long(1));
    k.comment = "température".into();
    let out = keyword_cards(&[
        kw("NAN", Value::Double(f64::NAN)),
        kw("STR", Value::Str("é".into())),
        k,
    ]);
    assert_eq!(out.skipped[0].reason, Skip::NonFinite);
    assert_eq!(out.skipped[1].reason, Skip::NotAscii);
    assert_eq!(out.cards[0].comment, "temp?rature");
}

#[test]
fn float_text_is_fits_syntax_and_reads_back_exactly() {
    for x in [
        0.1,
        1.0,
        -0.0,
        1e300,
        5e-324,
        123456.789,
        f64::MAX,
        -2.5e-7,
        1e16,
    ] {
        let t = float_text(x);
        assert!(t.contains('.'), "{t}");
        assert!(!t.contains('e'), "{t}");
        assert_eq!(t.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{t}");
    }
}

#[test]
fn cards_load_as_keywords_of_their_type() {
    let cases = [
        ("'H-band  '", Value::Str("H-band".into())),
        ("'it''s'", Value::Str("it's".into())),
        ("T", Value::Str("#TRUE#".into())),
        ("F", Value::Str("#FALSE#".into())),
        ("-42", Value::Long(-42)),
        ("+7", Value::Long(7)),
        ("1.5E-3", Value::Double(1.5e-3)),
        ("2.0D2", Value::Double(200.0)),
    ];
    for (text, want) in cases {
        match keyword_from_card(&raw("K", text)) {
            FromCard::Keyword { value, .. } => assert_eq!(value, want, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn cards_a_keyword_cannot_hold_are_skipped_with_reasons() {
    let cases = [
        ("K", "", Skip::NoValue),
        ("K", "(1.0, 2.0)", Skip::Complex),
        ("K", "99999999999999999999", Skip::BadValue),
        ("K", "'sixteen bytes!!!'", Skip::StringTooLong),
        ("A.VERY.LONG.NAME", "1", Skip::NameTooLong),
        ("K", "NaN", Skip::BadValue),
    ];
    for (name, text, want) in cases {
        assert_eq!(
            keyword_from_card(&raw(name, text)),
            FromCard::Skipped(want),
            "{text}"
        );
    }
}

#[test]
fn table_and_compression_keywords_are_reserved() {
    let out = keyword_cards(&[
        kw("TFIELDS", Value::Long(1)),
        kw("ttype1", Value::Long(1)),
        kw("TFORM12", Value::Long(1)),
        kw("THEAP", Value::Long(1)),
        kw("ZNAXIS2", Value::Long(1)),
        kw("ZCMPTYPE", Value::Long(1)),
        kw("PTYPE1", Value::Long(1)),
        kw("LONGSTRN", Value::Long(1)),
        // Descriptive standard names, and names that only start like a reserved one, are kept.
        kw("OBJECT", Value::Long(1)),
        kw("BUNIT", Value::Long(1)),
        kw("TFORMX", Value::Long(1)),
        kw("ZENITH", Value::Long(1)),
    ]);
    assert!(
        out.skipped.iter().all(|s| s.reason == Skip::Reserved),
        "{:?}",
        out.skipped
    );
    let kept: Vec<_> = out.cards.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(kept, ["OBJECT", "BUNIT", "TFORMX", "ZENITH"]);
}

#[test]
fn cards_with_bytes_outside_printable_ascii_are_not_loaded_as_they_are() {
    // What cfitsio's bytes become in RawCard: U+FFFD for anything outside printable ASCII.
    let mut card = raw("FOO", "'h\u{FFFD}llo'");
    assert_eq!(keyword_from_card(&card), FromCard::Skipped(Skip::NotAscii));
    card.name = "F\u{FFFD}O".into();
    assert_eq!(
        keyword_from_card(&card),
        FromCard::Skipped(Skip::UnusableName)
    );
    let mut card = raw("FOO", "1");
    card.comment = "caf\u{FFFD}".into();
    match keyword_from_card(&card) {
        FromCard::Keyword { comment, .. } => assert_eq!(comment, "caf?"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn structural_commentary_and_provenance_cards_are_passed_over() {
    for name in [
        "SIMPLE", "BITPIX", "NAXIS", "NAXIS3", "BZERO", "COMMENT", "", "CNT0", "DATE",
    ] {
        assert_eq!(
            keyword_from_card(&raw(name, "1")),
            FromCard::PassedOver,
            "{name}"
        );
    }
    // NAXIS followed by something else is an ordinary name.
    assert!(matches!(
        keyword_from_card(&raw("NAXISX", "1")),
        FromCard::Keyword { .. }
    ));
}

#[test]
fn descriptive_cards_get_the_type_fits_gives_them_or_are_left_out() {
    let out = keyword_cards(&[
        kw("OBJECT", Value::Long(3)),
        kw("INSTRUME", Value::Str("#TRUE#".into())),
        kw("CUNIT2", Value::Double(0.5)),
        kw("WCSAXES", Value::Str("2".into())),
        kw("WCSAXESA", Value::Double(2.0)),
        kw("WCSAXESB", Value::Double(2.5)),
        kw("CD1_1", Value::Str("1e-3".into())),
        kw("PC1_2", Value::Str("NaN".into())),
        kw("CRDER1", Value::Double(-1.0)),
        kw("LONPOLE", Value::Long(180)),
        kw("DATE-BEG", Value::Str("2026-12-05".into())),
        kw("DATEREF", Value::Long(2026)),
        kw("EXPTIME", Value::Str("long".into())),
    ]);
    let cards: Vec<_> = out
        .cards
        .iter()
        .map(|c| (c.name.as_str(), c.value.clone()))
        .collect();
    assert_eq!(
        cards,
        [
            ("OBJECT", CardValue::Str("3".into())),
            ("CUNIT2", CardValue::Str("0.5".into())),
            ("WCSAXES", CardValue::Int(2)),
            ("WCSAXESA", CardValue::Int(2)),
            ("CD1_1", CardValue::Float(1e-3)),
            ("LONPOLE", CardValue::Int(180)),
            ("DATE-BEG", CardValue::Str("2026-12-05".into())),
            // Not a card FITS gives a type: as it is.
            ("EXPTIME", CardValue::Str("long".into())),
        ]
    );
    let skipped: Vec<_> = out
        .skipped
        .iter()
        .map(|s| (s.name.as_str(), s.reason.to_string()))
        .collect();
    assert_eq!(
        skipped,
        [
            (
                "INSTRUME",
                "FITS gives a card of that name a string".to_owned()
            ),
            (
                "WCSAXESB",
                "FITS gives a card of that name an integer".to_owned()
            ),
            (
                "PC1_2",
                "FITS gives a card of that name a number".to_owned()
            ),
            (
                "CRDER1",
                "FITS gives a card of that name a number of at least 0".to_owned()
            ),
            (
                "DATEREF",
                "FITS gives a card of that name a FITS date (YYYY-MM-DD or YYYY-MM-DDThh:mm:ss)"
                    .to_owned()
            ),
        ]
    );
}
