//! `StreamSpec::replace(false)`: a create that finds the name taken fails with `Occupied` and
//! leaves what is there untouched (the bridge makes its mirrors this way, so that a stream
//! someone creates between its check and its create is never replaced).

mod common;

use common::StreamDir;
use shmim_core::{Datatype, Error, Stream, StreamSpec};

#[test]
fn a_create_that_may_not_replace_leaves_an_existing_stream_alone() {
    let dir = StreamDir::new("noreplace");
    let spec = StreamSpec::new(&[4, 4], Datatype::U8).dir(dir.path());
    let mine = Stream::create("cam", &spec).unwrap();
    let other = StreamSpec::new(&[8, 8], Datatype::Float)
        .dir(dir.path())
        .replace(false);
    match Stream::create("cam", &other) {
        Err(Error::Occupied { path, .. }) => assert_eq!(path, dir.file("cam")),
        r => panic!("expected Occupied, got {:?}", r.map(|s| s.shape().to_vec())),
    }
    assert!(!mine.inode_changed().unwrap());
    assert_eq!(Stream::open_in(dir.path(), "cam").unwrap().shape(), &[4, 4]);
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(entries, 1, "no temporary file left behind");
    // Where nothing is in the way, it creates as usual.
    let fresh = Stream::create("new", &other).unwrap();
    assert_eq!(fresh.shape(), &[8, 8]);
}
