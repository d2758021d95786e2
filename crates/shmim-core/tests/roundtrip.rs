//! Streams created by shmim round-trip every datatype and shape, with the legacy file sizes.

mod common;

use common::StreamDir;
use shmim_core::{ComplexF32, ComplexF64, Datatype, Half, ImageType, Pixel, Stream, StreamSpec};
use shmim_layout::RegionSpec;

fn roundtrip<T: Pixel + PartialEq + std::fmt::Debug>(dir: &StreamDir, make: impl Fn(usize) -> T) {
    for shape in [&[7u32][..], &[5, 3], &[4, 3, 2]] {
        let name = format!("rt_{}_{}", T::DATATYPE.name(), shape.len());
        let spec = StreamSpec::new(shape, T::DATATYPE)
            .keywords(2)
            .semaphores(3)
            .dir(dir.path());
        let mut w = Stream::create(&name, &spec).unwrap();
        let n: usize = shape.iter().map(|&s| s as usize).product();
        let frame: Vec<T> = (0..n).map(&make).collect();
        assert_eq!(w.write_frame(&frame).unwrap(), 1);

        let r = Stream::open_in(dir.path(), &name).unwrap();
        let mut back = vec![T::zeroed(); n];
        assert_eq!(r.read_into(&mut back).unwrap(), 1);
        assert_eq!(back, frame);

        let expected = RegionSpec::new(shape, T::DATATYPE)
            .with_keywords(2)
            .with_semaphores(3)
            .regions()
            .unwrap();
        assert_eq!(
            std::fs::metadata(dir.file(&name)).unwrap().len(),
            expected.file_size
        );
        let md = r.metadata().unwrap();
        assert_eq!(
            (md.name.as_str(), md.shape.as_slice(), md.datatype),
            (name.as_str(), shape, Some(T::DATATYPE))
        );
        assert_eq!(
            (md.cnt0, md.write, md.semaphores, md.keywords, md.imagetype),
            (1, false, 3, 2, ImageType::MATH_DATA)
        );
    }
}

#[test]
fn every_datatype_and_shape_round_trips() {
    let dir = StreamDir::new("roundtrip");
    roundtrip(&dir, |i| i as u8);
    roundtrip(&dir, |i| -(i as i8));
    roundtrip(&dir, |i| i as u16 * 1000);
    roundtrip(&dir, |i| -(i as i16) * 1000);
    roundtrip(&dir, |i| i as u32 * 100_000);
    roundtrip(&dir, |i| -(i as i32) * 100_000);
    roundtrip(&dir, |i| u64::MAX - i as u64);
    roundtrip(&dir, |i| i64::MIN + i as i64);
    roundtrip(&dir, |i| i as f32 * 0.5);
    roundtrip(&dir, |i| i as f64 * -0.25);
    roundtrip(&dir, |i| ComplexF32 {
        re: i as f32,
        im: -(i as f32),
    });
    roundtrip(&dir, |i| ComplexF64 {
        re: i as f64,
        im: 1.0 / (i as f64 + 1.0),
    });
    roundtrip(&dir, |i| Half(0x3c00 + i as u16));
    assert_eq!(Datatype::ALL.len(), 13);
}

#[test]
fn typed_access_is_checked_against_the_datatype() {
    let dir = StreamDir::new("typecheck");
    let mut s = Stream::create(
        "typed",
        &StreamSpec::new(&[4], Datatype::Float).dir(dir.path()),
    )
    .unwrap();
    assert!(matches!(
        s.write_frame(&[0u16; 4]),
        Err(shmim_core::Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        s.write_frame(&[0f32; 5]),
        Err(shmim_core::Error::LengthMismatch {
            expected: 4,
            found: 5
        })
    ));
    let mut buf = [0f64; 4];
    assert!(matches!(
        s.read_into(&mut buf),
        Err(shmim_core::Error::TypeMismatch { .. })
    ));
    let mut g = s.write().unwrap();
    assert!(g.pixels_mut::<i32>().is_err());
    g.pixels_mut::<f32>()
        .unwrap()
        .copy_from_slice(&[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(g.commit().unwrap(), 1);
    let mut back = [0f32; 4];
    s.read_into(&mut back).unwrap();
    assert_eq!(back, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn process_local_images_have_the_same_api_without_a_file() {
    let mut s = Stream::create_local(
        "local",
        &StreamSpec::new(&[3, 3], Datatype::I32).keywords(1),
    )
    .unwrap();
    assert!(!s.is_shared() && s.path().is_none());
    s.write_frame(&[7i32; 9]).unwrap();
    let mut back = [0i32; 9];
    assert_eq!(s.read_into(&mut back).unwrap(), 1);
    assert_eq!(back, [7; 9]);
    assert!(!s.metadata().unwrap().shared);
    let mut r = s.reader().unwrap();
    s.write_frame(&[8i32; 9]).unwrap();
    assert_eq!(
        r.wait_timeout(std::time::Duration::from_secs(5)).unwrap(),
        2
    );
}

#[test]
fn file_mode_honours_the_umask_unless_given() {
    use std::os::unix::fs::PermissionsExt;
    let dir = StreamDir::new("mode");
    Stream::create(
        "exact",
        &StreamSpec::new(&[2], Datatype::U8)
            .mode(0o640)
            .dir(dir.path()),
    )
    .unwrap();
    assert_eq!(
        std::fs::metadata(dir.file("exact"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    Stream::create(
        "legacy",
        &StreamSpec::new(&[2], Datatype::U8)
            .mode(0o666)
            .dir(dir.path()),
    )
    .unwrap();
    assert_eq!(
        std::fs::metadata(dir.file("legacy"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o666
    );
    Stream::create(
        "default",
        &StreamSpec::new(&[2], Datatype::U8).dir(dir.path()),
    )
    .unwrap();
    let mode = std::fs::metadata(dir.file("default"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    // The test harness does not change the umask; whatever it is, it only removes bits from 0666.
    assert_eq!(mode & !0o666, 0);
}
