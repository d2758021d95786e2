//! Shared structs: any `Pod` value in its own named segment, guarded by the segment lock.
//!
//! For process-info and parameter tables that many processes edit. The file `DIR/NAME.seg.shm`
//! (format version 2) is a 64-byte header, then the value:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | magic `SHMIMSEG` |
//! | 8 | 4 | format version (2) |
//! | 12 | 4 | size of the value |
//! | 16 | 8 | the lock word (`shmim_sync::lock`: holder PID, thread, flags) |
//! | 24 | 8 | PID namespace of the creator (inode of `/proc/self/ns/pid`; 0 unknown) |
//! | 32 | 32 | zero |
//! | 64 | size | the value |
//!
//! Every party must take the lock to touch the value; that is the contract that makes
//! [`SegmentGuard`]'s `&mut T` sound. When a holder dies, the next locker is told
//! ([`SegmentGuard::previous_owner_died`]) and should repair the value and call
//! [`SegmentGuard::mark_consistent`]; otherwise the locker after it is told again. Nothing in
//! the file steers this process's memory: the lock word only names its holder. C programs use
//! the same lock through `ImageStreamIO_lock.h` (`docs/segment-lock.md`). Version 1 files (a
//! robust pthread mutex at offset 16) are refused. Fairness: none is guaranteed.

use std::fs::File;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytemuck::Pod;
use shmim_sync::lock::{LockGuard, LockId, PidLock, pid_namespace};

use crate::create::{TempFile, reserve};
use crate::error::{Error, Result, SegmentMismatch};
use crate::open::map_file;

/// Segment file magic.
const MAGIC: [u8; 8] = *b"SHMIMSEG";
/// Segment format version: 2 = owner-PID lock word (1 was a robust pthread mutex).
pub const SEGMENT_VERSION: u32 = 2;
/// Offset of the lock word in the file.
const LOCK_AT: usize = 16;
/// Offset of the creator's PID namespace in the file.
const NAMESPACE_AT: usize = 24;
/// Offset of the value in the file (the value may need up to 64-byte alignment).
const DATA_AT: usize = 64;
/// Segment file suffix.
pub const SEGMENT_SUFFIX: &str = ".seg.shm";

const _: () = assert!(LOCK_AT + PidLock::SIZE <= NAMESPACE_AT && NAMESPACE_AT + 8 <= DATA_AT);
const _: () = assert!(LOCK_AT % PidLock::ALIGN == 0);

/// A `T` shared between processes in a named file, behind the segment lock.
pub struct Segment<T: Pod> {
    map: memmap2::MmapRaw,
    path: PathBuf,
    /// The PID namespace recorded by the creator (read once: a later scribble cannot move it).
    home_ns: u64,
    id: LockId,
    _file: File,
    _t: PhantomData<T>,
}

// SAFETY: the value is only reached through the lock (one holder at a time, any thread); the
// lock word only through atomics; the mapping itself is plain shared memory.
unsafe impl<T: Pod + Send> Send for Segment<T> {}
// SAFETY: as above; `lock()` serialises access across threads and processes.
unsafe impl<T: Pod + Send> Sync for Segment<T> {}

/// Exclusive access to a segment's value; releases the lock on drop.
pub struct SegmentGuard<'a, T: Pod> {
    guard: LockGuard<'a>,
    value: *mut T,
}

impl<T: Pod> Segment<T> {
    fn file_len() -> u64 {
        (DATA_AT + size_of::<T>()) as u64
    }

    /// Creates (or atomically replaces) segment `name` in `dir` holding `initial`.
    pub fn create(dir: impl AsRef<Path>, name: &str, initial: &T) -> Result<Self> {
        assert!(
            align_of::<T>() <= DATA_AT,
            "segment values are aligned to at most 64 bytes"
        );
        let name = crate::name::validate_name(name)?;
        let dir = dir.as_ref();
        let path = dir.join(format!("{name}{SEGMENT_SUFFIX}"));
        let tmp = TempFile::create(dir, name)?;
        let len = Self::file_len();
        reserve(&tmp.file, len).map_err(|e| Error::io("fallocate", &tmp.path, e.into()))?;
        let map = map_file(&tmp.file, &tmp.path, len, false)?;
        let base = map.as_mut_ptr();
        let home_ns = pid_namespace();
        let mut header = [0u8; DATA_AT];
        header[..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&SEGMENT_VERSION.to_ne_bytes());
        header[12..16].copy_from_slice(&(size_of::<T>() as u32).to_ne_bytes());
        header[NAMESPACE_AT..NAMESPACE_AT + 8].copy_from_slice(&home_ns.to_ne_bytes());
        // SAFETY: the fresh mapping is `len` ≥ 64 + size_of::<T>() bytes, page-aligned, and not
        // yet visible to anyone (temporary name); the value at 64 is aligned for any T with
        // align ≤ 64. The header's lock word is written free (0) with it.
        unsafe {
            base.copy_from_nonoverlapping(header.as_ptr(), DATA_AT);
            base.add(DATA_AT).cast::<T>().write(*initial);
        }
        let file = tmp
            .file
            .try_clone()
            .map_err(|e| Error::io("dup", &tmp.path, e))?;
        tmp.publish(&path, None, true)?;
        Self::wrap(map, file, path, home_ns)
    }

