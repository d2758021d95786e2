//! Hostile files through the C `ImageStreamIO_openIm`, in a C program built with ASan and UBSan
//! (`tests/c/hostile_open.c`): a generated corpus of truncated, extended, bit-flipped,
//! wrong-version, absurd-dimension, wrapping, inconsistent-count and bad-name files, plus
//! zero-size, 1 TiB sparse, directory, FIFO, socket and symlinked entries. Every file is refused
//! with an `IMAGESTREAMIO_*` code, or opens, is exercised (and scribbled on) and closes cleanly;
//! the C verdict must be the Rust `Stream::open` verdict. `cargo test` runs 300 generated cases;
//! `cargo xtask stress` runs 10 000 (`SHMIM_HOSTILE_CASES`).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::mem::{offset_of, size_of};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use ImageStreamIO::image_struct::IMAGE_METADATA;
use common::{StreamDir, run_asan, toolchain};
use shmim_core::{Datatype, ImageType, OpenOptions, Stream, StreamSpec};

#[path = "../../shmim-layout/tests/support/splitmix.rs"]
mod splitmix;
use splitmix::Rng;

impl Rng {
    /// Every case is a function of the seed and its number, whatever thread builds it.
    fn for_case(case: u64) -> Self {
        Self(0xc0de_0bad_f11e ^ case.wrapping_mul(0xd134_2543_de82_ef95))
    }
}

const SUFFIX: &str = ".im.shm";
const HEADER: usize = size_of::<IMAGE_METADATA>();

/// Valid stream files of several shapes, to mutate.
fn seeds(dir: &Path) -> Vec<Vec<u8>> {
    let temporal = ImageType::CIRCULAR_BUFFER | ImageType::ZAXIS_TEMPORAL;
    let specs = [
        StreamSpec::new(&[8, 8], Datatype::Float)
            .keywords(2)
            .semaphores(3),
        StreamSpec::new(&[4, 4, 3], Datatype::U16)
            .imagetype(temporal)
            .circular_buffer(2)
            .keywords(1)
            .semaphores(2),
        StreamSpec::new(&[5], Datatype::ComplexDouble).semaphores(1),
        StreamSpec::new(&[3, 3], Datatype::Half).semaphores(0),
        StreamSpec::new(&[6, 2, 4], Datatype::U8)
            .imagetype(ImageType::ZAXIS_TEMPORAL)
            .proc_trace(2)
            .semaphores(4),
        StreamSpec::new(&[4, 4], Datatype::Float)
            .gpu(0)
            .semaphores(2),
    ];
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let name = format!("seed{i}");
            let mut s = Stream::create(&name, &spec.clone().dir(dir)).unwrap();
            if let Ok(mut g) = s.write() {
                g.bytes_mut().fill(0x5a);
                g.commit().unwrap();
            }
            std::fs::read(dir.join(format!("{name}{SUFFIX}"))).unwrap()
        })
        .collect()
}

/// Writes `v` at `at` if the (possibly truncated) file still reaches that far.
fn put(b: &mut [u8], at: usize, v: &[u8]) {
    if let Some(dst) = b.get_mut(at..at + v.len()) {
        dst.copy_from_slice(v);
    }
}

