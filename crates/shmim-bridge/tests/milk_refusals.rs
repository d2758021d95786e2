//! What `milk-recv` refuses, and that a refusal costs the live transmitter nothing: a new
//! connection whose stream would be refused never ends the current one (milk's transmitter does
//! not reconnect), `--max-total-bytes` bounds the streams written by name, and a stream's
//! `BR_GAPS` goes on from what it records when the next transmitter comes.

mod support;

use std::net::TcpStream;

use shmim_core::Stream;
use support::milk::{connect, milk_recv, send_header, send_record};
use support::{TempDir, free_port, long_keyword, wait_until};

/// A transmitter of an 8x8 u8 stream `name` connected to `port`, its header sent.
fn transmitter(port: u16, name: &str) -> TcpStream {
    let mut tx = connect(port);
    send_header(&mut tx, name, &[8, 8], 1);
    tx
}

/// Sends records `from..=to` of 8x8 u8 on `tx` and waits until stream `name` records the last.
fn send_and_see(tx: &mut TcpStream, dir: &TempDir, name: &str, from: u64, to: u64) {
    for k in from..=to {
        send_record(tx, &[k as u8; 64], k, 0).unwrap();
    }
    wait_until(&format!("{name} records frame {to}"), || {
        Stream::open_in(dir.path(), name)
            .ok()
            .and_then(|s| long_keyword(&s, "BR_SRC_CNT0"))
            == Some(to as i64)
    });
}

#[test]
fn a_connection_whose_stream_would_be_refused_leaves_the_live_transmitter_alone() {
    let dir = TempDir::new("mref-size");
    let port = free_port();
    let recv = milk_recv(port, &dir, &["--max-bytes", &(1u64 << 20).to_string()]);
    let mut tx = transmitter(port, "cam");
    send_and_see(&mut tx, &dir, "cam", 1, 20);
    // A 4096x4096 f32 stream: a 64 MiB file, over --max-bytes.
    let mut big = connect(port);
    send_header(&mut big, "big", &[4096, 4096], 9);
    recv.wait_log("refused");
    send_and_see(&mut tx, &dir, "cam", 21, 40);
    let log = recv.log();
    assert!(log.contains("exceeds --max-bytes"), "{log}");
    assert!(
        log.contains("the current transmitter, if any, goes on"),
        "{log}"
    );
    assert!(!log.contains("closed the connection"), "{log}");
    assert!(Stream::open_in(dir.path(), "big").is_err());
}

#[test]
fn streams_written_by_name_stay_within_max_total_bytes() {
    let dir = TempDir::new("mref-total");
    let port = free_port();
    // Each 8x8 u8 stream's file is a few KiB; room for one, not two.
    let one = {
        let probe = TempDir::new("mref-total-probe");
        let p = free_port();
        let _r = milk_recv(p, &probe, &[]);
        let mut tx = transmitter(p, "cam");
        send_and_see(&mut tx, &probe, "cam", 1, 1);
        std::fs::metadata(probe.path().join("cam.im.shm"))
            .unwrap()
            .len()
    };
    let total = (one + one / 2).to_string();
    let recv = milk_recv(port, &dir, &["--max-total-bytes", &total]);
    let mut tx = transmitter(port, "cam");
    send_and_see(&mut tx, &dir, "cam", 1, 10);
    let _other = transmitter(port, "cam2");
    recv.wait_log("cam2");
    send_and_see(&mut tx, &dir, "cam", 11, 20);
    assert!(recv.log().contains("--max-total-bytes"), "{}", recv.log());
    assert!(Stream::open_in(dir.path(), "cam2").is_err());
    // The same name again keeps its share: a restarted transmitter takes over.
    let mut again = transmitter(port, "cam");
    send_and_see(&mut again, &dir, "cam", 21, 30);
    recv.wait_log("replaced by a newer transmitter after");
}

#[test]
fn the_gap_count_goes_on_from_what_the_stream_records() {
    let dir = TempDir::new("mref-gaps");
    let port = free_port();
    let _recv = milk_recv(port, &dir, &[]);
    let mut tx = transmitter(port, "cam");
    send_and_see(&mut tx, &dir, "cam", 1, 10);
    send_record(&mut tx, &[0; 64], 13, 0).unwrap();
    send_and_see(&mut tx, &dir, "cam", 14, 14);
    drop(tx);
    let mut next = transmitter(port, "cam");
    // Frames 15..=19 were published while nobody transmitted.
    send_and_see(&mut next, &dir, "cam", 20, 25);
    let s = Stream::open_in(dir.path(), "cam").unwrap();
    assert_eq!(long_keyword(&s, "BR_GAPS"), Some(2 + 5));
}