    /// Opens segment `name` in `dir`, checking that it holds a `T`-sized value.
    pub fn open(dir: impl AsRef<Path>, name: &str) -> Result<Self> {
        let name = crate::name::validate_name(name)?;
        let path = dir.as_ref().join(format!("{name}{SEGMENT_SUFFIX}"));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let found = file
            .metadata()
            .map_err(|e| Error::io("fstat", &path, e))?
            .len();
        let mut header = [0u8; DATA_AT];
        let mismatch = |check| Error::Segment {
            path: path.clone(),
            check,
        };
        if found < 12 || file.read_exact_at(&mut header[..12], 0).is_err() || header[..8] != MAGIC {
            return Err(mismatch(SegmentMismatch::Magic));
        }
        let version = u32::from_ne_bytes(header[8..12].try_into().expect("4 bytes"));
        if version != SEGMENT_VERSION {
            return Err(mismatch(SegmentMismatch::Version { found: version }));
        }
        if found < DATA_AT as u64 || file.read_exact_at(&mut header, 0).is_err() {
            return Err(mismatch(SegmentMismatch::FileSize {
                expected: Self::file_len(),
                found,
            }));
        }
        let size = u64::from(u32::from_ne_bytes(
            header[12..16].try_into().expect("4 bytes"),
        ));
        if size != size_of::<T>() as u64 {
            return Err(mismatch(SegmentMismatch::Size {
                expected: size_of::<T>() as u64,
                found: size,
            }));
        }
        if found != Self::file_len() {
            return Err(mismatch(SegmentMismatch::FileSize {
                expected: Self::file_len(),
                found,
            }));
        }
        let home_ns = u64::from_ne_bytes(
            header[NAMESPACE_AT..NAMESPACE_AT + 8]
                .try_into()
                .expect("8 bytes"),
        );
        let map = map_file(&file, &path, found, false)?;
        Self::wrap(map, file, path, home_ns)
    }

    fn wrap(map: memmap2::MmapRaw, file: File, path: PathBuf, home_ns: u64) -> Result<Self> {
        let meta = file.metadata().map_err(|e| Error::io("fstat", &path, e))?;
        let id = LockId {
            dev: meta.dev(),
            ino: meta.ino(),
            offset: LOCK_AT as u64,
        };
        Ok(Self {
            map,
            path,
            home_ns,
            id,
            _file: file,
            _t: PhantomData,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The PID namespace the segment's creator recorded (0: unknown); lockers outside it never
    /// take a dead holder's lock over by themselves.
    pub fn pid_namespace(&self) -> u64 {
        self.home_ns
    }

    fn lock_view(&self) -> PidLock<'_> {
        // SAFETY: the word lives at an 8-aligned offset inside the mapping, which lives as long
        // as `self` and is only accessed atomically by this process; any value is acceptable.
        unsafe {
            PidLock::from_ptr(
                self.map.as_mut_ptr().add(LOCK_AT).cast(),
                self.home_ns,
                self.id,
            )
        }
    }

    fn guard<'a>(&'a self, guard: LockGuard<'a>) -> SegmentGuard<'a, T> {
        // In bounds and aligned (see `create`); accessed only while the lock is held.
        let value = self.map.as_mut_ptr().wrapping_add(DATA_AT).cast::<T>();
        SegmentGuard { guard, value }
    }

    /// Blocks until the lock is ours (taking it over from a dead holder in this PID namespace).
    pub fn lock(&self) -> Result<SegmentGuard<'_, T>> {
        Ok(self.guard(self.lock_view().lock()?))
    }

    /// Takes the lock if it is free or its holder is dead.
    pub fn try_lock(&self) -> Result<Option<SegmentGuard<'_, T>>> {
        Ok(self.lock_view().try_lock()?.map(|g| self.guard(g)))
    }

    /// Waits at most `timeout` for the lock; after it, [`Error::Lock`] names the holder and says
    /// whether its death could have been detected.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<SegmentGuard<'_, T>> {
        Ok(self.guard(self.lock_view().lock_timeout(timeout)?))
    }

    /// Takes the lock whatever holds it, as if the holder had died (the guard says so). For a
    /// holder known to be gone that cannot be judged from here (another PID namespace). If it
    /// is alive, both of you now hold the lock.
    pub fn force_lock(&self) -> SegmentGuard<'_, T> {
        self.guard(self.lock_view().force())
    }
}

impl<T: Pod> SegmentGuard<'_, T> {
    /// The previous holder died holding the lock: the value may be half updated.
    pub fn previous_owner_died(&self) -> bool {
        self.guard.owner_died()
    }

    /// Declares the value repaired after an owner death (otherwise the next locker is told too).
    pub fn mark_consistent(&mut self) {
        self.guard.mark_consistent();
    }
}

impl<T: Pod> Deref for SegmentGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the value is in bounds and aligned, and we hold the lock that every party takes
        // before touching it (the segment contract), so nobody writes it while we read.
        unsafe { &*self.value }
    }
}

impl<T: Pod> DerefMut for SegmentGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; holding the lock makes our access exclusive.
        unsafe { &mut *self.value }
    }
}
