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