/// One mutation of a seed (`depth` > 0: may stack further mutations).
fn mutate(rng: &mut Rng, b: &mut Vec<u8>, depth: u32) {
    // A random value some choices below pick from.
    let r = rng.next();
    match rng.below(11) {
        0 => {
            // Truncated: often inside the header, else anywhere.
            let to = if rng.below(3) == 0 {
                rng.below(HEADER as u64 + 1)
            } else {
                rng.below(b.len() as u64)
            };
            b.truncate(to as usize);
        }
        1 => {
            // Extended: a few bytes, one word, or a page.
            match rng.below(3) {
                0 => b.extend((0..1 + rng.below(64)).map(|_| rng.next() as u8)),
                1 => b.extend([0; 8]),
                _ => b.extend([0; 4096]),
            }
        }
        2 => {
            // Bit flips in the header.
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(HEADER as u64) as usize;
                let bit = 1 << rng.below(8);
                if let Some(x) = b.get_mut(at) {
                    *x ^= bit;
                }
            }
        }
        3 => {
            // Random bytes anywhere (header, pixels, keywords, semaphores, ...).
            for _ in 0..1 + rng.below(16) {
                let at = rng.below(b.len() as u64) as usize;
                if let Some(x) = b.get_mut(at) {
                    *x = rng.next() as u8;
                }
            }
        }
        4 => {
            // Wrong version string.
            let v: &[u8] = rng.pick(&[
                &b"2.01\0"[..],
                b"1.00\0",
                b"\0",
                b"2.0\0",
                b"2.00 \0",
                &[b'x'; 32],
            ]);
            put(b, offset_of!(IMAGE_METADATA, version), v);
        }
        5 => {
            // Absurd dimensions.
            match rng.below(3) {
                0 => {
                    let n = rng.pick(&[0, 1, 2, 3, 4, 255, r as u8]);
                    put(b, offset_of!(IMAGE_METADATA, naxis), &[n]);
                }
                1 => {
                    let axis = rng.below(3) as usize;
                    let v = rng.pick(&[0, 1, u32::MAX, 0x8000_0000 | r as u32, (r >> 32) as u32]);
                    put(
                        b,
                        offset_of!(IMAGE_METADATA, size) + 4 * axis,
                        &v.to_ne_bytes(),
                    );
                }
                _ => {
                    let v = rng.pick(&[0, 1, u64::MAX, r]);
                    put(b, offset_of!(IMAGE_METADATA, nelement), &v.to_ne_bytes());
                }
            }
        }
        6 => {
            // Sizes whose products wrap around 2^64 (to 0, or to the seed's own element count),
            // so unchecked arithmetic would lay regions over each other.
            let naxis = offset_of!(IMAGE_METADATA, naxis);
            let size = offset_of!(IMAGE_METADATA, size);
            put(b, naxis, &[3]);
            let sizes: [u32; 3] = rng.pick(&[
                [1 << 31, 1 << 31, 4],
                [1 << 16, 1 << 16, 1 << 31],
                [u32::MAX, u32::MAX, u32::MAX],
                [1 << 30, 1 << 30, 16],
            ]);
            for (k, s) in sizes.iter().enumerate() {
                put(b, size + 4 * k, &s.to_ne_bytes());
            }
            let wrapped = sizes
                .iter()
                .fold(1u64, |acc, &s| acc.wrapping_mul(u64::from(s)));
            put(
                b,
                offset_of!(IMAGE_METADATA, nelement),
                &wrapped.to_ne_bytes(),
            );
        }
        7 => {
            // Counts that move regions past or over each other, or past the end of the file.
            let u16s = [
                offset_of!(IMAGE_METADATA, sem),
                offset_of!(IMAGE_METADATA, NBproctrace),
                offset_of!(IMAGE_METADATA, NBkw),
            ];
            let u32s = [
                offset_of!(IMAGE_METADATA, CBsize),
                offset_of!(IMAGE_METADATA, CBindex),
            ];
            match rng.below(3) {
                0 => {
                    let v = rng.pick(&[0, 1, 2, u16::MAX, r as u16]);
                    put(b, rng.pick(&u16s), &v.to_ne_bytes());
                }
                1 => {
                    let v = rng.pick(&[0, 1, 2, u32::MAX, 0x0800_0000, r as u32]);
                    put(b, rng.pick(&u32s), &v.to_ne_bytes());
                }
                _ => {
                    let v = rng.pick(&[0, 1, u64::MAX, r]);
                    let at = rng.pick(&[
                        offset_of!(IMAGE_METADATA, imdatamemsize),
                        offset_of!(IMAGE_METADATA, cnt1),
                        offset_of!(IMAGE_METADATA, CBcycle),
                    ]);
                    put(b, at, &v.to_ne_bytes());
                }
            }
        }
        8 => {
            // One-byte fields sizing trusts: datatype, location, shared, write; or imagetype.
            match rng.below(5) {
                0 => {
                    let v = rng.pick(&[0, 14, 15, 255, r as u8]);
                    put(b, offset_of!(IMAGE_METADATA, datatype), &[v]);
                }
                1 => {
                    let v = rng.pick(&[-2i8, 0, 1, 127, r as i8]);
                    put(b, offset_of!(IMAGE_METADATA, location), &v.to_ne_bytes());
                }
                2 => {
                    let v = rng.pick(&[0, 2, r as u8]);
                    put(b, offset_of!(IMAGE_METADATA, shared), &[v]);
                }
                3 => {
                    let v = rng.pick(&[1, 2, 255]);
                    put(b, offset_of!(IMAGE_METADATA, write), &[v]);
                }
                _ => {
                    let v = rng.pick(&[
                        r,
                        ImageType::CIRCULAR_BUFFER,
                        ImageType::ZAXIS_TEMPORAL,
                        ImageType::CIRCULAR_BUFFER | ImageType::ZAXIS_TEMPORAL,
                        0xF,
                    ]);
                    put(b, offset_of!(IMAGE_METADATA, imagetype), &v.to_ne_bytes());
                }
            }
        }
        9 => {
            // The name field: unterminated, empty, escaping, non-UTF-8.
            let name = offset_of!(IMAGE_METADATA, name);
            let v: &[u8] = rng.pick(&[
                &[b'x'; 80][..],
                b"\0",
                b"../x\0",
                b"a/b\0",
                b"\xff\xfe\0",
                b"-rf\0",
            ]);
            put(b, name, v);
        }
        _ if depth > 0 => {
            for _ in 0..2 + rng.below(2) {
                mutate(rng, b, depth - 1);
            }
        }
        _ => {}
    }
}

