//! `shmim-bridge milk-recv --port P [--as NAME]`: accept milk's TCP transmitter.
//!
//! Listens, accepts one transmitter at a time, and writes each record into the local stream
//! through the normal commit. The stream is the one named in the transmitter's header (or
//! `--as`): an existing stream of the right type and shape is written into (milk users create it
//! by hand), one this bridge created is re-created when the shape changes, and any other stream is
//! left alone (the connection is refused with a log line). When a connection ends, the next one
//! is accepted.

use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use shmim_core::{ImageType, Keyword};

use super::MilkArgs;
use super::header::{self, RemoteImage};
use super::record::{self, KEYWORD_LEN};
use crate::error::{BridgeError, Result};
use crate::log::log;
use crate::mirror::{Foreign, Layout, Mirror, Stats};

/// `milk-recv`'s options.
#[derive(Debug, Clone, Args)]
pub struct RecvArgs {
    /// TCP port to listen on.
    #[arg(long)]
    pub port: u16,
    /// Address to listen on (milk listens on every interface: pass 0.0.0.0 for that).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: String,
    /// Local stream name (default: the name in the transmitter's header).
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    /// Directory, header and trailer options.
    #[command(flatten)]
    pub milk: MilkArgs,
    /// Refuse streams whose frames are larger than this many bytes.
    #[arg(long, value_name = "N", default_value_t = 1 << 30)]
    pub max_bytes: u64,
    /// Exit after this many frames (all connections together).
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

/// Runs `milk-recv`.
pub fn run(a: &RecvArgs) -> Result<ExitCode> {
    if let Some(n) = &a.as_name {
        shmim_core::validate_name(n)?;
    }
    let dir = crate::source::dir_or_default(a.milk.dir.as_deref());
    let listener = TcpListener::bind((a.bind.as_str(), a.port))
        .map_err(|e| BridgeError::io(format!("listen on {}:{}", a.bind, a.port), e))?;
    log(format_args!(
        "milk-recv: listening on {}:{}",
        a.bind, a.port
    ));
    let mut total = 0u64;
    loop {
        let (conn, peer) = listener
            .accept()
            .map_err(|e| BridgeError::io("accept a transmitter", e))?;
        let _ = conn.set_nodelay(true);
        log(format_args!("milk-recv: transmitter {peer} connected"));
        let mut session = Connection {
            args: a,
            dir: dir.clone(),
            peer: peer.to_string(),
            frames: 0,
        };
        match session.serve(conn, &mut total) {
            Ok(()) => log(format_args!(
                "milk-recv: transmitter {peer} closed the connection after {} frames",
                session.frames
            )),
            Err(e) => log(format_args!(
                "milk-recv: {peer}: {e}; waiting for the next transmitter"
            )),
        }
        if a.count.is_some_and(|n| total >= n) {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

struct Connection<'a> {
    args: &'a RecvArgs,
    dir: PathBuf,
    peer: String,
    frames: u64,
}

/// Fills `buf`; `Ok(false)` on a clean end of stream before the first byte.
fn read_record(conn: &mut TcpStream, buf: &mut [u8]) -> Result<bool> {
    let mut at = 0;
    while at < buf.len() {
        match conn.read(&mut buf[at..]) {
            Ok(0) if at == 0 => return Ok(false),
            Ok(0) => {
                return Err(BridgeError::Milk(format!(
                    "connection closed after {at} of {} bytes of a record",
                    buf.len()
                )));
            }
            Ok(n) => at += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(BridgeError::io("receive", e)),
        }
    }
    Ok(true)
}

impl Connection<'_> {
    fn serve(&mut self, mut conn: TcpStream, total: &mut u64) -> Result<()> {
        let mut raw = vec![0u8; self.args.milk.header.bytes()];
        if !read_record(&mut conn, &mut raw)? {
            return Ok(());
        }
        let img = header::parse(&raw)?;
        let mut mirror = self.mirror(&img)?;
        let slice_bytes = img.slice_bytes();
        let trailer = self.args.milk.trailer;
        let mut buf = vec![0u8; record::record_len(&img, trailer)];
        let mut keywords: Vec<Keyword> = Vec::new();
        let mut stats = Stats::default();
        let mut last_cnt0: Option<u64> = None;
        while read_record(&mut conn, &mut buf)? {
            let (cnt0, slice) = trailer.parse(&buf[slice_bytes..slice_bytes + trailer.bytes()])?;
            if slice >= img.slices() {
                return Err(BridgeError::Milk(format!(
                    "record for slice {slice} of a {}-slice stream",
                    img.slices()
                )));
            }
            let kw_raw = &buf[slice_bytes + trailer.bytes()..];
            let now: Vec<Keyword> = (0..img.nb_kw)
                .filter_map(|i| {
                    let at = usize::from(i) * KEYWORD_LEN;
                    record::parse_keyword(i, &kw_raw[at..at + KEYWORD_LEN])
                })
                .collect();
            if now != keywords {
                mirror.set_source_keywords(&now)?;
                keywords = now;
            }
            if let Some(prev) = last_cnt0 {
                if cnt0 > prev.saturating_add(1) {
                    stats.gaps += cnt0 - prev - 1;
                }
            }
            last_cnt0 = Some(cnt0);
            stats.src_cnt0 = cnt0;
            let at = slice as usize * slice_bytes;
            let pixels = &buf[..slice_bytes];
            mirror.publish(slice, None, Some(&stats), |dst| {
                dst[at..at + slice_bytes].copy_from_slice(pixels)
            })?;
            self.frames += 1;
            *total += 1;
            if self.args.count.is_some_and(|n| *total >= n) {
                return Ok(());
            }
        }
        Ok(())
    }

    fn mirror(&self, img: &RemoteImage) -> Result<Mirror> {
        let name = self
            .args
            .as_name
            .clone()
            .unwrap_or_else(|| img.name.clone());
        let frame = img.slice_bytes() as u64 * img.slices();
        if frame > self.args.max_bytes {
            return Err(BridgeError::Milk(format!(
                "{name}: frames of {frame} bytes exceed --max-bytes {}",
                self.args.max_bytes
            )));
        }
        let layout = Layout {
            datatype: img.datatype,
            shape: img.shape.clone(),
            imagetype: ImageType::MATH_DATA,
            semaphores: shmim_layout::IMAGE_NB_SEMAPHORE,
            keyword_slots: img.nb_kw,
            cb_size: 0,
        };
        let m = Mirror::open_or_create(
            &self.dir,
            &name,
            &layout,
            "milk-tcp",
            &self.peer,
            Foreign::WriteIfCompatible,
        )?;
        log(format_args!(
            "milk-recv: receiving {} {:?} {} into {name}",
            img.name,
            img.shape,
            img.datatype.name()
        ));
        Ok(m)
    }
}
