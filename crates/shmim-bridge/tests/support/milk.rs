//! milk's TCP stream protocol, as the tests' own counterpart speaks it (from the protocol's
//! description in docs/bridge.md, not from the bridge's code).

use std::io::Write;
use std::net::TcpStream;

use super::{Bridge, TempDir, wait_until};

/// The record trailer's magic word of current milk.
pub const MAGIC: u64 = 0x12341234ff;

/// The transmitter's first message: a default-build IMAGE_METADATA (384 bytes).
pub fn header(name: &str, size: &[u32], datatype: u8, nbkw: u16, len: usize) -> Vec<u8> {
    let mut h = vec![0u8; len];
    h[..4].copy_from_slice(b"2.00");
    h[32..32 + name.len()].copy_from_slice(name.as_bytes());
    h[112] = size.len() as u8;
    for (i, s) in size.iter().enumerate() {
        h[116 + 4 * i..120 + 4 * i].copy_from_slice(&s.to_le_bytes());
    }
    h[136] = datatype;
    h[224] = 1;
    h[290..292].copy_from_slice(&nbkw.to_le_bytes());
    h
}

/// A raw IMAGE_KEYWORD holding an integer.
pub fn long_kw(name: &str, v: i64) -> [u8; 128] {
    let mut k = [0u8; 128];
    k[..name.len()].copy_from_slice(name.as_bytes());
    k[16] = b'L';
    k[24..32].copy_from_slice(&v.to_le_bytes());
    k
}

/// `milk-recv --port PORT --dir DIR EXTRA…`.
pub fn milk_recv(port: u16, dir: &TempDir, extra: &[&str]) -> Bridge {
    let port = port.to_string();
    let mut args = vec![
        "milk-recv",
        "--port",
        &port,
        "--dir",
        dir.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Bridge::start(&args)
}

/// A connection to the receiver on `port`, once it listens.
pub fn connect(port: u16) -> TcpStream {
    let mut c = None;
    wait_until("the receiver listening", || {
        c = TcpStream::connect(("127.0.0.1", port)).ok();
        c.is_some()
    });
    c.unwrap()
}
/// Sends a default-build header of a stream without keywords.
pub fn send_header(tx: &mut TcpStream, name: &str, size: &[u32], datatype: u8) {
    tx.write_all(&header(name, size, datatype, 0, 384)).unwrap();
}

/// Sends one record: `pixels`, the trailer `{MAGIC, cnt0, slice 0}` and `nbkw` empty keywords.
pub fn send_record(
    tx: &mut TcpStream,
    pixels: &[u8],
    cnt0: u64,
    nbkw: usize,
) -> std::io::Result<()> {
    tx.write_all(pixels)?;
    for word in [MAGIC, cnt0, 0] {
        tx.write_all(&word.to_le_bytes())?;
    }
    tx.write_all(&vec![0u8; 128 * nbkw])
}
