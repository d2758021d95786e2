//! One transmitter's records, written into the local stream.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;

use shmim_core::{ImageType, Keyword};

use super::header::RemoteImage;
use super::record::{self, KEYWORD_LEN};
use super::recv::Shared;
use crate::error::{BridgeError, Result};
use crate::log::log;
use crate::mirror::{Foreign, Layout, Limits, Mirror, Place};
use crate::sub::account::{Account, Order};

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
        // The same accounting as `sub`'s, continued from what the stream records.
        let mut account = Account::default();
        account.resume(mirror.recorded_stats());
        let mut malformed = 0;
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
            if let Order::Backwards { after } = account.take(0, cnt0, 0) {
                malformed += 1;
                if malformed <= 10 || malformed % 1000 == 0 {
                    log(format_args!(
                        "milk-recv: {}: record of frame {cnt0} after frame {after} (#{malformed}; \
                     counted as malformed, the gaps counted above it taken back)",
                        self.peer
                    ));
                }
            }
            let mut stats = account.stats(malformed);
            stats.src_cnt0 = cnt0;
            let at = slice as usize * slice_bytes;
            let pixels = &buf[..slice_bytes];
            mirror.publish(slice, None, Some(&stats), |dst| {
                dst[at..at + slice_bytes].copy_from_slice(pixels)
            })?;
            account.mirrored(cnt0, 0, 0);
            self.frames += 1;
            self.shared.received();
            if self.shared.finished() {
                return Ok(());
            }
        }
        Ok(())
    }

    fn mirror(&self, img: &RemoteImage) -> Result<Mirror> {
        let d = Destination::of(self.shared, img);
        let limits = Limits {
            max_bytes: self.shared.args.max_bytes,
            // Counted by name when the header came (`Shared::reserve`): the stream stays after
            // the connection ends.
            budget: None,
        };
        let m = Mirror::open_or_create(&d.place(self.shared), &d.layout, &limits)?;
        log(format_args!(
            "milk-recv: receiving {} {:?} {} into {}",
            img.name,
            img.shape,
            img.datatype.name(),
            d.name
        ));
        Ok(m)
    }
}

/// The local stream a transmitter's header asks for.
pub struct Destination {
    /// Its name (`--as`, else the header's).
    pub name: String,
    /// Its layout.
    pub layout: Layout,
}

impl Destination {
    /// The stream for `img`'s records.
    pub fn of(shared: &Shared, img: &RemoteImage) -> Self {
        Self {
            name: shared
                .args
                .as_name
                .clone()
                .unwrap_or_else(|| img.name.clone()),
            layout: Layout {
                datatype: img.datatype,
                shape: img.shape.clone(),
                imagetype: ImageType::MATH_DATA,
                semaphores: shmim_layout::IMAGE_NB_SEMAPHORE,
                keyword_slots: img.nb_kw,
                cb_size: 0,
            },
        }
    }

    /// Where it goes.
    pub fn place<'a>(&'a self, shared: &'a Shared) -> Place<'a> {
        Place {
            dir: &shared.dir,
            name: &self.name,
            origin: "milk-tcp",
            source: &shared.source,
            foreign: Foreign::WriteIfCompatible,
        }
    }

    /// Refuses it as [`Mirror::open_or_create`] would (size, the stream at its path), touching
    /// nothing; returns its file's bytes.
    pub fn check(&self, shared: &Shared) -> Result<u64> {
        let limits = Limits {
            max_bytes: shared.args.max_bytes,
            budget: None,
        };
        Mirror::check(&self.place(shared), &self.layout, &limits)
    }
}
