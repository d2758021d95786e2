//! Typed keyword access (`IMAGE_KEYWORD` entries).
//!
//! Writing an entry stores name, type, value and comment, then increments its `cnt` (Release), as
//! the legacy convention "cnt counts the writes of this keyword" asks. Entries are copied in and
//! out with relaxed atomic words, so readers racing a writer race only in the protocol, never in
//! the Rust memory model. Reading copies the entry twice and accepts it when both copies agree and
//! `cnt` did not move around them (an acquire fence orders the copies before the check); after 100
//! failed attempts it returns [`Error::Torn`].
//!
//! # Keyword writers are serialised
//! Setting a keyword is a read-modify-write of the whole table: find the entry of that name or
//! the first unused one, then fill it. Two writers doing that at once pick the same free entry and
//! interleave their stores (a keyword lost, or an entry mixed from two writes that reads as valid
//! forever), or both add the same name. The file format has no room for a lock, so shmim uses two
//! that live outside it:
//! * **across open files** (other processes, and other handles of this process, each of which
//!   opened the file itself): an OFD write lock on the bytes of the keyword region
//!   (`shmim_sync::range_lock`). It belongs to the open file description, so the kernel drops it
//!   when a holder dies; a holder that is stopped makes other writers give up after
//!   [`LOCK_WAIT`] with [`Error::KeywordsLocked`] rather than hang;
//! * **within one open file** (threads sharing a handle, which share its description, where the
//!   OFD lock would be granted to both): a mutex in the handle's mapping, taken first. A
//!   process-local stream has only this one.
//!
//! Limits: legacy C writers store keywords with plain stores and take no lock; they can still
//! race a shmim writer (and each other). Readers take no lock, so a writer preempted in the
//! middle of an entry, before its `cnt` increment, can still be seen half-written: that is as
//! consistent as the file format allows (RELIABILITY.md).

use shmim_layout::{
    ImageKeyword, KEYWORD_MAX_COMMENT, KEYWORD_MAX_STRING, KeywordType, KeywordValue, read_cstr,
    write_cstr,
};

use std::os::fd::AsFd;
use std::sync::{MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use shmim_sync::range_lock::{self, RangeGuard};
use shmim_sync::spin::Spin;

use crate::error::{Error, Result};
use crate::mapping::Mapping;
use crate::stream::Stream;

/// A keyword's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `'N'`: unused entry.
    Empty,
    /// `'L'`: a 64-bit integer.
    Long(i64),
    /// `'D'`: a double.
    Double(f64),
    /// `'S'`: a string of at most 15 bytes.
    Str(String),
}

/// One keyword entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyword {
    /// Entry index.
    pub index: u16,
    /// Name (at most 15 bytes).
    pub name: String,
    /// Value.
    pub value: Value,
    /// Comment (at most 79 bytes).
    pub comment: String,
    /// Number of writes of this entry.
    pub cnt: u64,
}

/// How many times a read retries while the entry keeps changing.
const READ_ATTEMPTS: usize = 100;

/// How long a keyword writer waits for another handle's keyword write to end. One write is a
/// table scan and a 128-byte copy: microseconds, or a few scheduler ticks on a loaded machine.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(2);

impl Stream {
    /// Keyword entry `index` as it is now.
    pub fn keyword_at(&self, index: u16) -> Result<Keyword> {
        read_entry(&self.map, index)
    }

    /// Every used keyword entry (type other than `'N'`), in index order.
    pub fn keywords(&self) -> Result<Vec<Keyword>> {
        let mut out = Vec::new();
        for i in 0..self.geometry().nb_kw {
            let k = read_entry(&self.map, i)?;
            if k.value != Value::Empty {
                out.push(k);
            }
        }
        Ok(out)
    }

    /// The used entry called `name`, if any.
    pub fn keyword(&self, name: &str) -> Result<Option<Keyword>> {
        Ok(self.keywords()?.into_iter().find(|k| k.name == name))
    }

    /// Sets keyword `name` (its existing entry, or the first unused one); returns the index.
    /// Keyword writers of shmim are serialised (module docs), so two of them never fill one entry
    /// or add one name twice.
    pub fn set_keyword(&self, name: &str, value: Value, comment: &str) -> Result<u16> {
        let kw = encode(name, &value, comment)?;
        let _writers = KeywordWriters::lock(&self.map)?;
        let mut free = None;
        for i in 0..self.geometry().nb_kw {
            let k = read_entry(&self.map, i)?;
            if k.value != Value::Empty && k.name == name {
                return write_entry(&self.map, i, &kw).map(|()| i);
            }
            if k.value == Value::Empty && free.is_none() {
                free = Some(i);
            }
        }
        let i = free.ok_or(Error::KeywordsFull {
            count: self.geometry().nb_kw,
        })?;
        write_entry(&self.map, i, &kw).map(|()| i)
    }

    /// Writes entry `index` (serialised with every other shmim keyword writer).
    pub fn set_keyword_at(
        &self,
        index: u16,
        name: &str,
        value: Value,
        comment: &str,
    ) -> Result<()> {
        let kw = encode(name, &value, comment)?;
        let _writers = KeywordWriters::lock(&self.map)?;
        write_entry(&self.map, index, &kw)
    }
}

/// Exclusive right to write keyword entries, held from the table scan to the last store.
struct KeywordWriters<'m> {
    _file: Option<RangeGuard<'m>>,
    // Declared last: dropped after the file lock, so another thread of ours never finds the
    // mutex free while our description still holds the range.
    _local: MutexGuard<'m, ()>,
}

