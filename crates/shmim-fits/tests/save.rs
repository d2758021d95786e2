//! save: the current frame consistently, the next frames of a writer process as a cube, and
//! what save refuses (types FITS cannot hold, existing files, a silent stream).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    TempDir, WriterChild, assert_fitsverify_clean, astropy, card, read_cube, wait_for_reader,
    writer_child_main,
};
use shmim_core::{Datatype, Stream, StreamSpec};
use shmim_fits::{Error, SaveOptions, save};

/// Not a test: the body of the writer child processes (a no-op in the normal run).
#[test]
fn writer_child() {
    writer_child_main();
}

fn opts(frames: Option<u64>, overwrite: bool) -> SaveOptions {
    SaveOptions {
        frames,
        overwrite,
        timeout: Duration::from_secs(10),
    }
}

fn f32_stream(dir: &Path, side: u32) -> Stream {
    Stream::create(
        "cam",
        &StreamSpec::new(&[side, side], Datatype::Float).dir(dir),
    )
    .unwrap()
}

#[test]
fn the_next_frames_of_a_writer_process_are_saved_as_a_cube() {
    let dir = TempDir::new("cube");
    let s = f32_stream(dir.path(), 8);
    let file = dir.path().join("cube.fits");
    let report = std::thread::scope(|scope| {
        let saver = scope.spawn(|| save(&s, &file, &opts(Some(10), false), &mut || false).unwrap());
        wait_for_reader(&s);
        let writer = WriterChild::spawn("writer_child", dir.path(), "cam", 30, 300.0);
        let report = saver.join().unwrap();
        writer.wait_success();
        report
    });
    assert_eq!(report.cube.frames, 10);
    let cube = read_cube(8, &file);
    assert_eq!(cube.nframes, 10);
    let mut gaps = cube.cnt0[0] - 1;
    for (k, w) in cube.cnt0.windows(2).enumerate() {
        assert!(w[1] > w[0]);
        gaps += w[1] - w[0] - 1;
        assert!(cube.pixels[k + 1].iter().all(|&p| p == w[1] as f32));
    }
    assert_eq!(cube.nmissed, gaps, "none missed, or the gap reported");
    assert_eq!(report.cube.missed, gaps);
}

#[test]
fn a_burst_of_exactly_the_frames_asked_for_is_saved_whole_from_a_circular_buffer() {
    // The writer process publishes the four frames back to back and stops: the last one has no
    // frame after it to wake the saver again, so it must be taken all the same, and a frame
    // still in its slot is never counted missed.
    let dir = TempDir::new("burst");
    let spec = StreamSpec::new(&[64, 64], Datatype::Float)
        .circular_buffer(16)
        .dir(dir.path());
    let s = Stream::create("cam", &spec).unwrap();
    for round in 0..6 {
        let file = dir.path().join(format!("burst{round}.fits"));
        let quick = SaveOptions {
            timeout: Duration::from_secs(5),
            ..opts(Some(4), false)
        };
        let before = s.cnt0();
        let report = std::thread::scope(|scope| {
            let saver = scope.spawn(|| save(&s, &file, &quick, &mut || false));
            wait_for_reader(&s);
            WriterChild::bursts("writer_child", dir.path(), "cam", 4, 1.0, 4).wait_success();
            saver.join().unwrap()
        });
        let report = report.unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(
            (report.cube.frames, report.cube.missed),
            (4, 0),
            "round {round}"
        );
        let cube = read_cube(64, &file);
        let want: Vec<u64> = (before + 1..=before + 4).collect();
        assert_eq!(cube.cnt0, want, "round {round}");
        for (k, &n) in cube.cnt0.iter().enumerate() {
            assert!(cube.pixels[k].iter().all(|&p| p == n as f32));
        }
    }
}

#[test]
fn the_current_frame_is_saved_whole_while_a_writer_publishes() {
    let dir = TempDir::new("current");
    let s = f32_stream(dir.path(), 256);
    let mut writer = WriterChild::spawn("writer_child", dir.path(), "cam", 2000, 1000.0);
    let mut files = Vec::new();
    while s.cnt0() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    for i in 0..12 {
        let file = dir.path().join(format!("f{i}.fits"));
        save(&s, &file, &opts(None, false), &mut || false).unwrap();
        files.push(file);
        std::thread::sleep(Duration::from_millis(7));
    }
    assert!(!writer.exited(), "the writer was still publishing");
    drop(writer);
    let paths: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
    let seen = astropy(&paths);
    for f in &files {
        let hdu = &seen[f.to_str().unwrap()][0];
        let cnt0 = card(hdu, "CNT0").unwrap().0.as_u64().unwrap();
        let hex = hdu["hex"].as_str().unwrap();
        let want: String = (cnt0 as f32)
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex.len(), 256 * 256 * 8);
        assert!(
            hex.as_bytes().chunks(8).all(|c| c == want.as_bytes()),
            "{}: every pixel is frame {cnt0}'s",
            f.display()
        );
        assert!(card(hdu, "NFRAMES").is_none(), "a single frame is no cube");
    }
}

