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
//! | n+2 | `BR_GAPS` | L | source frames never received |
//! | n+3 | `BR_DROPS` | L | source frames received but not mirrored |
//! | n+4 | `BR_LAT_NS` | L | transport latency of the last frame: received − sent, ns |
//! | n+5 | `BR_SRC_WT_NS` | L | source `writetime` of the last frame, ns since the epoch (TAI) |
//! | n+6 | `BR_MALFORMED` | L | messages for this stream dropped as malformed |
//!
//! Who may write a mirror: the bridge mirroring the source its mark names ([`mark`]), one process
//! at a time ([`lock`]), within `--max-bytes` and the subscriber's total ([`budget`]).

pub mod budget;
pub mod lock;
pub mod mark;
pub mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use shmim_core::{Keyword, Stream, StreamSpec, Timespec, Value};

use crate::error::{BridgeError, Result};
pub use crate::layout::Layout;
use budget::{Budget, Reservation};
use lock::MirrorLock;
pub use mark::{MARK, Owner};
pub use stats::Stats;

/// Keyword entries a mirror has beyond its source's.
pub const EXTRA_KEYWORDS: u16 = 7;

/// How a bridge may use a stream that already exists at the mirror's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Foreign {
    /// Never touch it (Zenoh `sub`).
    Refuse,
    /// Write frames into it when its layout fits (milk's receiver works on a stream created by
    /// hand), but never replace it.
    WriteIfCompatible,
}

/// Where a mirror goes and whose it is.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// Stream directory.
    pub dir: &'a Path,
    /// Local stream name.
    pub name: &'a str,
    /// The transport: `zenoh`, `milk-tcp` or `tcp` (the mark's value).
    pub origin: &'static str,
    /// The source: a key, a listening address (the mark's comment).
    pub source: &'a str,
    /// What to do with a stream there that is not a mirror.
    pub foreign: Foreign,
}

/// How large a mirror may be.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest mirror file (`--max-bytes`).
    pub max_bytes: u64,
    /// What all mirrors together may take (`--max-total-bytes`), if bounded.
    pub budget: Option<Arc<Budget>>,
}

/// A local stream this bridge writes.
pub struct Mirror {
    stream: Stream,
    layout: Layout,
    /// Index of the mark keyword, or `None` in a foreign stream (no bridge keywords then).
    mark_at: Option<u16>,
    last_stats: Option<Stats>,
    _lock: MirrorLock,
    _reservation: Option<Reservation>,
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

/// The mirror file's keyword entries and bytes for `layout`, or why it may not be made.
fn sized(place: &Place<'_>, layout: &Layout, limits: &Limits) -> Result<(u16, u64)> {
    let slots = layout
        .keyword_slots
        .checked_add(EXTRA_KEYWORDS)
        .ok_or_else(|| {
            BridgeError::Usage(format!(
                "{}: {} keyword entries leave no room for the bridge's {EXTRA_KEYWORDS}",
                place.name, layout.keyword_slots
            ))
        })?;
    let bytes = layout.file_bytes(slots).unwrap_or(u64::MAX);
    if bytes > limits.max_bytes {
        return Err(BridgeError::TooLarge {
            name: place.name.to_owned(),
            bytes,
            max: limits.max_bytes,
        });
    }
    Ok((slots, bytes))
}

/// A stream at a mirror's path that this bridge may use.
enum AtPath {
    /// Nothing there.
    Nothing,
    /// Our mirror (of whatever layout).
    Ours(Stream),
    /// A stream made by hand that takes frames of the layout (`Foreign::WriteIfCompatible`).
    Compatible(Stream),
}

/// What is at the mirror's path, or why it is not ours to use.
fn at_path(place: &Place<'_>, layout: &Layout) -> Result<AtPath> {
    let path = path_of(place.dir, place.name);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(AtPath::Nothing);
    }
    let not_ours = || BridgeError::NotOurs { path: path.clone() };
    let existing = Stream::open_in(place.dir, place.name).map_err(|_| not_ours())?;
    match mark::owner(&existing, place.origin, place.source) {
        Owner::Ours => Ok(AtPath::Ours(existing)),
        Owner::Other(comment) => Err(BridgeError::OtherSource { path, comment }),
        Owner::Unmarked
            if place.foreign == Foreign::WriteIfCompatible
                && fits(&existing, layout, layout.keyword_slots, false) =>
        {
            Ok(AtPath::Compatible(existing))
        }
        Owner::Unmarked => Err(not_ours()),
    }
}

/// What is at a mirror's path.
enum Found {
    /// Nothing: create the mirror.
    Nothing,
    /// Our mirror, of another layout, locked: replace it.
    Outdated(MirrorLock),
    /// Usable as it is.
    Usable(Box<Mirror>),
}

