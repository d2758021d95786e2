//! `shmim-bridge pub NAME…`: publish local streams on Zenoh.
//!
//! Per stream, one thread: it waits for the stream to exist (start order does not matter), then
//! registers as a reader and, for every frame it wakes for, copies the frame consistently and
//! puts one frame message on the stream's key. The stream's description (shape, type, keywords)
//! is put when the stream is (re)opened and whenever a keyword changes, and answered to late
//! joiners by a queryable on the same key; a liveliness token on the key says the publisher is
//! there. A re-created source (new inode) is re-opened and described again with a new generation.
//!
//! The publisher is a reader: it never slows the stream's writer. Zenoh's reliable channel with
//! blocking congestion control may slow *it*; the frames it then misses are the subscriber's
//! gaps in source `cnt0`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use shmim_core::{Keyword, Metadata, Reader, Stream};
use zenoh::pubsub::Publisher;
use zenoh::qos::CongestionControl;
use zenoh::{Session, Wait};

use crate::error::{BridgeError, Result};
use crate::layout::Layout;
use crate::log::log;
use crate::pool::Pool;
use crate::session::NetArgs;
use crate::source::{Next, POLL, next_frame, open_when_present, read_frame};
use crate::wire::{self, FrameHeader, StreamMeta};

/// `pub`'s options.
#[derive(Debug, Clone, Args)]
pub struct PubArgs {
    /// Streams to publish.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Key prefix: stream NAME is published at PREFIX/NAME (escaped, see docs/bridge.md).
    #[arg(long, value_name = "KEY", default_value = crate::keys::DEFAULT_PREFIX)]
    pub prefix: String,
    /// Publish at most this many frames per second per stream (the newest frame wins).
    #[arg(long, value_name = "HZ")]
    pub max_rate: Option<f64>,
    /// Stream directory (default: $MILK_SHM_DIR, else /milk/shm, else /tmp).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Network options (--listen, --connect, --config).
    #[command(flatten)]
    pub net: NetArgs,
}

/// Runs `pub` until killed.
pub fn run(a: &PubArgs) -> Result<ExitCode> {
    if let Some(r) = a.max_rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(BridgeError::Usage(format!(
                "--max-rate {r}: give a positive number of frames per second"
            )));
        }
    }
    let dir = crate::source::stream_dir(a.dir.as_deref())?;
    let mut keys = Vec::new();
    for name in &a.names {
        shmim_core::validate_name(name)?;
        let key = crate::keys::stream_key(&a.prefix, name);
        zenoh::key_expr::KeyExpr::try_from(key.clone()).map_err(|e| {
            BridgeError::Usage(format!(
                "prefix {:?} makes the key {key:?} invalid: {e}",
                a.prefix
            ))
        })?;
        keys.push((name.clone(), key));
    }
    let session = a.net.open()?;
    let period = a.max_rate.map(|r| Duration::from_secs_f64(1.0 / r));
    let mut threads = Vec::new();
    for (name, key) in keys {
        let p = StreamPublisher::declare(&session, &dir, &name, &key, period)?;
        log(format_args!("publishing {name} at {key}"));
        threads.push(
            std::thread::Builder::new()
                .name(format!("pub {name}"))
                .spawn(move || p.run())
                .map_err(|e| BridgeError::io("start a publisher thread", e))?,
        );
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(ExitCode::SUCCESS)
}

/// One published stream.
struct StreamPublisher {
    dir: PathBuf,
    name: String,
    key: String,
    period: Option<Duration>,
    publisher: Publisher<'static>,
    /// The encoded description the queryable answers with (none until the stream is open).
    described: Arc<Mutex<Option<Vec<u8>>>>,
    /// Frame buffers, lent to Zenoh for each put.
    pool: Arc<Pool>,
    _queryable: zenoh::query::Queryable<()>,
    _token: zenoh::liveliness::LivelinessToken,
}

impl StreamPublisher {
    fn declare(
        session: &Session,
        dir: &Path,
        name: &str,
        key: &str,
        period: Option<Duration>,
    ) -> Result<Self> {
        let publisher = session
            .declare_publisher(key.to_owned())
            .congestion_control(CongestionControl::Block)
            // Each frame leaves at once instead of waiting to be batched with later messages:
            // a frame is a whole message, often many fragments, and latency is what matters.
            .express(true)
            .wait()
            .map_err(|e| BridgeError::zenoh(format!("declare publisher {key}"), e))?;
        let described: Arc<Mutex<Option<Vec<u8>>>> = Arc::new(Mutex::new(None));
        let d = Arc::clone(&described);
        let reply_key = key.to_owned();
        let queryable = session
            .declare_queryable(key.to_owned())
            .callback(move |query| {
                let bytes = d.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if let Some(bytes) = bytes {
                    if let Err(e) = query.reply(reply_key.clone(), bytes).wait() {
                        log(format_args!("{reply_key}: reply to a query failed: {e}"));
                    }
                }
            })
            .wait()
            .map_err(|e| BridgeError::zenoh(format!("declare queryable {key}"), e))?;
        let token = session
            .liveliness()
            .declare_token(key.to_owned())
            .wait()
            .map_err(|e| BridgeError::zenoh(format!("declare liveliness token {key}"), e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            key: key.to_owned(),
            period,
            publisher,
            described,
            pool: Arc::new(Pool::default()),
            _queryable: queryable,
            _token: token,
        })
    }