/// Whether the Rust API opens `name` in `dir` (no retry: the files do not change) as a stream the
/// C library can open too: a CPU stream (this build has no CUDA, so C refuses GPU streams).
fn rust_opens(dir: &Path, name: &str) -> bool {
    let opts = OpenOptions {
        retry: Duration::ZERO,
        ..OpenOptions::default()
    };
    Stream::open_with(dir, name, &opts).is_ok_and(|s| s.geometry().location < 0)
}

/// Runs `hostile_open open` on `dir`: the code of every entry, by name.
fn open_all(dir: &Path) -> BTreeMap<String, i32> {
    let out = run_asan(&toolchain().build_asan("hostile_open.c"), &["open"], dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut codes = BTreeMap::new();
    let mut done = None;
    for line in stdout.lines() {
        let (name, code) = line.rsplit_once(' ').expect("\"<name> <code>\"");
        let code: i32 = code.parse().unwrap();
        if name == "done" {
            done = Some(code as usize);
        } else {
            assert!(
                codes.insert(name.to_owned(), code).is_none(),
                "{name} twice"
            );
        }
    }
    assert_eq!(done, Some(codes.len()), "{stdout}");
    codes
}

fn cases() -> u64 {
    std::env::var("SHMIM_HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// Files per C process.
const BATCH: u64 = 50;

#[derive(Default)]
struct Tally {
    refused: u64,
    opened: u64,
    codes: BTreeMap<i32, u64>,
    disagreements: Vec<String>,
}

#[test]
fn generated_hostile_files_get_error_codes_or_open_cleanly_through_c_openim_under_asan() {
    let cases = cases();
    let seed_dir = StreamDir::new("hostile-seeds");
    let seeds = seeds(seed_dir.path());
    toolchain().build_asan("hostile_open.c");
    let batches = cases.div_ceil(BATCH);
    // openIm retries a file that looks half-created for 200 ms, so the processes mostly sleep:
    // run more of them than there are cores.
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get() as u64 * 6)
        .min(batches);
    let next = Mutex::new(0u64);
    let tally = Mutex::new(Tally::default());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let batch = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    if batch >= batches {
                        break;
                    }
                    let dir = StreamDir::new(&format!("hostile-{batch}"));
                    let mut rust = HashMap::new();
                    for case in batch * BATCH..cases.min((batch + 1) * BATCH) {
                        let mut rng = Rng::for_case(case);
                        let mut bytes = seeds[rng.below(seeds.len() as u64) as usize].clone();
                        mutate(&mut rng, &mut bytes, 1);
                        let name = format!("case{case}");
                        std::fs::write(dir.path().join(format!("{name}{SUFFIX}")), &bytes).unwrap();
                        rust.insert(name.clone(), rust_opens(dir.path(), &name));
                    }
                    let c = open_all(dir.path());
                    let mut t = tally.lock().unwrap();
                    assert_eq!(c.len(), rust.len(), "batch {batch}: every file answered");
                    for (name, code) in c {
                        if code == 0 {
                            t.opened += 1;
                        } else {
                            t.refused += 1;
                            *t.codes.entry(code).or_default() += 1;
                        }
                        if (code == 0) != rust[&name] {
                            t.disagreements.push(format!(
                                "{name}: C code {code}, Rust opens: {}",
                                rust[&name]
                            ));
                        }
                    }
                }
            });
        }
    });
    let t = tally.into_inner().unwrap();
    assert!(
        t.disagreements.is_empty(),
        "C and Rust disagree: {:?}",
        t.disagreements
    );
    assert_eq!(t.refused + t.opened, cases);
    let codes: Vec<String> = t.codes.iter().map(|(c, n)| format!("{n}× {c}")).collect();
    eprintln!(
        "C openIm hostile files: {cases} cases under ASan, {} refused with an IMAGESTREAMIO code ({}), {} opened, exercised, scribbled on and closed; C and Rust agree on all",
        t.refused,
        codes.join(", "),
        t.opened
    );
    // The corpus is only useful if it reaches both outcomes.
    assert!(t.refused > 0 && (cases < 50 || t.opened > 0));
}

