//! Mirrors: local streams a bridge writes, marked so that it never touches one it did not create.
//!
//! A mirror has the source's shape, type, imagetype, semaphore count and circular buffer, the
//! source's keyword entries at the same indices, and [`EXTRA_KEYWORDS`] more entries after them
//! that the bridge maintains (documented in `docs/bridge.md`, visible in `shmim info`):
//!
//! | entry | name | type | meaning |
//! |---|---|---|---|
//! | n+0 | `SHMIM_MIRROR` | S | the mark: `zenoh` or `milk-tcp`; the comment names the source |
//! | n+1 | `BR_SRC_CNT0` | L | source `cnt0` of the last frame mirrored |
//! | n+2 | `BR_GAPS` | L | frames missing from the source `cnt0` sequence as received |
//! | n+3 | `BR_DROPS` | L | frames received but replaced by a newer one before being mirrored |
//! | n+4 | `BR_LAT_NS` | L | transport latency of the last frame: received − sent, ns |
//! | n+5 | `BR_SRC_WT_NS` | L | source `writetime` of the last frame, ns since the epoch (TAI) |
//! | n+6 | `BR_MALFORMED` | L | messages for this stream dropped as malformed |
//!
//! The mark is what "created by a bridge" means: a stream at the mirror's path without it is
//! never replaced or written by `sub`.

use std::path::{Path, PathBuf};

use shmim_core::{Keyword, Stream, StreamSpec, Timespec, Value};

use crate::error::{BridgeError, Result};
pub use crate::layout::Layout;

/// Keyword entries a mirror has beyond its source's.
pub const EXTRA_KEYWORDS: u16 = 7;
/// The name of the mark keyword.
pub const MARK: &str = "SHMIM_MIRROR";
const STATS: [(&str, &str); 6] = [
    ("BR_SRC_CNT0", "source cnt0 of the last frame"),
    ("BR_GAPS", "source frames never received"),
    ("BR_DROPS", "frames replaced by newer ones"),
    ("BR_LAT_NS", "transport latency, ns"),
    ("BR_SRC_WT_NS", "source writetime, ns (TAI)"),
    ("BR_MALFORMED", "malformed messages dropped"),
];

/// The figures a mirror publishes in its bridge keywords.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Source `cnt0` of the last frame mirrored.
    pub src_cnt0: u64,
    /// Source frames never received.
    pub gaps: u64,
    /// Frames replaced by a newer one before being mirrored.
    pub drops: u64,
    /// Transport latency of the last frame (ns).
    pub latency_ns: i64,
    /// Source writetime of the last frame (ns since the epoch).
    pub src_writetime_ns: i64,
    /// Malformed messages dropped.
    pub malformed: u64,
}

/// How a bridge may use a stream that already exists at the mirror's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// Never touch it (Zenoh `sub`).
    Refuse,
    /// Write frames into it when its layout fits (milk's receiver works on a stream created by
    /// hand), but never replace it.
    WriteIfCompatible,
}

/// A local stream this bridge writes.
pub struct Mirror {
    stream: Stream,
    layout: Layout,
    /// Index of the mark keyword, or `None` in a foreign stream (no bridge keywords then).
    mark_at: Option<u16>,
    last_stats: Option<Stats>,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("stream", &self.stream.name())
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

fn path_of(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{}", shmim_layout::FILE_SUFFIX))
}

/// Whether `stream` carries the bridge mark (in the entry after `source_slots`, or anywhere).
fn mark_index(stream: &Stream) -> Option<u16> {
    stream
        .keywords()
        .ok()?
        .into_iter()
        .find(|k| k.name == MARK)
        .map(|k| k.index)
}

/// Whether `stream` can take frames of `layout`: type, shape and enough keyword entries, and,
/// for one of our own mirrors (`exact`), the same imagetype, semaphores and circular buffer.
fn fits(stream: &Stream, layout: &Layout, kw_needed: u16, exact: bool) -> bool {
    let md = stream.metadata_snapshot();
    let basic = stream.datatype() == layout.datatype
        && stream.shape() == layout.shape.as_slice()
        && md.keywords >= kw_needed;
    basic
        && (!exact
            || (md.imagetype == layout.imagetype
                && md.semaphores == layout.semaphores
                && md.cb_size == layout.cb_size
                && md.keywords == kw_needed))
}

impl Mirror {
    /// Opens the mirror `name` in `dir` if it exists, is ours (or `foreign` allows writing into
    /// it) and fits `layout`; creates it (replacing our own older mirror) otherwise.
    /// `origin` is `zenoh` or `milk-tcp`, `source` a description for the mark's comment.
    pub fn open_or_create(
        dir: &Path,
        name: &str,
        layout: &Layout,
        origin: &str,
        source: &str,
        foreign: Foreign,
    ) -> Result<Self> {
        let path = path_of(dir, name);
        let ours_slots = layout.keyword_slots.saturating_add(EXTRA_KEYWORDS);
        if std::fs::symlink_metadata(&path).is_ok() {
            let existing = Stream::open_in(dir, name)
                .map_err(|_| BridgeError::NotOurs { path: path.clone() })?;
            match mark_index(&existing) {
                Some(at)
                    if at == layout.keyword_slots && fits(&existing, layout, ours_slots, true) =>
                {
                    return Ok(Self::wrap(existing, layout, Some(at)));
                }
                Some(_) => {} // ours, another layout: re-create below
                None if foreign == Foreign::WriteIfCompatible
                    && fits(&existing, layout, layout.keyword_slots, false) =>
                {
                    return Ok(Self::wrap(existing, layout, None));
                }
                None => return Err(BridgeError::NotOurs { path }),
            }
        }
        if layout.keyword_slots > u16::MAX - EXTRA_KEYWORDS {
            return Err(BridgeError::Usage(format!(
                "{name}: {} keyword entries leave no room for the bridge's {EXTRA_KEYWORDS}",
                layout.keyword_slots
            )));
        }
        let spec = StreamSpec::new(&layout.shape, layout.datatype)
            .keywords(ours_slots)
            .semaphores(layout.semaphores)
            .imagetype(layout.imagetype)
            .circular_buffer(layout.cb_size)
            .dir(dir);
        let stream = Stream::create(name, &spec)?;
        let mut comment = format!("{origin} mirror of {source}");
        while comment.len() > shmim_layout::KEYWORD_MAX_COMMENT - 1 {
            comment.pop();
        }
        stream.set_keyword_at(
            layout.keyword_slots,
            MARK,
            Value::Str(origin.into()),
            &comment,
        )?;
        Ok(Self::wrap(stream, layout, Some(layout.keyword_slots)))
    }

