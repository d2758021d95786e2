//! The baseline pipeline: stream → plain TCP socket → stream, with the bridge's waits and copies.
//!
//! `__tcp-send` wakes and copies exactly as `pub` does ([`crate::source`]), then writes an 80-byte
//! header (`cnt0`, `cnt1`, `atime`, `writetime`, send time, pixel length) and the pixels on one
//! `TCP_NODELAY` socket. `__tcp-recv` reads them into a buffer and publishes through the same
//! [`Mirror::publish`] as `sub`, with the same mirror keywords (source `cnt0`, latency, source
//! writetime). What the bridge adds on top of this (Zenoh's framing, fragmentation, tasks, the
//! mailbox hand-off, the mirror keywords) is what the benchmark's ratios measure.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use shmim_core::{Datatype, Timespec};

use crate::error::{BridgeError, Result};
use crate::mirror::{Foreign, Layout, Limits, Mirror, Place, Stats};
use crate::source::{Next, next_frame, open_when_present, read_frame};

/// `__tcp-send`'s options.
#[derive(Debug, Clone, Args)]
pub struct TcpSendArgs {
    /// Source stream.
    #[arg(long)]
    pub name: String,
    /// Its directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// The receiver, HOST:PORT.
    #[arg(long)]
    pub connect: String,
}

/// `__tcp-recv`'s options.
#[derive(Debug, Clone, Args)]
pub struct TcpRecvArgs {
    /// Mirror stream.
    #[arg(long)]
    pub name: String,
    /// Its directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// Port to listen on (127.0.0.1).
    #[arg(long)]
    pub port: u16,
}

const HEAD: usize = 80;

/// Sends frames until the connection or the stream goes away.
pub fn tcp_send(a: &TcpSendArgs) -> Result<ExitCode> {
    let stream = open_when_present(&a.dir, &a.name);
    let mut conn = loop {
        match TcpStream::connect(&a.connect) {
            Ok(c) => break c,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    };
    conn.set_nodelay(true)
        .map_err(|e| BridgeError::io("TCP_NODELAY", e))?;
    let mut desc = [0u8; 16];
    for (i, s) in stream.shape().iter().enumerate() {
        desc[4 * i..4 * i + 4].copy_from_slice(&s.to_le_bytes());
    }
    desc[12] = stream.datatype().code();
    conn.write_all(&desc)
        .map_err(|e| BridgeError::io("send the description", e))?;
    let bytes = stream.geometry().frame_bytes();
    let mut buf = vec![0u8; HEAD + bytes];
    let mut reader = stream.reader()?;
    let mut last = None;
    loop {
        match next_frame(&stream, &mut reader)? {
            Next::Gone => break,
            Next::Idle => continue,
            Next::Frame => {}
        }
        let md = read_frame(&stream, &mut reader, &mut buf[HEAD..])?;
        if last == Some(md.cnt0) {
            continue;
        }
        last = Some(md.cnt0);
        let sent = crate::clock::now();
        for (i, v) in [
            md.cnt0,
            md.cnt1,
            md.atime.tv_sec as u64,
            md.atime.tv_nsec as u64,
            md.write_time.tv_sec as u64,
            md.write_time.tv_nsec as u64,
            sent.tv_sec as u64,
            sent.tv_nsec as u64,
            bytes as u64,
            0,
        ]
        .into_iter()
        .enumerate()
        {
            buf[8 * i..8 * i + 8].copy_from_slice(&v.to_le_bytes());
        }
        if conn.write_all(&buf).is_err() {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Receives frames into a mirror until the sender closes.
pub fn tcp_recv(a: &TcpRecvArgs) -> Result<ExitCode> {
    let listener = TcpListener::bind(("127.0.0.1", a.port))
        .map_err(|e| BridgeError::io(format!("listen on port {}", a.port), e))?;
    let (mut conn, _) = listener
        .accept()
        .map_err(|e| BridgeError::io("accept", e))?;
    conn.set_nodelay(true)
        .map_err(|e| BridgeError::io("TCP_NODELAY", e))?;
    let mut desc = [0u8; 16];
    conn.read_exact(&mut desc)
        .map_err(|e| BridgeError::io("receive the description", e))?;
    let word =
        |b: &[u8], i: usize| u64::from_le_bytes(b[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
    let shape: Vec<u32> = (0..3)
        .map(|i| u32::from_le_bytes(desc[4 * i..4 * i + 4].try_into().unwrap_or([0; 4])))
        .filter(|&s| s > 0)
        .collect();
    let datatype = Datatype::try_from(desc[12])
        .map_err(|e| BridgeError::Usage(format!("baseline description: {e}")))?;
    let layout = Layout {
        datatype,
        shape,
        imagetype: shmim_core::ImageType::MATH_DATA,
        semaphores: shmim_layout::IMAGE_NB_SEMAPHORE,
        keyword_slots: 0,
        cb_size: 0,
    };
    let place = Place {
        dir: &a.dir,
        name: &a.name,
        origin: "tcp",
        source: "baseline",
        foreign: Foreign::Refuse,
    };
    let limits = Limits {
        max_bytes: u64::MAX,
        budget: None,
    };
    let mut mirror = Mirror::open_or_create(&place, &layout, &limits)?;
    let mut head = [0u8; HEAD];
    let mut pixels = vec![0u8; mirror.frame_bytes()];
    let mut stats = Stats::default();
    loop {
        if conn.read_exact(&mut head).is_err() || conn.read_exact(&mut pixels).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        let received = crate::clock::now();
        let time = |i: usize| Timespec {
            tv_sec: word(&head, i) as i64,
            tv_nsec: word(&head, i + 1) as i64,
        };
        // The same figures `sub` writes per frame, so that both pipelines do the same work.
        stats.src_cnt0 = word(&head, 0);
        stats.src_writetime_ns = time(4).as_nanos().clamp(0, i64::MAX as i128) as i64;
        stats.latency_ns = crate::clock::nanos_between(time(6), received);
        mirror.publish(word(&head, 1), Some(time(2)), Some(&stats), |dst| {
            dst.copy_from_slice(&pixels)
        })?;
    }
}