    fn run(self) {
        // The same failure again and again (e.g. no free reader slot) is said once.
        let mut last_error = String::new();
        loop {
            let stream = open_when_present(&self.dir, &self.name);
            match self.serve(&stream) {
                Ok(()) => last_error.clear(),
                Err(e) => {
                    let e = e.to_string();
                    if e != last_error {
                        log(format_args!("{}: {e}; trying again", self.name));
                        last_error = e;
                    }
                    std::thread::sleep(POLL);
                }
            }
        }
    }

    fn describe(&self, stream: &Stream, keywords: Vec<Keyword>) -> Result<StreamMeta> {
        let md = stream.metadata_snapshot();
        Ok(StreamMeta {
            generation: generation(&md),
            name: self.name.clone(),
            layout: Layout {
                datatype: stream.datatype(),
                shape: stream.shape().to_vec(),
                imagetype: md.imagetype,
                semaphores: md.semaphores,
                keyword_slots: md.keywords,
                cb_size: md.cb_size,
            },
            keywords,
        })
    }

    fn announce(&self, meta: &StreamMeta) -> Result<()> {
        let bytes = wire::encode_meta(meta);
        *self.described.lock().unwrap_or_else(|p| p.into_inner()) = Some(bytes.clone());
        self.publisher
            .put(bytes)
            .wait()
            .map_err(|e| BridgeError::zenoh(format!("put description of {}", self.key), e))
    }

    /// Publishes `stream` until it is replaced or removed (`Ok`) or fails.
    fn serve(&self, stream: &Stream) -> Result<()> {
        let mut meta = self.describe(stream, described_keywords(stream)?)?;
        self.announce(&meta)?;
        let mut reader = stream.reader()?;
        let mut last_sent: Option<Instant> = None;
        let mut last_cnt0 = None;
        if stream.cnt0() > 0 {
            last_cnt0 = self.send_frame(stream, &mut reader, &mut meta, last_cnt0)?;
            last_sent = Some(Instant::now());
        }
        loop {
            match next_frame(stream, &mut reader)? {
                Next::Gone => return Ok(()),
                Next::Idle => {
                    // Keyword changes travel even while no frame does.
                    self.announce_keywords(stream, &mut meta)?;
                    continue;
                }
                Next::Frame => {}
            }
            if let (Some(period), Some(t)) = (self.period, last_sent) {
                // Coalesce: sleep out the period, then send whatever is newest by then.
                let since = t.elapsed();
                if since < period {
                    std::thread::sleep(period - since);
                    let _ = reader.flush();
                }
            }
            last_cnt0 = self.send_frame(stream, &mut reader, &mut meta, last_cnt0)?;
            last_sent = Some(Instant::now());
        }
    }

    /// Puts a new description if a keyword changed since the last one.
    fn announce_keywords(&self, stream: &Stream, meta: &mut StreamMeta) -> Result<()> {
        let keywords = described_keywords(stream)?;
        if keywords_differ(&keywords, &meta.keywords) {
            meta.keywords = keywords;
            self.announce(meta)?;
        }
        Ok(())
    }

    /// Copies the newest frame and puts it (after a new description if a keyword changed),
    /// unless it is `last` (a post for a frame already sent); returns the frame number sent.
    fn send_frame(
        &self,
        stream: &Stream,
        reader: &mut Reader,
        meta: &mut StreamMeta,
        last: Option<u64>,
    ) -> Result<Option<u64>> {
        self.announce_keywords(stream, meta)?;
        let head = wire::frame_header_len();
        let bytes = stream.geometry().frame_bytes();
        let mut buf = self.pool.take(head + bytes);
        let md = read_frame(stream, reader, &mut buf[head..])?;
        if last == Some(md.cnt0) {
            return Ok(last);
        }
        let header = FrameHeader {
            generation: meta.generation,
            cnt0: md.cnt0,
            cnt1: md.cnt1,
            atime: md.atime,
            writetime: md.write_time,
            sent: crate::clock::now(),
        };
        let mut prefix = Vec::with_capacity(head);
        wire::encode_frame_header(&header, bytes as u64, &mut prefix);
        buf[..head].copy_from_slice(&prefix);
        self.publisher
            .put(Pool::lend(&self.pool, buf))
            .wait()
            .map_err(|e| BridgeError::zenoh(format!("put frame of {}", self.key), e))?;
        Ok(Some(md.cnt0))
    }
}

/// The stream's keywords without the bridge's own (`SHMIM_MIRROR`, `BR_*`): a subscriber never
/// writes those from the network, and in a relay (a mirror published again) the statistics
/// change with every frame, which would otherwise send a description before each one.
fn described_keywords(stream: &Stream) -> Result<Vec<Keyword>> {
    let mut keywords = stream.keywords()?;
    keywords.retain(|k| !crate::mirror::mark::is_reserved(&k.name));
    Ok(keywords)
}

/// Keyword lists equal up to their write counters.
fn keywords_differ(a: &[Keyword], b: &[Keyword]) -> bool {
    a.len() != b.len()
        || a.iter().zip(b).any(|(x, y)| {
            x.index != y.index || x.name != y.name || x.value != y.value || x.comment != y.comment
        })
}

/// One incarnation of a stream: its inode and creation time, mixed (SplitMix64 finaliser).
fn generation(md: &Metadata) -> u64 {
    let mut z = md.inode
        ^ (md.creation_time.tv_sec as u64).rotate_left(32)
        ^ (md.creation_time.tv_nsec as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