impl<'m> KeywordWriters<'m> {
    /// The mapping's mutex, then (for a stream file) the OFD lock on the keyword region.
    fn lock(map: &'m Mapping) -> Result<Self> {
        let local = map
            .keyword_writers()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let region = map.geometry().regions.keywords;
        let Some((file, path, _)) = map.file().filter(|_| region.len > 0) else {
            return Ok(Self {
                _file: None,
                _local: local,
            });
        };
        let start = Instant::now();
        let mut spin = Spin::for_duration(LOCK_WAIT);
        loop {
            match range_lock::try_lock(file.as_fd(), region.offset, region.len) {
                Ok(Some(held)) => {
                    return Ok(Self {
                        _file: Some(held),
                        _local: local,
                    });
                }
                Ok(None) if spin.pause() => {}
                Ok(None) => {
                    return Err(Error::KeywordsLocked {
                        path: path.to_owned(),
                        waited: start.elapsed(),
                    });
                }
                Err(e) => return Err(Error::io("fcntl(F_OFD_SETLK)", path, e)),
            }
        }
    }
}

/// Stores `kw` into entry `index`: everything but the counter, then the counter (Release: readers
/// that see the new count see the entry). The caller holds [`KeywordWriters`].
fn write_entry(map: &Mapping, index: u16, kw: &ImageKeyword) -> Result<()> {
    let p = map.keyword_ptr(index)?;
    let bytes = bytemuck::bytes_of(kw);
    let base = map.offset_of(p.cast());
    let cnt_at = core::mem::offset_of!(ImageKeyword, cnt);
    map.copy_in_words(base, &bytes[..cnt_at]);
    map.copy_in_words(base + cnt_at + 8, &bytes[cnt_at + 8..]);
    counter(p).fetch_add(1);
    Ok(())
}

/// The entry for `name`, `value`, `comment` (counter 0), or which part does not fit.
fn encode(name: &str, value: &Value, comment: &str) -> Result<ImageKeyword> {
    let mut kw: ImageKeyword = bytemuck::Zeroable::zeroed();
    fit("name", name, &mut kw.name, KEYWORD_MAX_STRING)?;
    fit("comment", comment, &mut kw.comment, KEYWORD_MAX_COMMENT)?;
    let (kind, v) = match value {
        Value::Empty => (KeywordType::Empty, KeywordValue::from_i64(0)),
        Value::Long(l) => (KeywordType::Long, KeywordValue::from_i64(*l)),
        Value::Double(d) => (KeywordType::Double, KeywordValue::from_f64(*d)),
        Value::Str(s) => {
            let mut b = [0u8; KEYWORD_MAX_STRING];
            fit("string value", s, &mut b, KEYWORD_MAX_STRING)?;
            (KeywordType::String, bytemuck::cast(b))
        }
    };
    kw.kw_type = kind as u8;
    kw.value = v;
    Ok(kw)
}

fn counter<'a>(p: *mut ImageKeyword) -> shmim_sync::Field<'a, u64> {
    // SAFETY: `p` is an in-bounds, 8-aligned keyword entry of a live mapping (from
    // `Mapping::keyword_ptr`); its counter is accessed only atomically by shmim.
    unsafe { shmim_sync::Field::new(&raw mut (*p).cnt) }
}

fn fit(what: &'static str, s: &str, field: &mut [u8], max: usize) -> Result<()> {
    write_cstr(field, s.as_bytes()).map_err(|_| Error::KeywordTooLong {
        what,
        value: s.into(),
        max: max - 1,
    })
}

fn read_entry(map: &Mapping, index: u16) -> Result<Keyword> {
    let p = map.keyword_ptr(index)?;
    let cnt = counter(p);
    let at = map.offset_of(p.cast());
    let (mut bytes, mut again) = (
        [0u8; size_of::<ImageKeyword>()],
        [0u8; size_of::<ImageKeyword>()],
    );
    let start = std::time::Instant::now();
    let mut consistent = false;
    for _ in 0..READ_ATTEMPTS {
        let before = cnt.observe();
        map.copy_out_words(at, &mut bytes);
        map.copy_out_words(at, &mut again);
        // Two equal copies with the counter unchanged around them: no write finished meanwhile,
        // and none was making progress between the copies.
        if bytes == again && shmim_sync::seqlock::counter_unchanged(cnt.cell(), before) {
            consistent = true;
            break;
        }
        std::thread::yield_now();
    }
    if !consistent {
        return Err(Error::Torn {
            waited: start.elapsed(),
        });
    }
    let kw: ImageKeyword = bytemuck::pod_read_unaligned(&bytes);
    let text = |b: &[u8]| String::from_utf8_lossy(read_cstr(b)).into_owned();
    let value = match KeywordType::try_from(kw.kw_type) {
        Ok(KeywordType::Long) => Value::Long(kw.value.as_i64()),
        Ok(KeywordType::Double) => Value::Double(kw.value.as_f64()),
        Ok(KeywordType::String) => Value::Str(text(&kw.value.bytes())),
        // Unknown type bytes read as unused, as legacy readers skip them.
        Ok(KeywordType::Empty) | Err(_) => Value::Empty,
    };
    Ok(Keyword {
        index,
        name: text(&kw.name),
        value,
        comment: text(&kw.comment),
        cnt: kw.cnt,
    })
}