    fn wrap(stream: Stream, layout: &Layout, mark_at: Option<u16>) -> Self {
        Self {
            stream,
            layout: layout.clone(),
            mark_at,
            last_stats: None,
        }
    }

    /// The layout this mirror was made for.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The local stream.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// Whether the mirror carries the bridge mark (and so the bridge keywords).
    pub fn is_marked(&self) -> bool {
        self.mark_at.is_some()
    }

    /// Makes the source's keyword entries (`0..keyword_slots`) equal to `keywords`; entries
    /// absent from the list become unused. Only entries that differ are written.
    pub fn set_source_keywords(&self, keywords: &[Keyword]) -> Result<()> {
        for i in 0..self.layout.keyword_slots {
            let want = keywords.iter().find(|k| k.index == i);
            let have = self.stream.keyword_at(i)?;
            let same = match want {
                Some(w) => {
                    w.name == have.name && w.value == have.value && w.comment == have.comment
                }
                None => have.value == Value::Empty,
            };
            if same {
                continue;
            }
            match want {
                Some(w) => self
                    .stream
                    .set_keyword_at(i, &w.name, w.value.clone(), &w.comment)?,
                None => self.stream.set_keyword_at(i, "", Value::Empty, "")?,
            }
        }
        Ok(())
    }

    /// Writes the bridge keywords that changed.
    fn set_stats(&mut self, stats: &Stats) -> Result<()> {
        let Some(mark) = self.mark_at else {
            return Ok(());
        };
        let values = [
            stats.src_cnt0 as i64,
            stats.gaps as i64,
            stats.drops as i64,
            stats.latency_ns,
            stats.src_writetime_ns,
            stats.malformed as i64,
        ];
        let old = self.last_stats.map(|s| {
            [
                s.src_cnt0 as i64,
                s.gaps as i64,
                s.drops as i64,
                s.latency_ns,
                s.src_writetime_ns,
                s.malformed as i64,
            ]
        });
        for (i, ((name, comment), v)) in STATS.iter().zip(values).enumerate() {
            if old.is_some_and(|o| o[i] == v) {
                continue;
            }
            self.stream
                .set_keyword_at(mark + 1 + i as u16, name, Value::Long(v), comment)?;
        }
        self.last_stats = Some(*stats);
        Ok(())
    }

    /// Publishes one frame through the normal commit: the bridge keywords first (`stats`, so a
    /// reader woken by this frame sees its figures), then `fill` writes the pixel bytes (it must
    /// not fail: everything is checked before), then `cnt1` and the source's `atime` are set.
    pub fn publish(
        &mut self,
        cnt1: u64,
        atime: Option<Timespec>,
        stats: Option<&Stats>,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<u64> {
        if self.stream.is_writing() {
            // A bridge killed mid-frame left the flag set. Only the mirror's bridge writes it, so
            // a flag whose holder is dead is taken over: the recovery guard is dropped without a
            // commit (an abandon this handle now owns), and the write below resumes it and
            // publishes a whole frame. A live holder is left alone: busy, and no figures move.
            drop(self.stream.recover_writer(false)?);
        }
        if let Some(stats) = stats {
            self.set_stats(stats)?;
        }
        let mut guard = self.stream.write()?;
        fill(guard.bytes_mut());
        guard.set_cnt1(cnt1);
        if let Some(t) = atime {
            guard.set_atime(t);
        }
        Ok(guard.commit()?)
    }

    /// The figures an earlier bridge process left in this mirror's keywords (a restarted
    /// subscriber continues its counts from them).
    pub fn recorded_stats(&self) -> Option<Stats> {
        let mark = self.mark_at?;
        let get = |i: u16| match self.stream.keyword_at(mark + 1 + i).ok()?.value {
            Value::Long(v) => Some(v),
            _ => None,
        };
        Some(Stats {
            src_cnt0: get(0)? as u64,
            gaps: get(1)? as u64,
            drops: get(2)? as u64,
            latency_ns: get(3)?,
            src_writetime_ns: get(4)?,
            malformed: get(5)? as u64,
        })
    }

    /// Frame bytes of the mirror.
    pub fn frame_bytes(&self) -> usize {
        self.stream.geometry().frame_bytes()
    }
}
