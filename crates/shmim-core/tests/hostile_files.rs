//! Hostile files: a generated corpus of truncated, extended, bit-flipped, wrong-version,
//! absurd-dimension, inconsistent, zero-size, huge, non-regular and symlinked files. Opening any
//! of them gives a typed error or a stream that then behaves (reads, keywords, readers) without a
//! panic. `cargo test` runs a few hundred cases; `cargo xtask stress` runs 10 000
//! (`SHMIM_HOSTILE_CASES`).

mod common;

use std::os::unix::fs::symlink;
use std::time::Duration;

use common::{StreamDir, count_from_env};
use shmim_core::{Datatype, ImageType, OpenOptions, Stream, StreamSpec};

#[path = "../../shmim-layout/tests/support/splitmix.rs"]
mod splitmix;
use splitmix::Rng;

/// Valid stream files of several shapes, to mutate.
fn seeds(dir: &StreamDir) -> Vec<Vec<u8>> {
    let specs = [
        StreamSpec::new(&[8, 8], Datatype::Float)
            .keywords(2)
            .semaphores(3),
        StreamSpec::new(&[4, 4, 3], Datatype::U16)
            .imagetype(ImageType::CIRCULAR_BUFFER | ImageType::ZAXIS_TEMPORAL)
            .circular_buffer(2)
            .keywords(1)
            .semaphores(2),
        StreamSpec::new(&[5], Datatype::ComplexDouble).semaphores(1),
        StreamSpec::new(&[3, 3], Datatype::Half).semaphores(0),
    ];
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let name = format!("seed{i}");
            let mut s = Stream::create(&name, &spec.clone().dir(dir.path())).unwrap();
            let mut g = s.write().unwrap();
            g.bytes_mut().fill(0x5a);
            g.commit().unwrap();
            std::fs::read(dir.file(&name)).unwrap()
        })
        .collect()
}

/// One mutation of a seed.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    match rng.below(8) {
        0 => b.truncate(rng.below(b.len() as u64) as usize),
        1 => b.extend((0..1 + rng.below(64)).map(|_| rng.next() as u8)),
        2 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(384) as usize;
                b[at] ^= 1 << rng.below(8);
            }
        }
        3 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(b.len() as u64) as usize;
                b[at] = rng.next() as u8;
            }
        }
        4 => b[..4].copy_from_slice(b"2.01"),
        5 => {
            // Absurd dimensions.
            let axis = 116 + 4 * rng.below(3) as usize;
            b[axis..axis + 4].copy_from_slice(&(rng.next() as u32 | 0x8000_0000).to_ne_bytes());
        }
        6 => {
            // Counts that move regions past or over each other.
            let (at, len) = [
                (258, 2),
                (260, 2),
                (290, 2),
                (292, 4),
                (296, 4),
                (128, 8),
                (312, 8),
            ][rng.below(7) as usize];
            for byte in &mut b[at..at + len] {
                *byte = rng.next() as u8;
            }
        }
        _ => {
            // Header fields that sizing trusts: naxis, datatype, location, shared, imagetype.
            let at = [112, 136, 240, 224, 144][rng.below(5) as usize];
            b[at] = rng.next() as u8;
        }
    }
    b
}

/// Opens `name` and, if it opens, exercises it; panics only on a bug.
fn exercise(dir: &StreamDir, name: &str) {
    let opts = OpenOptions {
        retry: Duration::ZERO,
        ..OpenOptions::default()
    };
    let Ok(mut s) = Stream::open_with(dir.path(), name, &opts) else {
        return;
    };
    s.set_read_timeout(Duration::from_millis(1));
    let _ = s.metadata();
    let _ = s.metadata_snapshot();
    let mut buf = vec![0u8; s.geometry().frame_bytes()];
    let _ = s.read_bytes_into(&mut buf);
    let _ = s.keywords();
    let _ = s.proc_trace(0);
    let _ = s.registered_readers();
    if let Ok(mut r) = s.reader() {
        let _ = r.try_wait();
    }
    let _ = s.write().map(|g| g.commit());
}

#[test]
fn no_generated_hostile_file_crashes_open() {
    let cases: u64 = count_from_env("SHMIM_HOSTILE_CASES", 300);
    let dir = StreamDir::new("hostile");
    let seeds = seeds(&dir);
    let mut rng = Rng(0xbad_f11e);
    let (mut opened, mut refused) = (0u64, 0u64);
    for case in 0..cases {
        let seed = &seeds[rng.below(seeds.len() as u64) as usize];
        let bytes = mutate(&mut rng, seed);
        let name = format!("case{}", case % 64);
        std::fs::write(dir.file(&name), &bytes).unwrap();
        let opts = OpenOptions {
            retry: Duration::ZERO,
            ..OpenOptions::default()
        };
        match Stream::open_with(dir.path(), &name, &opts) {
            Ok(_) => opened += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                refused += 1;
            }
        }
        exercise(&dir, &name);
    }
    eprintln!(
        "hostile files: {cases} cases, {refused} refused with a typed error, {opened} opened and exercised"
    );
    assert_eq!(opened + refused, cases);
}

#[test]
fn special_files_are_refused() {
    let dir = StreamDir::new("hostile-special");
    std::fs::write(dir.file("zero"), b"").unwrap();
    let huge = std::fs::File::create(dir.file("huge")).unwrap();
    huge.set_len(1 << 40).unwrap(); // sparse: a terabyte of zeros
    std::fs::create_dir(dir.file("adir")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.file("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    symlink("/etc/passwd", dir.file("outside")).unwrap();
    symlink(dir.file("nowhere"), dir.file("dangling")).unwrap();
    for name in ["zero", "huge", "adir", "fifo", "outside", "dangling"] {
        let err = Stream::open_in(dir.path(), name).expect_err(name);
        assert!(err.to_string().contains(name), "{name}: {err}");
        exercise(&dir, name);
    }
}
