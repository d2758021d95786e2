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

/// The mappings of `file` in this process (`/proc/self/smaps`): permissions, and whether they
/// are locked (`lo` in `VmFlags`).
fn mappings_of(file: &std::path::Path) -> Vec<(String, bool)> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = file.to_str().unwrap();
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in smaps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields
            .first()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            current = (fields.last() == Some(&name)).then(|| fields[1].to_owned());
        } else if let (Some(perms), Some(&"VmFlags:")) = (&current, fields.first()) {
            found.push((perms.clone(), fields.contains(&"lo")));
        }
    }
    found
}

#[test]
fn a_handle_opened_to_prefault_or_lock_memory_maps_its_readers_pixels_at_once() {
    let dir = common::StreamDir::new("prefault");
    // 1 MiB of pixels.
    let spec = StreamSpec::new(&[512, 512], Datatype::U32).dir(dir.path());
    drop(Stream::create("pf", &spec).unwrap());
    let file = dir.file("pf");
    for (prefault, lock_memory) in [(true, false), (false, true)] {
        let opts = shmim_core::OpenOptions {
            prefault,
            lock_memory,
            ..Default::default()
        };
        let stream = Stream::open_with(dir.path(), "pf", &opts).unwrap();
        let maps = mappings_of(&file);
        // The handle's mapping (read-write) and, before any read, the readers' (read-only).
        assert_eq!(maps.len(), 2, "{maps:?}");
        assert!(
            maps.iter().any(|(perms, _)| perms == "r--s"),
            "the readers' mapping is read-only: {maps:?}"
        );
        if lock_memory {
            assert!(
                maps.iter().all(|&(_, locked)| locked),
                "both mappings locked: {maps:?}"
            );
        }
        drop(stream);
        assert!(mappings_of(&file).is_empty(), "unmapped with the handle");
    }
    // Without either, the readers' mapping waits for a first read.
    let stream = Stream::open_in(dir.path(), "pf").unwrap();
    assert_eq!(mappings_of(&file).len(), 1);
    drop(stream);
}
