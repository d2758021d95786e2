//! Opening validates before trusting: every bad file gets its own typed error, naming the file.

mod common;

use std::os::unix::fs::symlink;

use common::StreamDir;
use shmim_core::validate::Invalid;
use shmim_core::{Datatype, Error, OpenOptions, Stream, StreamSpec};
use shmim_layout::LayoutError;

/// A valid 8×8 f32 stream's bytes.
fn good_bytes(dir: &StreamDir) -> Vec<u8> {
    Stream::create(
        "good",
        &StreamSpec::new(&[8, 8], Datatype::Float).dir(dir.path()),
    )
    .unwrap();
    std::fs::read(dir.file("good")).unwrap()
}

fn open_bytes(dir: &StreamDir, name: &str, bytes: &[u8]) -> Error {
    std::fs::write(dir.file(name), bytes).unwrap();
    let opts = OpenOptions {
        retry: std::time::Duration::ZERO,
        ..OpenOptions::default()
    };
    let err = Stream::open_with(dir.path(), name, &opts).unwrap_err();
    assert!(
        err.to_string().contains(name),
        "error names the file: {err}"
    );
    err
}

fn invalid(err: Error) -> Invalid {
    match err {
        Error::Invalid { check, .. } => check,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn truncated_file_is_refused() {
    let dir = StreamDir::new("truncated");
    let good = good_bytes(&dir);
    assert_eq!(
        invalid(open_bytes(&dir, "short", &good[..200])),
        Invalid::TooShort { found: 200 }
    );
    let cut = good.len() - 8;
    assert_eq!(
        invalid(open_bytes(&dir, "cut", &good[..cut])),
        Invalid::FileSize {
            expected: good.len() as u64,
            found: cut as u64
        }
    );
    assert_eq!(
        invalid(open_bytes(&dir, "empty", &[])),
        Invalid::TooShort { found: 0 }
    );
}

#[test]
fn wrong_version_is_refused() {
    let dir = StreamDir::new("version");
    let mut b = good_bytes(&dir);
    b[..4].copy_from_slice(b"1.99");
    assert_eq!(
        invalid(open_bytes(&dir, "v199", &b)),
        Invalid::Version {
            found: "1.99".into()
        }
    );
}

#[test]
fn extended_file_is_refused() {
    let dir = StreamDir::new("extended");
    let mut b = good_bytes(&dir);
    let len = b.len() as u64;
    b.extend_from_slice(&[0; 64]);
    assert_eq!(
        invalid(open_bytes(&dir, "long", &b)),
        Invalid::FileSize {
            expected: len,
            found: len + 64
        }
    );
}

#[test]
fn absurd_dimensions_are_refused() {
    let dir = StreamDir::new("absurd");
    let mut b = good_bytes(&dir);
    b[116..120].copy_from_slice(&u32::MAX.to_ne_bytes());
    b[120..124].copy_from_slice(&u32::MAX.to_ne_bytes());
    assert!(matches!(
        invalid(open_bytes(&dir, "huge", &b)),
        Invalid::Geometry(LayoutError::TooManyElements { .. })
    ));
}

#[test]
fn inconsistent_nelement_is_refused() {
    let dir = StreamDir::new("nelement");
    let mut b = good_bytes(&dir);
    b[128..136].copy_from_slice(&65u64.to_ne_bytes());
    assert_eq!(
        invalid(open_bytes(&dir, "nel", &b)),
        Invalid::Nelement {
            expected: 64,
            found: 65
        }
    );
}

#[test]
fn a_directory_or_fifo_is_not_a_stream() {
    let dir = StreamDir::new("kinds");
    std::fs::create_dir(dir.file("adir")).unwrap();
    assert!(matches!(
        Stream::open_in(dir.path(), "adir"),
        Err(Error::NotRegularFile {
            kind: "directory",
            ..
        })
    ));
    let fifo = dir.file("afifo");
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    assert!(matches!(
        Stream::open_in(dir.path(), "afifo"),
        Err(Error::NotRegularFile { kind: "FIFO", .. })
    ));
}

#[test]
fn missing_stream_is_not_found() {
    let dir = StreamDir::new("missing");
    assert!(matches!(
        Stream::open_in(dir.path(), "nothere"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn symlinks_are_followed_inside_the_directory_only() {
    let dir = StreamDir::new("links");
    let other = StreamDir::new("links-outside");
    Stream::create(
        "target",
        &StreamSpec::new(&[4], Datatype::U8).dir(dir.path()),
    )
    .unwrap();
    Stream::create(
        "far",
        &StreamSpec::new(&[4], Datatype::U8).dir(other.path()),
    )
    .unwrap();
    symlink(dir.file("target"), dir.file("alias")).unwrap();
    symlink(other.file("far"), dir.file("escape")).unwrap();

    let alias = Stream::open_in(dir.path(), "alias").unwrap();
    assert_eq!(alias.name(), "alias", "the handle keeps the link name");
    assert_eq!(
        alias.metadata().unwrap().name,
        "target",
        "md->name is the target's"
    );

    assert!(matches!(
        Stream::open_in(dir.path(), "escape"),
        Err(Error::SymlinkOutsideDir { .. })
    ));
    let opts = OpenOptions {
        follow_outside: true,
        ..OpenOptions::default()
    };
    assert!(Stream::open_with(dir.path(), "escape", &opts).is_ok());
}

#[test]
fn bad_names_are_refused_before_touching_the_disk() {
    let dir = StreamDir::new("names");
    for name in ["../up", "a/b", "", "-x", ".hidden", "nul\0"] {
        assert!(
            matches!(
                Stream::open_in(dir.path(), name),
                Err(Error::InvalidName { .. })
            ),
            "{name:?}"
        );
        let spec = StreamSpec::new(&[1], Datatype::U8).dir(dir.path());
        assert!(
            matches!(Stream::create(name, &spec), Err(Error::InvalidName { .. })),
            "{name:?}"
        );
    }
}

#[test]
fn create_never_follows_a_planted_symlink() {
    let dir = StreamDir::new("planted");
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    symlink(&victim, dir.file("trap")).unwrap();
    Stream::create("trap", &StreamSpec::new(&[4], Datatype::U8).dir(dir.path())).unwrap();
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"precious",
        "the link's target is untouched"
    );
    assert!(
        !std::fs::symlink_metadata(dir.file("trap"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn create_refuses_to_replace_a_directory_and_leaves_no_temporary_file() {
    let dir = StreamDir::new("occupied");
    std::fs::create_dir(dir.file("busy")).unwrap();
    let spec = StreamSpec::new(&[4], Datatype::U8).dir(dir.path());
    assert!(matches!(
        Stream::create("busy", &spec),
        Err(Error::Occupied { .. })
    ));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn geometry_errors_at_create_are_typed() {
    let dir = StreamDir::new("geometry");
    let spec = StreamSpec::new(&[4, 0], Datatype::U8).dir(dir.path());
    assert!(matches!(
        Stream::create("zero", &spec),
        Err(Error::Geometry(LayoutError::ZeroAxis { axis: 1 }))
    ));
    let spec = StreamSpec::new(&[1, 2, 3, 4], Datatype::U8).dir(dir.path());
    assert!(matches!(
        Stream::create("four", &spec),
        Err(Error::Geometry(LayoutError::Naxis(4)))
    ));
}

/// `target` named relative to the working directory (`../` up to `/`, then the rest).
fn relative_to_cwd(target: &std::path::Path) -> std::path::PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let up = cwd.components().count() - 1;
    let mut rel: std::path::PathBuf = std::iter::repeat_n("..", up).collect();
    rel.push(target.strip_prefix("/").unwrap());
    rel
}

#[test]
fn a_stream_opened_by_a_relative_path_keeps_an_absolute_one() {
    // A relative path would lead elsewhere after a `chdir`, and the stream would read as
    // deleted (tests cannot `chdir`: the test threads share the working directory).
    let dir = StreamDir::new("relative");
    let w = Stream::create("rel", &StreamSpec::new(&[4], Datatype::U8).dir(dir.path())).unwrap();
    let by_path = Stream::open_path(relative_to_cwd(&dir.file("rel"))).unwrap();
    let by_dir = Stream::open_in(relative_to_cwd(dir.path()), "rel").unwrap();
    let made = Stream::create(
        "rel2",
        &StreamSpec::new(&[4], Datatype::U8).dir(relative_to_cwd(dir.path())),
    )
    .unwrap();
    for s in [&w, &by_path, &by_dir, &made] {
        let path = s.path().unwrap();
        assert!(path.is_absolute(), "{} is relative", path.display());
        assert!(!s.inode_changed().unwrap());
    }
}
