//! The stream files written by the legacy C library (`tests/data/legacy`, see its MANIFEST.md) open
//! and read back exactly as their manifest says, and shmim-created files with the same parameters
//! match them byte for byte outside the fields that vary from run to run.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::StreamDir;
use shmim_core::{ComplexF64, Datatype, ImageType, Keyword, Stream, StreamSpec, Value};
use shmim_layout::{ImageMetadata, RegionSpec, Regions};

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/legacy")
        .join(format!("{name}.im.shm"))
}

/// Copies a golden file into a private directory (the originals are read-only and shared).
fn open_copy(dir: &StreamDir, name: &str) -> Stream {
    std::fs::copy(golden(name), dir.file(name)).unwrap();
    let mut perms = std::fs::metadata(dir.file(name)).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(dir.file(name), perms).unwrap();
    Stream::open_in(dir.path(), name).unwrap()
}

struct Expect {
    size: u64,
    shape: &'static [u32],
    datatype: Datatype,
    imagetype: u64,
    sem: u16,
    nbkw: u16,
    cbsize: u32,
    cnt0: u64,
    cnt1: u64,
    cbindex: u32,
    cbcycle: u64,
    imdatamemsize: u64,
}

fn check(dir: &StreamDir, name: &str, e: Expect) -> Stream {
    let s = open_copy(dir, name);
    assert_eq!(std::fs::metadata(golden(name)).unwrap().len(), e.size);
    let md = s.metadata().unwrap();
    assert_eq!(md.name, name);
    assert_eq!(
        (md.shape.as_slice(), md.datatype, md.imagetype),
        (e.shape, Some(e.datatype), e.imagetype)
    );
    assert_eq!(
        (md.semaphores, md.keywords, md.cb_size),
        (e.sem, e.nbkw, e.cbsize)
    );
    assert_eq!(
        (md.cnt0, md.cnt1, md.cb_index, md.cb_cycle),
        (e.cnt0, e.cnt1, e.cbindex, e.cbcycle)
    );
    assert_eq!(md.imdatamemsize, e.imdatamemsize);
    assert!(
        md.shared && md.location == -1 && md.proc_trace == 10 && !md.write && md.owner_pid == 0
    );
    assert_eq!(
        (md.claim_pid, md.claim_ticket),
        (0, 0),
        "the claim words are zero padding"
    );
    assert_eq!((md.status, md.flag, md.logflag, md.cnt2), (0, 0, 0, 0));
    let r = s.reader().unwrap();
    assert_eq!(r.slot(), Some(0), "semReadPID all -1: slot 0 is free");
    drop(r);
    s
}

#[test]
fn golden_f32_reads_back_as_its_manifest_says() {
    let dir = StreamDir::new("golden-f32");
    let s = check(
        &dir,
        "golden_f32",
        Expect {
            size: 1856,
            shape: &[8, 8],
            datatype: Datatype::Float,
            imagetype: ImageType::MATH_DATA,
            sem: 3,
            nbkw: 3,
            cbsize: 0,
            cnt0: 3,
            cnt1: 0,
            cbindex: 0,
            cbcycle: 0,
            imdatamemsize: 256,
        },
    );
    let mut px = vec![0f32; 64];
    assert_eq!(s.read_into(&mut px).unwrap(), 3);
    assert!(px.iter().enumerate().all(|(i, &v)| v == 3000.0 + i as f32));
    let kw = s.keywords().unwrap();
    let expect = |index, name: &str, value, comment: &str| Keyword {
        index,
        name: name.into(),
        value,
        comment: comment.into(),
        cnt: kw[index as usize].cnt,
    };
    assert_eq!(
        kw,
        vec![
            expect(0, "EXPTIME", Value::Double(0.001), "exposure time [s]"),
            expect(1, "FRAMENB", Value::Long(42), "frame number"),
            expect(2, "CAMERA", Value::Str("ocam2k".into()), "camera name"),
        ]
    );
}

