//! One transmitter's records, written into the local stream.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;

use shmim_core::{ImageType, Keyword};

use super::header::RemoteImage;
use super::record::{self, KEYWORD_LEN};
use super::recv::Shared;
use crate::error::{BridgeError, Result};
use crate::log::log;
use crate::mirror::{Foreign, Layout, Limits, Mirror, Place, Stats};

/// A transmitter whose header was valid.
pub struct Connection<'a> {
    shared: &'a Shared,
    peer: String,
    /// Records written so far.
    pub frames: u64,
}

/// Fills `buf`; `Ok(false)` on a clean end of stream before the first byte.
pub fn read_record(conn: &mut TcpStream, buf: &mut [u8]) -> Result<bool> {
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

impl<'a> Connection<'a> {
    /// A connection from `peer`.
    pub fn new(shared: &'a Shared, peer: String) -> Self {
        Self {
            shared,
            peer,
            frames: 0,
        }
    }

    /// Writes every record of the connection into the stream `img` describes, until the peer
    /// closes (`Ok`) or sends something wrong.
    pub fn serve(&mut self, mut conn: TcpStream, img: &RemoteImage) -> Result<()> {
        let mut mirror = self.mirror(img)?;
        let slice_bytes = img.slice_bytes();
        let trailer = self.shared.args.milk.trailer;
        let mut buf = vec![0u8; record::record_len(img, trailer)];
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
                let reserved = mirror.set_source_keywords(&now)?;
                if reserved > 0 && keywords.is_empty() {
                    log(format_args!(
                        "milk-recv: {}: {reserved} keywords with the bridge's reserved names \
                         (SHMIM_MIRROR, BR_*) not copied",
                        self.peer
                    ));
                }
                keywords = now;
            }
            if let Some(prev) = last_cnt0.filter(|&p| cnt0 > p) {
                stats.gaps = stats.gaps.saturating_add(cnt0 - prev - 1);
            }
            last_cnt0 = Some(cnt0);
            stats.src_cnt0 = cnt0;
            let at = slice as usize * slice_bytes;
            let pixels = &buf[..slice_bytes];
            mirror.publish(slice, None, Some(&stats), |dst| {
                dst[at..at + slice_bytes].copy_from_slice(pixels)
            })?;
            self.frames += 1;
            self.shared.received();
            if self.shared.finished() {
                return Ok(());
            }
        }
        Ok(())
    }

    fn mirror(&self, img: &RemoteImage) -> Result<Mirror> {
        let name = self
            .shared
            .args
            .as_name
            .clone()
            .unwrap_or_else(|| img.name.clone());
        let layout = Layout {
            datatype: img.datatype,
            shape: img.shape.clone(),
            imagetype: ImageType::MATH_DATA,
            semaphores: shmim_layout::IMAGE_NB_SEMAPHORE,
            keyword_slots: img.nb_kw,
            cb_size: 0,
        };
        let place = Place {
            dir: &self.shared.dir,
            name: &name,
            origin: "milk-tcp",
            source: &self.shared.source,
            foreign: Foreign::WriteIfCompatible,
        };
        let limits = Limits {
            max_bytes: self.shared.args.max_bytes,
            budget: None,
        };
        let m = Mirror::open_or_create(&place, &layout, &limits)?;
        log(format_args!(
            "milk-recv: receiving {} {:?} {} into {name}",
            img.name,
            img.shape,
            img.datatype.name()
        ));
        Ok(m)
    }
}