impl Mirror {
    /// Opens the mirror at `place` if it exists, is ours (or `place.foreign` allows writing into
    /// it) and fits `layout`; creates it (replacing our own mirror of another layout) otherwise.
    /// Refuses a stream that is not ours, one another bridge is writing, and a file larger than
    /// `limits` allow.
    pub fn open_or_create(place: &Place<'_>, layout: &Layout, limits: &Limits) -> Result<Self> {
        let (slots, bytes) = sized(place, layout, limits)?;
        // Twice at most: a stream that appears between the look and a create that may not
        // replace it is looked at again.
        let reserve = || match &limits.budget {
            Some(b) => b.reserve(place.name, bytes).map(Some),
            None => Ok(None),
        };
        for _ in 0..2 {
            let old_lock = match Self::look(place, layout, slots)? {
                // A stream made by hand (milk-recv) is not the network's doing: not counted.
                Found::Usable(m) if !m.is_marked() => return Ok(*m),
                Found::Usable(m) => return Ok(m.with_reservation(reserve()?)),
                Found::Nothing => None,
                Found::Outdated(lock) => Some(lock),
            };
            let reservation = reserve()?;
            match Self::create(place, layout, slots, old_lock.is_some()) {
                Ok((stream, lock)) => {
                    return Ok(Self::wrap(stream, layout, Some(layout.keyword_slots), lock)
                        .with_reservation(reservation));
                }
                Err(BridgeError::Stream(shmim_core::Error::Occupied { .. })) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(BridgeError::Busy {
            path: path_of(place.dir, place.name),
        })
    }

    /// Refuses what [`Self::open_or_create`] would refuse for the file's size or the stream
    /// at its path, touching nothing (no lock taken, nothing created); returns the file's bytes.
    /// Another bridge writing the mirror is not looked at: the caller may be about to end the
    /// connection that writes it (`milk-recv` checks a new transmitter's stream before it
    /// shuts the current one down).
    pub fn check(place: &Place<'_>, layout: &Layout, limits: &Limits) -> Result<u64> {
        let (_, bytes) = sized(place, layout, limits)?;
        at_path(place, layout)?;
        Ok(bytes)
    }

    /// Looks at what is at the mirror's path.
    fn look(place: &Place<'_>, layout: &Layout, slots: u16) -> Result<Found> {
        Ok(match at_path(place, layout)? {
            AtPath::Nothing => Found::Nothing,
            AtPath::Ours(existing) => {
                let lock = MirrorLock::take(&existing)?;
                if fits(&existing, layout, slots, true) {
                    Found::Usable(Box::new(Self::wrap(
                        existing,
                        layout,
                        Some(layout.keyword_slots),
                        lock,
                    )))
                } else {
                    Found::Outdated(lock)
                }
            }
            AtPath::Compatible(existing) => {
                let lock = MirrorLock::take(&existing)?;
                Found::Usable(Box::new(Self::wrap(existing, layout, None, lock)))
            }
        })
    }

    /// Creates the mirror (over our outdated one if `replace`, else only where nothing is),
    /// locks it, then marks it.
    fn create(
        place: &Place<'_>,
        layout: &Layout,
        slots: u16,
        replace: bool,
    ) -> Result<(Stream, MirrorLock)> {
        let spec = StreamSpec::new(&layout.shape, layout.datatype)
            .keywords(slots)
            .semaphores(layout.semaphores)
            .imagetype(layout.imagetype)
            .circular_buffer(layout.cb_size)
            .replace(replace)
            .dir(place.dir);
        let stream = Stream::create(place.name, &spec)?;
        let lock = MirrorLock::take(&stream)?;
        stream.set_keyword_at(
            layout.keyword_slots,
            MARK,
            Value::Str(place.origin.into()),
            &mark::comment(place.origin, place.source),
        )?;
        Ok((stream, lock))
    }

    fn wrap(stream: Stream, layout: &Layout, mark_at: Option<u16>, lock: MirrorLock) -> Self {
        Self {
            stream,
            layout: layout.clone(),
            mark_at,
            last_stats: None,
            _lock: lock,
            _reservation: None,
        }
    }

    fn with_reservation(self, r: Option<Reservation>) -> Self {
        Self {
            _reservation: r,
            ..self
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
    /// absent from the list become unused. Only entries that differ are written. A keyword
    /// carrying one of the bridge's own names ([`mark::is_reserved`]: a relay's upstream mark,
    /// anything forged) is not written; returns how many were left out.
    pub fn set_source_keywords(&self, keywords: &[Keyword]) -> Result<usize> {
        let mut reserved = 0;
        for i in 0..self.layout.keyword_slots {
            let want = keywords
                .iter()
                .find(|k| k.index == i)
                .filter(|k| !mark::is_reserved(&k.name));
            reserved += keywords
                .iter()
                .filter(|k| k.index == i && mark::is_reserved(&k.name))
                .count();
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
        Ok(reserved)
    }

    /// Writes the bridge keywords that changed.
    fn set_stats(&mut self, stats: &Stats) -> Result<()> {
        let Some(mark) = self.mark_at else {
            return Ok(());
        };
        let old = self.last_stats.map(|s| s.values());
        for (i, ((name, comment), v)) in stats::NAMES.iter().zip(stats.values()).enumerate() {
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
            // A bridge killed mid-frame left the flag set. Only the mirror's bridge writes it (it
            // holds the mirror's lock), so a flag whose holder is dead is taken over: the
            // recovery guard is dropped without a commit (an abandon this handle now owns), and
            // the write below resumes it and publishes a whole frame. A live holder is left
            // alone: busy, and no figures move.
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
        let mut values = [0i64; 6];
        for (i, v) in values.iter_mut().enumerate() {
            *v = match self.stream.keyword_at(mark + 1 + i as u16).ok()?.value {
                Value::Long(v) => v,
                _ => return None,
            };
        }
        Some(Stats::from_values(values))
    }

    /// Whether the mirror's path no longer names this mirror's file (removed, or replaced by
    /// someone): the bridge then makes its mirror again, or stops writing.
    pub fn is_gone(&self) -> bool {
        self.stream.inode_changed().unwrap_or(true)
    }

    /// Frame bytes of the mirror.
    pub fn frame_bytes(&self) -> usize {
        self.stream.geometry().frame_bytes()
    }
}
