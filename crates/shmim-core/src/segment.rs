//! Shared structs: any `Pod` value in its own named segment, guarded by a robust lock.
//!
//! For process-info and parameter tables that many processes edit. The file `DIR/NAME.seg.shm`
//! holds a 64-byte header — magic `SHMIMSEG`, format version, data size, and the process-shared
//! robust mutex of `shmim-sync` (C-compatible: a `pthread_mutex_t` at offset 16) — then the value
//! at offset 64. Every party must take the lock to touch the value; that is the contract that
//! makes [`SegmentGuard`]'s `&mut T` sound. When a holder dies, the next locker is told
//! ([`SegmentGuard::previous_owner_died`]) and should repair the value and call
//! [`SegmentGuard::mark_consistent`]; otherwise the lock becomes unusable once released.
//! Fairness is the kernel futex's: none is guaranteed.

use std::fs::File;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytemuck::Pod;
use shmim_sync::lock::{LockGuard, RobustLock};

use crate::create::{TempFile, reserve};
use crate::error::{Error, Result, SegmentMismatch};
use crate::open::map_file;

/// Segment file magic.
const MAGIC: [u8; 8] = *b"SHMIMSEG";
/// Segment format version.
const VERSION: u32 = 1;
/// Offset of the lock in the file.
const LOCK_AT: usize = 16;
/// Offset of the value in the file (the value may need up to 64-byte alignment).
const DATA_AT: usize = 64;
/// Segment file suffix.
pub const SEGMENT_SUFFIX: &str = ".seg.shm";

const _: () = assert!(LOCK_AT + RobustLock::SIZE <= DATA_AT);

/// A `T` shared between processes in a named file, behind a robust lock.
pub struct Segment<T: Pod> {
    /// Shared with every guard: a guard leaked with `mem::forget` keeps the mapping (and the
    /// locked mutex glibc still lists among this thread's robust mutexes) mapped, instead of
    /// leaving glibc a dangling pointer into unmapped memory.
    map: Arc<memmap2::MmapRaw>,
    path: PathBuf,
    _file: File,
    _t: PhantomData<T>,
}

// SAFETY: the value is only reached through the lock (one holder at a time, any thread); the
// mapping itself is plain shared memory.
unsafe impl<T: Pod + Send> Send for Segment<T> {}
// SAFETY: as above; `lock()` serialises access across threads and processes.
unsafe impl<T: Pod + Send> Sync for Segment<T> {}

/// Exclusive access to a segment's value; releases the lock on drop.
pub struct SegmentGuard<'a, T: Pod> {
    guard: LockGuard<'a>,
    value: *mut T,
    _map: Arc<memmap2::MmapRaw>,
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
        let mut header = [0u8; LOCK_AT];
        header[..8].copy_from_slice(&MAGIC);
        header[8..12].copy_from_slice(&VERSION.to_ne_bytes());
        header[12..16].copy_from_slice(&(size_of::<T>() as u32).to_ne_bytes());
        // SAFETY: the fresh mapping is `len` ≥ 64 + size_of::<T>() bytes, page-aligned, and not
        // yet visible to anyone (temporary name); offsets are inside it and aligned (the lock at
        // 16 is 8-aligned, the value at 64 is aligned for any T with align ≤ 64).
        unsafe {
            base.copy_from_nonoverlapping(header.as_ptr(), LOCK_AT);
            RobustLock::init(base.add(LOCK_AT).cast())?;
            base.add(DATA_AT).cast::<T>().write(*initial);
        }
        let file = tmp
            .file
            .try_clone()
            .map_err(|e| Error::io("dup", &tmp.path, e))?;
        tmp.publish(&path, None)?;
        Ok(Self {
            map: Arc::new(map),
            path,
            _file: file,
            _t: PhantomData,
        })
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
        let mut header = [0u8; LOCK_AT];
        let mismatch = |check| Error::Segment {
            path: path.clone(),
            check,
        };
        if found < LOCK_AT as u64
            || file.read_exact_at(&mut header, 0).is_err()
            || header[..8] != MAGIC
        {
            return Err(mismatch(SegmentMismatch::Magic));
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
        let map = map_file(&file, &path, found, false)?;
        Ok(Self {
            map: Arc::new(map),
            path,
            _file: file,
            _t: PhantomData,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_view(&self) -> RobustLock<'_> {
        // SAFETY: the lock lives at an 8-aligned offset inside the mapping, which lives as long
        // as `self`; it was initialised by `create` (checked by magic on open).
        unsafe { RobustLock::from_ptr(self.map.as_mut_ptr().add(LOCK_AT).cast()) }
    }

    fn guard<'a>(&'a self, guard: LockGuard<'a>) -> SegmentGuard<'a, T> {
        // In bounds and aligned (see `create`); accessed only while the lock is held.
        let value = self.map.as_mut_ptr().wrapping_add(DATA_AT).cast::<T>();
        SegmentGuard {
            guard,
            value,
            _map: Arc::clone(&self.map),
        }
    }

    /// Blocks until the lock is ours.
    pub fn lock(&self) -> Result<SegmentGuard<'_, T>> {
        Ok(self.guard(self.lock_view().lock()?))
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Result<Option<SegmentGuard<'_, T>>> {
        Ok(self.lock_view().try_lock()?.map(|g| self.guard(g)))
    }

    /// Waits at most `timeout` for the lock ([`Error::Timeout`] after it).
    pub fn lock_timeout(&self, timeout: Duration) -> Result<SegmentGuard<'_, T>> {
        match self.lock_view().lock_timeout(timeout)? {
            Some(g) => Ok(self.guard(g)),
            None => Err(Error::Timeout(timeout)),
        }
    }
}

impl<T: Pod> SegmentGuard<'_, T> {
    /// The previous holder died holding the lock: the value may be half updated.
    pub fn previous_owner_died(&self) -> bool {
        self.guard.owner_died()
    }

    /// Declares the value repaired after an owner death.
    pub fn mark_consistent(&mut self) -> Result<()> {
        Ok(self.guard.mark_consistent()?)
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