#[test]
fn types_fits_cannot_hold_are_refused_naming_the_type_and_write_nothing() {
    let dir = TempDir::new("types");
    for (i, d) in [
        Datatype::ComplexFloat,
        Datatype::ComplexDouble,
        Datatype::Half,
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("s{i}");
        let s = Stream::create(&name, &StreamSpec::new(&[4], d).dir(dir.path())).unwrap();
        let e = save(
            &s,
            &dir.path().join("x.fits"),
            &opts(None, false),
            &mut || false,
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::Unsupported { .. }), "{text}");
        assert!(text.contains(d.name()) && text.contains(&name), "{text}");
    }
    assert!(
        dir.files().iter().all(|f| !f.contains("fits")),
        "{:?}",
        dir.files()
    );
}

#[test]
fn an_existing_file_is_replaced_only_when_asked() {
    let dir = TempDir::new("exists");
    let mut s = f32_stream(dir.path(), 2);
    s.write_frame(&[1.0f32; 4]).unwrap();
    let file = dir.path().join("x.fits");
    save(&s, &file, &opts(None, false), &mut || false).unwrap();
    s.write_frame(&[2.0f32; 4]).unwrap();
    let e = save(&s, &file, &opts(None, false), &mut || false).unwrap_err();
    assert!(
        matches!(e, Error::Exists { .. }) && e.to_string().contains("--overwrite"),
        "{e}"
    );
    save(&s, &file, &opts(None, true), &mut || false).unwrap();
    let seen = astropy(&[file.as_path()]);
    assert_eq!(card(&seen[file.to_str().unwrap()][0], "CNT0").unwrap().0, 2);
    assert_eq!(
        dir.files(),
        ["cam.im.shm", "x.fits"],
        "no temporary file left"
    );
}

#[test]
fn a_cube_with_no_writer_gives_up_and_leaves_no_file() {
    let dir = TempDir::new("silent");
    let s = f32_stream(dir.path(), 2);
    let file = dir.path().join("x.fits");
    let quick = SaveOptions {
        timeout: Duration::from_millis(300),
        ..opts(Some(3), false)
    };
    let e = save(&s, &file, &quick, &mut || false).unwrap_err();
    assert!(matches!(e, Error::NoFrame { frames: 0, .. }), "{e}");
    assert_eq!(dir.files(), ["cam.im.shm"]);
    assert!(
        s.registered_readers().is_empty(),
        "the reader slot was released"
    );
}

#[test]
fn descriptive_keywords_of_the_wrong_type_are_converted_or_left_out_and_fitsverify_finds_clean() {
    use shmim_core::Value::{Double, Long, Str};
    use shmim_fits::cards::Skip;
    let dir = TempDir::new("kw-types");
    let keywords = [
        ("OBJECT", Long(3)),
        ("TELESCOP", Double(1.5)),
        ("BUNIT", Long(1)),
        ("CTYPE1", Long(2)),
        ("RADESYS", Str("ICRS".into())),
        ("EQUINOX", Str("2000".into())),
        ("CRPIX1", Str("1.5".into())),
        ("CRVAL1", Long(0)),
        ("DATAMAX", Str("high".into())),
        ("MJD-OBS", Str("#TRUE#".into())),
        ("DATE-OBS", Str("yesterday".into())),
        ("DATE-END", Str("2026-12-05".into())),
        ("CDELT1", Double(0.0)),
    ];
    let spec = StreamSpec::new(&[4, 4], Datatype::Float)
        .keywords(keywords.len() as u16)
        .dir(dir.path());
    let mut s = Stream::create("cam", &spec).unwrap();
    for (name, value) in &keywords {
        s.set_keyword(name, value.clone(), "").unwrap();
    }
    s.write_frame(&[0f32; 16]).unwrap();
    let file = dir.path().join("kw.fits");
    let r = save(&s, &file, &opts(None, false), &mut || false).unwrap();
    let skipped: Vec<(&str, bool)> = r
        .keywords
        .skipped
        .iter()
        .map(|k| (k.name.as_str(), matches!(k.reason, Skip::WrongType(_))))
        .collect();
    assert_eq!(
        skipped,
        [
            ("DATAMAX", true),
            ("MJD-OBS", true),
            ("DATE-OBS", true),
            ("CDELT1", true)
        ]
    );
    assert_fitsverify_clean(&file);
    let report = astropy(&[file.as_path()]);
    let hdu = &report[file.to_str().unwrap()][0];
    assert_eq!(card(hdu, "OBJECT").unwrap().0, "3");
    assert_eq!(card(hdu, "TELESCOP").unwrap().0, "1.5");
    assert_eq!(card(hdu, "EQUINOX").unwrap().0, 2000.0);
    assert_eq!(card(hdu, "CRPIX1").unwrap().0, 1.5);
    assert_eq!(card(hdu, "DATE-END").unwrap().0, "2026-12-05");
}