#[test]
fn special_entries_are_refused_or_followed_only_inside_the_directory() {
    let dir = StreamDir::new("hostile-special");
    let outside = StreamDir::new("hostile-outside");
    let d = dir.path();
    let file = |name: &str| d.join(format!("{name}{SUFFIX}"));
    let spec = StreamSpec::new(&[4, 4], Datatype::U32).semaphores(2);
    Stream::create("real", &spec.clone().dir(d)).unwrap();
    Stream::create("valid", &spec.clone().dir(outside.path())).unwrap();
    let valid_outside = outside.path().join(format!("valid{SUFFIX}"));

    std::fs::write(file("zero"), b"").unwrap();
    std::fs::File::create(file("huge"))
        .unwrap()
        .set_len(1 << 40) // sparse: a terabyte of zeros
        .unwrap();
    std::fs::create_dir(file("adir")).unwrap();
    let fifo = std::ffi::CString::new(file("fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path; mkfifo only creates the entry.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let _socket = std::os::unix::net::UnixListener::bind(file("socket")).unwrap();
    symlink("/etc/passwd", file("passwd")).unwrap();
    symlink("/dev/zero", file("devzero")).unwrap();
    symlink(&valid_outside, file("outside")).unwrap();
    symlink(format!("../hostile-outside/valid{SUFFIX}"), file("relout")).unwrap();
    symlink(file("nowhere"), file("dangling")).unwrap();
    symlink(file("loop"), file("loop")).unwrap();
    symlink(file("adir"), file("dirlink")).unwrap();
    symlink(format!("real{SUFFIX}"), file("inside")).unwrap();
    symlink(file("inside"), file("chain")).unwrap();
    std::fs::hard_link(&valid_outside, file("hardlink")).unwrap();

    let expected: BTreeMap<&str, bool> = [
        ("zero", false),
        ("huge", false),
        ("adir", false),
        ("fifo", false),
        ("socket", false),
        ("passwd", false),
        ("devzero", false),
        ("outside", false),
        ("relout", false),
        ("dangling", false),
        ("loop", false),
        ("dirlink", false),
        ("real", true),
        ("inside", true),
        ("chain", true),
        // A hard link is a regular file of the directory.
        ("hardlink", true),
    ]
    .into();
    let got = open_all(d);
    let got: BTreeMap<&str, bool> = got.iter().map(|(n, &c)| (n.as_str(), c == 0)).collect();
    assert_eq!(got, expected);
    for (name, opens) in expected {
        assert_eq!(rust_opens(d, name), opens, "{name}: Rust and C disagree");
    }
}

/// Rewrites `md->name` and `md->inode` of the stream file at `path`.
fn forge_header(path: &Path, name: &[u8], inode: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    put(&mut bytes, offset_of!(IMAGE_METADATA, name), name);
    put(
        &mut bytes,
        offset_of!(IMAGE_METADATA, inode),
        &inode.to_ne_bytes(),
    );
    std::fs::write(path, &bytes).unwrap();
}

#[test]
fn destroy_removes_only_its_own_file_whatever_the_header_says() {
    use std::os::unix::fs::MetadataExt;
    // md->name and md->inode are written by whoever can write the file. The legacy rule removes
    // DIR/<md->name>.im.shm: a forged header must not turn that into removing another file. The
    // file removed is the one the handle has open (found by md->name, else by the name it was
    // opened by), and only that one.
    let dir = StreamDir::new("hostile-destroy");
    let d = dir.path();
    let exe = toolchain().build_asan("hostile_open.c");
    let spec = StreamSpec::new(&[4, 4], Datatype::Float).semaphores(1);
    let file = |name: &str| d.join(format!("{name}{SUFFIX}"));

    // A name leading out of the directory, with the inode of an unrelated file there.
    let victim = d
        .parent()
        .unwrap()
        .join(format!("hostile-destroy-victim{SUFFIX}"));
    std::fs::write(&victim, b"not a stream").unwrap();
    Stream::create("escapee", &spec.clone().dir(d)).unwrap();
    let victim_ino = std::fs::metadata(&victim).unwrap().ino();
    forge_header(&file("escapee"), b"../hostile-destroy-victim\0", victim_ino);
    let out = run_asan(&exe, &["destroy", "escapee"], d);
    let victim_survived = victim.exists();
    let _ = std::fs::remove_file(&victim);
    assert!(
        victim_survived,
        "destroyIm removed a file outside the directory"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "inode 1\ndestroy 0\n",
        "the inode check refuses (FAILURE) the header's name; destroyIm does not use it"
    );
    assert!(
        !file("escapee").exists(),
        "the stream's own file is found by the name it was opened by"
    );

    // A valid name and the inode of another stream of the directory.
    Stream::create("bystander", &spec.clone().dir(d)).unwrap();
    Stream::create("impostor", &spec.clone().dir(d)).unwrap();
    let bystander_ino = std::fs::metadata(file("bystander")).unwrap().ino();
    forge_header(&file("impostor"), b"bystander\0", bystander_ino);
    let out = run_asan(&exe, &["destroy", "impostor"], d);
    assert!(
        file("bystander").exists(),
        "destroyIm removed another stream"
    );
    // The inode check compares the header's claims (legacy meaning); destroyIm finds that the
    // file it has open is not DIR/bystander.im.shm, leaves that one and removes its own.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inode 0\ndestroy 0\n");
    assert!(rust_opens(d, "bystander"));
    assert!(!file("impostor").exists());
}