#[test]
fn golden_cube_keeps_its_circular_buffer_frames() {
    let dir = StreamDir::new("golden-cube");
    let s = check(
        &dir,
        "golden_u16_cube_cb",
        Expect {
            size: 1784,
            shape: &[4, 4, 3],
            datatype: Datatype::U16,
            imagetype: ImageType::CIRCULAR_BUFFER | ImageType::ZAXIS_TEMPORAL,
            sem: 2,
            nbkw: 1,
            cbsize: 2,
            cnt0: 5,
            cnt1: 1,
            cbindex: 1,
            cbcycle: 2,
            imdatamemsize: 96,
        },
    );
    let mut px = vec![0u16; 48];
    s.read_into(&mut px).unwrap();
    assert!(px.iter().enumerate().all(|(i, &v)| v == 500 + i as u16));
    for (slot, frame) in [(1u32, 5u16), (0, 4)] {
        let md = s.read_cb_frame_into(slot, &mut px).unwrap();
        assert!(
            px.iter()
                .enumerate()
                .all(|(i, &v)| v == frame * 100 + i as u16),
            "slot {slot}"
        );
        assert_eq!(
            md.cnt0, 0,
            "the legacy library leaves circular-buffer metadata zero"
        );
    }
    assert_eq!(
        (s.slice_count(), s.last_written_index(), s.write_index()),
        (3, 1, 2)
    );
    let gain = s.keyword("GAIN").unwrap().unwrap();
    assert_eq!((gain.value, gain.comment.as_str()), (Value::Long(7), ""));
}

#[test]
fn golden_complex_double_keeps_positive_zero() {
    let dir = StreamDir::new("golden-cd");
    let s = check(
        &dir,
        "golden_cd_1d",
        Expect {
            size: 1200,
            shape: &[5],
            datatype: Datatype::ComplexDouble,
            imagetype: ImageType::MATH_DATA,
            sem: 1,
            nbkw: 0,
            cbsize: 0,
            cnt0: 1,
            cnt1: 0,
            cbindex: 0,
            cbcycle: 0,
            imdatamemsize: 80,
        },
    );
    let mut px = vec![ComplexF64::default(); 5];
    s.read_into(&mut px).unwrap();
    for (i, c) in px.iter().enumerate() {
        assert_eq!((c.re, c.im), (i as f64, -(i as i64) as f64));
    }
    assert!(px[0].im.is_sign_positive());
}

#[test]
fn golden_fresh_stream_is_all_zero() {
    let dir = StreamDir::new("golden-fresh");
    let s = check(
        &dir,
        "golden_fresh_i32",
        Expect {
            size: 1560,
            shape: &[3, 2],
            datatype: Datatype::I32,
            imagetype: ImageType::MATH_DATA,
            sem: 10,
            nbkw: 0,
            cbsize: 0,
            cnt0: 0,
            cnt1: 0,
            cbindex: 0,
            cbcycle: 0,
            imdatamemsize: 24,
        },
    );
    let mut px = [1i32; 6];
    assert_eq!(s.read_into(&mut px).unwrap(), 0);
    assert_eq!(px, [0; 6]);
}

#[test]
fn legacy_semaphores_hold_their_posted_values_and_wake_a_reader() {
    let dir = StreamDir::new("golden-sem");
    for (name, value) in [
        ("golden_f32", 3u32),
        ("golden_u16_cube_cb", 5),
        ("golden_cd_1d", 1),
        ("golden_fresh_i32", 0),
    ] {
        let bytes = std::fs::read(golden(name)).unwrap();
        let md: ImageMetadata = bytemuck::pod_read_unaligned(&bytes[..384]);
        let r = RegionSpec::from_metadata(&md).regions().unwrap();
        for i in 0..md.sem as usize {
            let at = r.semaphores.offset as usize + 32 * i;
            assert_eq!(
                u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap()),
                value,
                "{name} sem {i}"
            );
            assert_eq!(bytes[at + 8], 0x80, "{name} sem {i} is process-shared");
        }
    }
    // A shmim writer posting to a legacy file wakes a shmim reader.
    let mut s = open_copy(&dir, "golden_f32");
    let mut reader = Stream::open_in(dir.path(), "golden_f32")
        .unwrap()
        .reader()
        .unwrap();
    assert_eq!(s.write_frame(&[1f32; 64]).unwrap(), 4);
    assert_eq!(reader.wait_timeout(Duration::from_secs(5)).unwrap(), 4);
}

#[test]
fn the_claim_words_are_zero_padding_in_every_legacy_file() {
    for name in [
        "golden_f32",
        "golden_fresh_i32",
        "golden_u16_cube_cb",
        "golden_cd_1d",
    ] {
        let bytes = std::fs::read(golden(name)).unwrap();
        for at in [
            shmim_layout::CLAIM_PID_OFFSET,
            shmim_layout::CLAIM_TICKET_OFFSET,
        ] {
            assert_eq!(bytes[at..at + 4], [0; 4], "{name} @{at}");
        }
    }
}

