//! save → FITS → load: every datatype FITS can hold, 1, 2 and 3 axes, keywords; the files read
//! back by astropy and checked by fitsverify.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{TempDir, assert_fitsverify_clean, astropy, card};
use serde_json::Value as Json;
use shmim_core::{Datatype, Stream, StreamSpec, Value};
use shmim_fits::{FITS_DATATYPES, SaveOptions, load, save};

const SHAPES: [&[u32]; 3] = [&[7], &[5, 3], &[4, 3, 2]];

/// numpy's name of each datatype, as astropy reports it.
fn numpy_name(d: Datatype) -> &'static str {
    match d {
        Datatype::U8 => "uint8",
        Datatype::I8 => "int8",
        Datatype::U16 => "uint16",
        Datatype::I16 => "int16",
        Datatype::U32 => "uint32",
        Datatype::I32 => "int32",
        Datatype::U64 => "uint64",
        Datatype::I64 => "int64",
        Datatype::Float => "float32",
        Datatype::Double => "float64",
        other => panic!("{other} has no FITS type"),
    }
}

/// `n` pixels of `d` as bytes: the type's extremes first (where the unsigned offsets of FITS
/// would go wrong), then a ramp.
fn pixels(d: Datatype, n: usize) -> Vec<u8> {
    macro_rules! ints {
        ($t:ty) => {{
            let mut v: Vec<$t> = vec![<$t>::MIN, <$t>::MAX, 0, 1, <$t>::MAX / 2 + 1];
            v.extend((0..n).map(|i| (i as $t).wrapping_mul(37)));
            v.truncate(n);
            bytemuck::cast_slice(&v).to_vec()
        }};
    }
    macro_rules! floats {
        ($t:ty) => {{
            let mut v: Vec<$t> = vec![-1.5, <$t>::MAX, <$t>::MIN_POSITIVE, -0.0, 1e-3];
            v.extend((0..n).map(|i| i as $t * 0.25));
            v.truncate(n);
            bytemuck::cast_slice(&v).to_vec()
        }};
    }
    match d {
        Datatype::U8 => ints!(u8),
        Datatype::I8 => ints!(i8),
        Datatype::U16 => ints!(u16),
        Datatype::I16 => ints!(i16),
        Datatype::U32 => ints!(u32),
        Datatype::I32 => ints!(i32),
        Datatype::U64 => ints!(u64),
        Datatype::I64 => ints!(i64),
        Datatype::Float => floats!(f32),
        Datatype::Double => floats!(f64),
        other => panic!("{other} has no FITS type"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The keywords every saved stream carries, and what each must become.
fn set_keywords(s: &Stream) {
    s.set_keyword("EXPTIME", Value::Double(0.001), "exposure [s]")
        .unwrap();
    s.set_keyword("GAIN", Value::Long(-3), "e-/ADU").unwrap();
    s.set_keyword("FILTER", Value::Str("H-band".into()), "filter")
        .unwrap();
    s.set_keyword("wfs.mode", Value::Str("fast".into()), "hierarch")
        .unwrap();
    s.set_keyword("LOOP", Value::Str("#TRUE#".into()), "bool")
        .unwrap();
    s.set_keyword("_tech", Value::Long(1), "not saved").unwrap();
}

struct Case {
    datatype: Datatype,
    shape: &'static [u32],
    bytes: Vec<u8>,
    file: PathBuf,
    name: String,
}

#[test]
fn every_fits_datatype_and_shape_round_trips_through_save_and_load() {
    let dir = TempDir::new("roundtrip");
    let mut cases = Vec::new();
    for (i, &datatype) in FITS_DATATYPES.iter().enumerate() {
        for (j, &shape) in SHAPES.iter().enumerate() {
            let name = format!("s{i}_{j}");
            let spec = StreamSpec::new(shape, datatype).keywords(8).dir(dir.path());
            let mut stream = Stream::create(&name, &spec).unwrap();
            set_keywords(&stream);
            let n = shape.iter().product::<u32>() as usize;
            let bytes = pixels(datatype, n);
            let mut guard = stream.write().unwrap();
            guard.copy_from_bytes(&bytes).unwrap();
            guard.commit().unwrap();
            let file = dir.path().join(format!("{name}.fits"));
            let opts = SaveOptions {
                frames: None,
                overwrite: false,
                timeout: Duration::from_secs(1),
            };
            let report = save(&stream, &file, &opts, &mut || false).unwrap();
            assert_eq!(report.cube.frames, 1);
            assert_eq!(report.keywords.skipped.len(), 1, "only _tech is left out");
            cases.push(Case {
                datatype,
                shape,
                bytes,
                file,
                name,
            });
        }
    }

    let files: Vec<&std::path::Path> = cases.iter().map(|c| c.file.as_path()).collect();
    let seen = astropy(&files);
    for c in &cases {
        let what = format!("{} {:?}", c.datatype, c.shape);
        assert_fitsverify_clean(&c.file);
        let hdu: &Json = &seen[c.file.to_str().unwrap()][0];
        assert_eq!(hdu["dtype"], numpy_name(c.datatype), "{what}");
        let mut reversed: Vec<u64> = c.shape.iter().map(|&n| n.into()).collect();
        reversed.reverse();
        assert_eq!(
            hdu["shape"],
            serde_json::json!(reversed),
            "{what}: NAXIS1 is size[0]"
        );
        assert_eq!(
            hdu["hex"],
            hex(&c.bytes),
            "{what}: pixels as astropy reads them"
        );
        assert_eq!(card(hdu, "EXPTIME").unwrap().0, 0.001);
        assert_eq!(card(hdu, "GAIN").unwrap().0, -3);
        assert_eq!(card(hdu, "FILTER").unwrap().0, "H-band");
        assert_eq!(card(hdu, "WFS.MODE").unwrap().0, "fast");
        assert_eq!(card(hdu, "LOOP").unwrap().0, true);
        assert_eq!(card(hdu, "SHMNAME").unwrap().0, c.name.as_str());
        assert_eq!(card(hdu, "CNT0").unwrap().0, 1);
        assert_eq!(card(hdu, "TIMESYS").unwrap().0, "TAI");
        assert!(card(hdu, "_TECH").is_none());

        let back = format!("{}_back", c.name);
        let report = load(&c.file, dir.path(), &back, false).unwrap();
        assert!(
            report.created && report.skipped.is_empty(),
            "{what}: {report:?}"
        );
        let stream = Stream::open_in(dir.path(), &back).unwrap();
        assert_eq!(stream.datatype(), c.datatype, "{what}");
        assert_eq!(stream.shape(), c.shape, "{what}");
        let mut got = vec![0u8; c.bytes.len()];
        stream.read_bytes_into(&mut got).unwrap();
        assert_eq!(got, c.bytes, "{what}: pixels after the round trip");
        let keywords: Vec<(String, Value)> = stream
            .keywords()
            .unwrap()
            .into_iter()
            .map(|k| (k.name, k.value))
            .collect();
        assert_eq!(
            keywords,
            [
                ("EXPTIME".into(), Value::Double(0.001)),
                ("GAIN".into(), Value::Long(-3)),
                ("FILTER".into(), Value::Str("H-band".into())),
                ("WFS.MODE".into(), Value::Str("fast".into())),
                ("LOOP".into(), Value::Str("#TRUE#".into())),
            ],
            "{what}"
        );
    }
}
