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
//! that live outside it, taken in this order:
//! * **within this process**, a lock in the handle's mapping
//!   ([`LocalLock`](shmim_sync::local_lock::LocalLock)): threads sharing a
//!   handle share its open file description, where the OFD lock below would be granted to both.
//!   A `fork` that catches another thread holding it does not leave the child unable to take it.
//!   A process-local stream has only this one;
//! * **across open file descriptions** (other processes, other handles of this process): an OFD
//!   write lock on the bytes of the keyword region (`shmim_sync::range_lock`). It belongs to the
//!   open file description, so the kernel drops it when a holder dies; a holder that is stopped
//!   makes other writers give up after [`LOCK_WAIT`] with [`Error::KeywordsLocked`] rather than
//!   hang (they sleep meanwhile, they do not spin). A **forked child** shares its parent's
//!   description, which would exclude neither: in a process other than the one that opened the
//!   handle, each write locks a description of its own (the file reopened through
//!   `/proc/self/fd`, or by path, and checked to be the same inode).
//!
//! Limits: legacy C writers store keywords with plain stores and take no lock; they can still
//! race a shmim writer (and each other). Readers take no lock, so a writer preempted in the
//! middle of an entry, before its `cnt` increment, can still be seen half-written: that is as
//! consistent as the file format allows (RELIABILITY.md). On a file system that keeps no OFD
//! locks (`shmim_sync::range_lock::unsupported`: e.g. NFS mounted `nolock`), writers are
//! serialised within each process only.

use shmim_layout::{
    CStrError, ImageKeyword, KEYWORD_MAX_COMMENT, KEYWORD_MAX_STRING, KeywordType, KeywordValue,
    read_cstr, write_cstr,
};

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};
use shmim_sync::range_lock;

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
        as_keyword_writer(&self.map, || {
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
        })
    }

    /// Marks the entry of keyword `name` unused (type `'N'`, name and comment cleared); returns
    /// its index, or `None` when no used entry has that name. The lookup and the write are one
    /// step for the other keyword writers (module docs): a writer that sets the same name
    /// meanwhile is either cleared or kept whole, never half of each.
    pub fn clear_keyword(&self, name: &str) -> Result<Option<u16>> {
        let unused = encode("", &Value::Empty, "")?;
        as_keyword_writer(&self.map, || {
            for i in 0..self.geometry().nb_kw {
                let k = read_entry(&self.map, i)?;
                if k.value != Value::Empty && k.name == name {
                    return write_entry(&self.map, i, &unused).map(|()| Some(i));
                }
            }
            Ok(None)
        })
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
        as_keyword_writer(&self.map, || write_entry(&self.map, index, &kw))
    }
}

/// Runs `write` holding the keyword writers' locks of `map`: this process's, then (for a stream
/// file) the OFD lock on the keyword region (module docs).
fn as_keyword_writer<R>(map: &Mapping, write: impl FnOnce() -> Result<R>) -> Result<R> {
    let _local = map.keyword_writers().lock();
    let region = map.geometry().regions.keywords;
    let Some((file, path, _)) = map.file().filter(|_| region.len > 0) else {
        return write();
    };
    // Declared before the range guard, dropped after it: the lock is released (F_UNLCK) before
    // the description is closed, and before another thread of ours can take `_local`.
    let own;
    let description = if map.made_here() {
        file.as_fd()
    } else {
        own = own_description(file, path, &map.geometry().name)?;
        own.as_fd()
    };
    let start = Instant::now();
    let _range = match range_lock::lock_timeout(description, region.offset, region.len, LOCK_WAIT) {
        Ok(Some(held)) => Some(held),
        Ok(None) => {
            return Err(Error::KeywordsLocked {
                path: path.to_owned(),
                waited: start.elapsed(),
            });
        }
        // No OFD locks on this file system: this process's lock alone (module docs).
        Err(e) if range_lock::unsupported(&e) => None,
        Err(e) => return Err(Error::io("fcntl(F_OFD_SETLK)", path, e)),
    };
    write()
}

/// A new open file description of the file `mapped` (of the stream `name`, at `path`), for a
/// process that shares the handle's description with another: through `/proc/self/fd`, else by
/// path, and refused unless it is the same inode.
fn own_description(mapped: &File, path: &Path, name: &str) -> Result<File> {
    let open = |p: &Path| {
        let flags = OFlags::RDWR | OFlags::CLOEXEC | OFlags::NONBLOCK;
        rustix::fs::open(p, flags, Mode::empty()).map(File::from)
    };
    let proc = format!("/proc/self/fd/{}", mapped.as_raw_fd());
    let fresh = open(Path::new(&proc))
        .or_else(|_| open(path))
        .map_err(|e| Error::io("open", path, e.into()))?;
    let id = |f: &File| rustix::fs::fstat(f).map(|st| (st.st_dev, st.st_ino));
    let same = id(mapped).map_err(|e| Error::io("fstat", path, e.into()))?
        == id(&fresh).map_err(|e| Error::io("fstat", path, e.into()))?;
    if !same {
        return Err(Error::Replaced {
            name: name.to_owned(),
        });
    }
    Ok(fresh)
}

/// Stores `kw` into entry `index`: everything but the counter, then the counter (Release: readers
/// that see the new count see the entry). The caller is a keyword writer ([`as_keyword_writer`]).
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
    write_cstr(field, s.as_bytes()).map_err(|e| match e {
        CStrError::InteriorNul { at } => Error::KeywordNul {
            what,
            value: s.into(),
            at,
        },
        CStrError::TooLong { .. } => Error::KeywordTooLong {
            what,
            value: s.into(),
            max: max - 1,
        },
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