/// Byte ranges that legitimately differ between two files with the same content.
fn masked(bytes: &[u8], r: &Regions, extra: &[(u64, u64)]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let mut mask = |from: u64, len: u64| b[from as usize..(from + len) as usize].fill(0);
    mask(152, 68); // creationtime, lastaccesstime, atime, writetime, creatorPID
    mask(232, 8); // inode
    mask(244, 4); // shmim's claim ticket: low 32 bits of cnt0 after a shmim publish
    mask(r.sem_write_pid.offset, r.sem_write_pid.len);
    for i in 0..r.semaphores.len / 32 {
        mask(r.semaphores.offset + 32 * i, 8); // value and waiter words
    }
    mask(r.semlog.offset, 32);
    for &(from, len) in extra {
        mask(from, len);
    }
    b
}

fn compare(
    dir: &StreamDir,
    name: &str,
    spec: StreamSpec,
    fill: impl FnOnce(&mut Stream),
    extra: &[(u64, u64)],
) {
    let mut s = Stream::create(name, &spec.dir(dir.path())).unwrap();
    fill(&mut s);
    drop(s);
    let ours = std::fs::read(dir.file(name)).unwrap();
    let theirs = std::fs::read(golden(name)).unwrap();
    assert_eq!(ours.len(), theirs.len(), "{name}: file size");
    let md: ImageMetadata = bytemuck::pod_read_unaligned(&theirs[..384]);
    let r = RegionSpec::from_metadata(&md).regions().unwrap();
    let (a, b) = (masked(&ours, &r, extra), masked(&theirs, &r, extra));
    if let Some(at) = a.iter().zip(&b).position(|(x, y)| x != y) {
        panic!(
            "{name}: first difference at byte {at}: shmim {:#04x}, legacy {:#04x}",
            a[at], b[at]
        );
    }
}

#[test]
fn shmim_files_match_legacy_files_byte_for_byte() {
    let dir = StreamDir::new("bytes");
    compare(
        &dir,
        "golden_fresh_i32",
        StreamSpec::new(&[3, 2], Datatype::I32),
        |_| {},
        &[],
    );
    // shmim's keyword writes count in each entry's `cnt` (the legacy program that made these files
    // filled the entries by direct struct access, which counts nothing).
    let kw_cnt = |kw_offset: u64, n: u64| (0..n).map(move |i| (kw_offset + 128 * i + 40, 8));
    compare(
        &dir,
        "golden_f32",
        StreamSpec::new(&[8, 8], Datatype::Float)
            .semaphores(3)
            .keywords(3),
        |s| {
            s.set_keyword("EXPTIME", Value::Double(0.001), "exposure time [s]")
                .unwrap();
            s.set_keyword("FRAMENB", Value::Long(42), "frame number")
                .unwrap();
            s.set_keyword("CAMERA", Value::Str("ocam2k".into()), "camera name")
                .unwrap();
            for f in 1..=3 {
                let frame: Vec<f32> = (0..64).map(|i| (f * 1000 + i) as f32).collect();
                s.write_frame(&frame).unwrap();
            }
        },
        &kw_cnt(640, 3).collect::<Vec<_>>(),
    );
    compare(
        &dir,
        "golden_cd_1d",
        StreamSpec::new(&[5], Datatype::ComplexDouble).semaphores(1),
        |s| {
            let frame: Vec<ComplexF64> = (0..5)
                .map(|i| ComplexF64 {
                    re: i as f64,
                    im: -(i as i64) as f64,
                })
                .collect();
            s.write_frame(&frame).unwrap();
        },
        &[],
    );
    let cube = RegionSpec::new(&[4, 4, 3], Datatype::U16)
        .with_semaphores(2)
        .with_keywords(1)
        .with_imagetype(0x20001)
        .with_circular_buffer(2)
        .regions()
        .unwrap();
    // shmim also fills the circular-buffer frame metadata, which the legacy library leaves zero.
    let cb_md = (cube.cb_md.offset, cube.cb_md.len);
    compare(
        &dir,
        "golden_u16_cube_cb",
        StreamSpec::new(&[4, 4, 3], Datatype::U16)
            .semaphores(2)
            .keywords(1)
            .imagetype(0x20001)
            .circular_buffer(2),
        |s| {
            s.set_keyword("GAIN", Value::Long(7), "").unwrap();
            for f in 1..=5u16 {
                let mut g = s.write().unwrap();
                g.set_cnt1(u64::from(f - 1) % 3);
                let frame: Vec<u16> = (0..48).map(|i| f * 100 + i).collect();
                g.copy_from(&frame).unwrap();
                g.commit().unwrap();
            }
        },
        &[
            [cb_md].as_slice(),
            &kw_cnt(cube.keywords.offset, 1).collect::<Vec<_>>(),
        ]
        .concat(),
    );
}
