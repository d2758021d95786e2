//! Resource exhaustion: a stream larger than the free space of its tmpfs is refused at create
//! time (thanks to `fallocate`), with no partial or temporary file left behind.

mod common;

use shmim_core::{Datatype, Error, Stream, StreamSpec};

#[test]
fn a_full_tmpfs_is_an_error_at_create_time_and_leaves_nothing_behind() {
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() {
        panic!("this test needs /dev/shm (a tmpfs) to exist");
    }
    let dir = shm.join(format!("shmim-test-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let free = rustix::fs::statvfs(&dir)
        .map(|s| s.f_bavail * s.f_frsize)
        .unwrap();
    // Complex doubles: 16 bytes each, at most 10^10 elements per frame (160 GB) — and a circular
    // buffer multiplies it, so any free space up to ~1.6 TB is exceeded.
    let side = 100_000u32;
    let frames = u32::try_from(free / (16 * u64::from(side) * u64::from(side)) + 2).unwrap();
    let spec = StreamSpec::new(&[side, side], Datatype::ComplexDouble)
        .circular_buffer(frames)
        .dir(&dir);
    let err = Stream::create("too_big", &spec).unwrap_err();
    match &err {
        Error::Io {
            op: "fallocate",
            source,
            ..
        } => assert_eq!(source.raw_os_error(), Some(28), "ENOSPC: {err}"),
        other => panic!("expected a fallocate error, got {other}"),
    }
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
}
