//! The process-wide table.

use std::borrow::Cow;
use std::ffi::OsStr;

use crate::EnvCache;

/// Const-initialised: the first read costs one lock, no lazy set-up, and hits never allocate.
static GLOBAL: EnvCache = EnvCache::new();

/// The process-wide table behind [`var_os`].
///
/// ```
/// let table = shmim_envcache::global();
/// assert_eq!(table.capacity(), 8);
/// assert_eq!(table.full_misses(), 0);
/// ```
pub fn global() -> &'static EnvCache {
    &GLOBAL
}

/// The value of environment variable `name` at its first read in this process.
///
/// The first call for a name reads it with [`std::env::var_os`]; every later call returns that
/// snapshot, borrowed for `'static`, with no lock, allocation or system call. `None`: the variable
/// was absent at the first read. When the process-wide table is full (more than 8 distinct names)
/// the value is read afresh every time and returned owned; [`EnvCache::full_misses`] on
/// [`global()`] counts those reads.
///
/// ```
/// use std::path::Path;
///
/// let dir = shmim_envcache::var_os("MILK_SHM_DIR");
/// let dir = dir.as_deref().map(Path::new).unwrap_or(Path::new("/milk/shm"));
/// # let _ = dir;
/// ```
#[inline(always)]
pub fn var_os(name: impl AsRef<OsStr>) -> Option<Cow<'static, OsStr>> {
    GLOBAL.get(name)
}
