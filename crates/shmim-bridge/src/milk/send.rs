//! `shmim-bridge milk-send NAME HOST:PORT`: feed milk's TCP receiver.
//!
//! Waits for the stream and for the receiver (start order does not matter), sends the header,
//! then one record per frame it wakes for. When the connection fails it reconnects and sends the
//! header again; when the stream is re-created it re-opens it and starts a new connection (the
//! receiver re-reads the header, which may describe a new shape).

use std::io::Write;
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use shmim_core::Stream;

use super::MilkArgs;
use super::header;
use super::record;
use crate::error::{BridgeError, Result};
use crate::log::log;
use crate::source::{Next, next_frame, open_when_present, read_frame};

/// `milk-send`'s options.
#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Local stream to send.
    pub name: String,
    /// The milk receiver, HOST:PORT.
    pub target: String,
    /// Directory, header and trailer options.
    #[command(flatten)]
    pub milk: MilkArgs,
    /// Exit after sending this many frames.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

/// Why a connection ended.
enum End {
    /// The stream was re-created: re-open it.
    StreamGone,
    /// The receiver went away: reconnect.
    Disconnected,
    /// `--count` frames were sent.
    Done,
}

/// Runs `milk-send`.
pub fn run(a: &SendArgs) -> Result<ExitCode> {
    shmim_core::validate_name(&a.name)?;
    let dir = crate::source::stream_dir(a.milk.dir.as_deref())?;
    let mut sent = 0u64;
    loop {
        let stream = open_when_present(&dir, &a.name);
        let md = stream.metadata()?;
        if md.shape.len() < 2 {
            return Err(BridgeError::Milk(format!(
                "{}: milk's TCP records carry size[0] x size[1] pixels; a 1-D stream would send none",
                a.name
            )));
        }
        if md.datatype.is_none_or(|d| d.is_complex()) {
            return Err(BridgeError::Milk(format!(
                "{}: milk's transmitter does not send complex (or unknown) pixel types",
                a.name
            )));
        }
        loop {
            let conn = connect(&a.target);
            match serve(&stream, conn, a, &mut sent) {
                Ok(End::Done) => return Ok(ExitCode::SUCCESS),
                Ok(End::StreamGone) => break,
                Ok(End::Disconnected) => {
                    log(format_args!(
                        "milk-send: {} went away; reconnecting",
                        a.target
                    ));
                }
                Err(e) => {
                    log(format_args!("milk-send: {e}; starting again"));
                    std::thread::sleep(Duration::from_millis(200));
                    break;
                }
            }
        }
    }
}

/// Connects, retrying until the receiver answers.
fn connect(target: &str) -> TcpStream {
    let mut said = false;
    loop {
        match TcpStream::connect(target) {
            Ok(c) => {
                let _ = c.set_nodelay(true);
                log(format_args!("milk-send: connected to {target}"));
                return c;
            }
            Err(e) => {
                if !said {
                    log(format_args!(
                        "milk-send: waiting for the receiver at {target} ({e})"
                    ));
                    said = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn serve(stream: &Stream, mut conn: TcpStream, a: &SendArgs, sent: &mut u64) -> Result<End> {
    let md = stream.metadata()?;
    if conn.write_all(&header::build(&md, a.milk.header)).is_err() {
        return Ok(End::Disconnected);
    }
    let shape = stream.shape().to_vec();
    let slices = shape.get(2).map_or(1, |&z| u64::from(z.max(1)));
    let slice_bytes = stream.datatype().size() * shape[0] as usize * shape[1] as usize;
    let nb_kw = stream.geometry().nb_kw;
    let mut reader = stream.reader()?;
    let mut frame = vec![0u8; stream.geometry().frame_bytes()];
    let mut rec =
        Vec::with_capacity(slice_bytes + a.milk.trailer.bytes() + usize::from(nb_kw) * 128);
    let mut previous = 0u64;
    let mut first = stream.cnt0() > 0;
    let mut last_cnt0 = None;
    loop {
        if !first {
            match next_frame(stream, &mut reader)? {
                Next::Gone => return Ok(End::StreamGone),
                Next::Idle => continue,
                Next::Frame => {}
            }
        }
        first = false;
        let md = read_frame(stream, &mut reader, &mut frame)?;
        if last_cnt0 == Some(md.cnt0) {
            // Woken by a post for a frame already sent (posts saturate and pile up).
            continue;
        }
        last_cnt0 = Some(md.cnt0);
        let slice = record::next_slice(md.cnt1, previous, slices);
        previous = slice;
        let at = slice as usize * slice_bytes;
        rec.clear();
        rec.extend_from_slice(&frame[at..at + slice_bytes]);
        rec.extend_from_slice(&a.milk.trailer.encode(md.cnt0, slice));
        for i in 0..nb_kw {
            rec.extend_from_slice(&record::raw_keyword(stream.keyword_at(i).ok().as_ref()));
        }
        if conn.write_all(&rec).is_err() {
            return Ok(End::Disconnected);
        }
        *sent += 1;
        if a.count.is_some_and(|n| *sent >= n) {
            return Ok(End::Done);
        }
    }
}
