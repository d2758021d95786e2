//! Parsing and naming of command-line values: shapes, pixel types, file modes.

use shmim_core::Datatype;

/// Axis lengths of a stream (a newtype, so clap takes the whole list as one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape(pub Vec<u32>);

/// `512x512`, `1024`, `64x64x100` (also `×` or `,` between axes): 1 to 3 positive lengths.
pub fn parse_shape(s: &str) -> Result<Shape, String> {
    let bad = |why: &str| format!("bad shape {s:?}: {why} (e.g. 512x512)");
    let axes: Vec<&str> = s.split(['x', 'X', '×', ',']).collect();
    if axes.len() > 3 {
        return Err(bad("at most 3 axes"));
    }
    axes.iter()
        .map(|a| match a.trim().parse::<u32>() {
            Ok(0) => Err(bad("axis lengths must be at least 1")),
            Ok(n) => Ok(n),
            Err(_) => Err(bad("each axis must be a positive integer")),
        })
        .collect::<Result<_, _>>()
        .map(Shape)
}

/// The CLI's names for pixel types: (name, aliases, type).
const TYPES: [(&str, &[&str], Datatype); 13] = [
    ("u8", &["uint8", "ui8"], Datatype::U8),
    ("i8", &["int8"], Datatype::I8),
    ("u16", &["uint16", "ui16"], Datatype::U16),
    ("i16", &["int16"], Datatype::I16),
    ("u32", &["uint32", "ui32"], Datatype::U32),
    ("i32", &["int32"], Datatype::I32),
    ("u64", &["uint64", "ui64"], Datatype::U64),
    ("i64", &["int64"], Datatype::I64),
    ("f16", &["half", "flt16", "float16"], Datatype::Half),
    (
        "f32",
        &["float", "flt32", "float32", "flt"],
        Datatype::Float,
    ),
    (
        "f64",
        &["double", "flt64", "float64", "dbl"],
        Datatype::Double,
    ),
    (
        "cf32",
        &["cplx32", "complex-float", "cflt"],
        Datatype::ComplexFloat,
    ),
    (
        "cf64",
        &["cplx64", "complex-double", "cdbl"],
        Datatype::ComplexDouble,
    ),
];

/// A pixel type by its CLI name or a legacy name, case-insensitive.
pub fn parse_datatype(s: &str) -> Result<Datatype, String> {
    let lower = s.trim().to_ascii_lowercase();
    TYPES
        .iter()
        .find(|(name, aliases, _)| *name == lower || aliases.contains(&lower.as_str()))
        .map(|&(_, _, t)| t)
        .ok_or_else(|| {
            let names: Vec<&str> = TYPES.iter().map(|(n, _, _)| *n).collect();
            format!("unknown pixel type {s:?} (one of {})", names.join(" "))
        })
}

/// The CLI's name of a pixel type.
pub fn type_name(t: Datatype) -> &'static str {
    TYPES
        .iter()
        .find(|(_, _, d)| *d == t)
        .map_or("?", |(n, _, _)| n)
}

/// A file mode in octal: `0660`, `660`, `0o660`.
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.trim_start_matches("0o");
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(format!("bad mode {s:?}: an octal file mode such as 0660")),
    }
}

/// `512x512`.
pub fn shape_text(shape: &[u32]) -> String {
    let axes: Vec<String> = shape.iter().map(u32::to_string).collect();
    axes.join("x")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_one_to_three_axes_parse() {
        assert_eq!(parse_shape("512x512"), Ok(Shape(vec![512, 512])));
        assert_eq!(parse_shape("7"), Ok(Shape(vec![7])));
        assert_eq!(parse_shape("4×5,6"), Ok(Shape(vec![4, 5, 6])));
    }

    #[test]
    fn bad_shapes_are_refused() {
        for s in ["", "512x", "0x4", "1x2x3x4", "-1", "axb"] {
            assert!(parse_shape(s).is_err(), "{s}");
        }
    }

    #[test]
    fn every_type_round_trips_through_its_name() {
        for t in Datatype::ALL {
            assert_eq!(parse_datatype(type_name(t)), Ok(t));
        }
        assert_eq!(parse_datatype("FLOAT"), Ok(Datatype::Float));
        assert!(parse_datatype("f33").is_err());
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0660"), Ok(0o660));
        assert_eq!(parse_mode("0o600"), Ok(0o600));
        assert!(parse_mode("0990").is_err());
        assert!(parse_mode("77777").is_err());
    }
}
