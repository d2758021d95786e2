//! A stream we may not open gives a clear permission error naming the file.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{StreamDir, arg, role};
use shmim_core::{Datatype, Error, Stream, StreamSpec};

/// Child entry point: runs as another user and tries to open the stream.
#[test]
fn child() {
    let Some(role) = role() else { return };
    assert_eq!(role, "open_as_other_user");
    let dir = std::path::PathBuf::from(arg("STREAM_DIR"));
    match Stream::open_in(&dir, "private") {
        Err(e @ Error::PermissionDenied { .. }) => {
            assert!(e.to_string().contains("private.im.shm"), "{e}");
        }
        other => panic!("expected PermissionDenied, got {other:?}"),
    }
}

#[test]
fn a_stream_of_another_user_that_we_cannot_open_is_a_permission_error() {
    let dir = StreamDir::new("perm");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    Stream::create(
        "private",
        &StreamSpec::new(&[4], Datatype::U8)
            .mode(0o600)
            .dir(dir.path()),
    )
    .unwrap();
    if rustix::process::geteuid().is_root() {
        // Root may open anything: ask a child running as `nobody` instead.
        let status = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture"])
            .env(common::ROLE, "open_as_other_user")
            .env("STREAM_DIR", dir.path())
            .status()
            .expect("setpriv (util-linux) runs the child as nobody");
        assert!(
            status.success(),
            "the child as nobody got the permission error"
        );
    } else {
        std::fs::set_permissions(dir.file("private"), std::fs::Permissions::from_mode(0o000))
            .unwrap();
        assert!(matches!(
            Stream::open_in(dir.path(), "private"),
            Err(Error::PermissionDenied { .. })
        ));
    }
}

/// `getfacl` of `path` without its header (the permissions only).
fn acl_of(path: &std::path::Path) -> String {
    let out = Command::new("getfacl")
        .args(["--omit-header", "--absolute-names"])
        .arg(path)
        .output()
        .expect("getfacl (Debian package acl, installed by `cargo xtask ci`'s setup step)");
    assert!(out.status.success(), "getfacl {path:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn streams_and_segments_created_without_a_mode_get_the_permissions_of_the_directorys_default_acl() {
    let dir = StreamDir::new("acl");
    // Readers need write access (semaphores): a group of readers gets it through the ACL.
    let status = Command::new("setfacl")
        .args(["-d", "-m", "u::rw,g::r,o::r,g:daemon:rw,m::rw"])
        .arg(dir.path())
        .status()
        .expect("setfacl (Debian package acl, installed by `cargo xtask ci`'s setup step)");
    assert!(
        status.success(),
        "setfacl on {:?}: the temporary directory's file system must keep POSIX ACLs",
        dir.path()
    );
    // What any program creating a file there with mode 0666 gets (umask or not: a default ACL
    // replaces it).
    let reference = dir.path().join("reference");
    std::fs::File::create(&reference).unwrap();
    let expected = acl_of(&reference);
    assert!(expected.contains("group:daemon:rw-"), "{expected}");
    Stream::create("acl", &StreamSpec::new(&[4], Datatype::U8).dir(dir.path())).unwrap();
    shmim_core::Segment::create(dir.path(), "acl", &0u64).unwrap();
    for file in [dir.file("acl"), dir.path().join("acl.seg.shm")] {
        assert_eq!(
            acl_of(&file),
            expected,
            "{file:?} lost the default ACL's permissions"
        );
    }
}
