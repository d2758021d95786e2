//! The table: `N` rows, a fill lock, and the full-table counter.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::sync::PoisonError;

use crate::primitive::{AtomicUsize, Mutex, Ordering};
use crate::row::{Entry, Row};

/// A fixed-capacity snapshot table of environment variables (default capacity: 8 names).
///
/// Reads of a name already in the table take no lock, allocate nothing and make no system call.
/// The first read of a name takes the table's fill lock, reads the variable once and stores the
/// value — or its absence — for the life of the table. See the [crate docs](crate) for the
/// snapshot semantics and why the orderings are enough.
///
/// Most code uses the process-wide table through [`var_os`](crate::var_os); instances are for
/// tests and embedders.
///
/// ```
/// use std::ffi::OsString;
/// use shmim_envcache::EnvCache;
///
/// static TUNING: EnvCache<4> = EnvCache::new();
///
/// let first = TUNING.get_with("SPIN_LIMIT", |_| Some(OsString::from("100")));
/// let later = TUNING.get_with("SPIN_LIMIT", |_| Some(OsString::from("999")));
/// assert_eq!(first.as_deref(), later.as_deref()); // the first read is kept
/// ```
pub struct EnvCache<const N: usize = 8> {
    /// Filled front to back; a row is published only after every row before it.
    rows: [Row; N],
    /// Held while filling a row; guards no data of its own, only the right to write rows.
    fill: Mutex<()>,
    /// Reads served uncached because every row held another name.
    full_misses: AtomicUsize,
}

// SAFETY: the rows' entry cells are what makes the table `!Sync`. An entry is written once, by
// `Row::publish`, only by the holder of `fill` and only while the row is unpublished, so writes
// never overlap each other. Lock-free readers touch an entry only after an Acquire load of the
// row's `ready` flag saw the Release store that follows that write, and published entries are
// never written again, so reads never overlap a write. Entries hold only `OsString`s, which are
// `Sync`, so any number of threads may share them.
unsafe impl<const N: usize> Sync for EnvCache<N> {}

/// A panic cannot leave a row half-written: a row is written only after `source` returned, and
/// the write itself cannot panic. A poisoned fill lock is taken over (see `fill`).
impl<const N: usize> std::panic::RefUnwindSafe for EnvCache<N> {}

/// Where a name stands in the table, as seen by the lock-free scan.
enum Lookup<'a> {
    /// Published in a row.
    Hit(&'a Entry),
    /// Not among the published rows, and an unpublished row remains.
    Vacant,
    /// Every row is published with another name.
    Full,
}

impl<const N: usize> EnvCache<N> {
    /// An empty table. `const`, so a table can be a `static` with nothing to initialise lazily.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            rows: [const { Row::new() }; N],
            fill: Mutex::new(()),
            full_misses: AtomicUsize::new(0),
        }
    }

    /// An empty table (loom build: loom's primitives have no `const` constructors).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            rows: std::array::from_fn(|_| Row::new()),
            fill: Mutex::new(()),
            full_misses: AtomicUsize::new(0),
        }
    }

    /// The value of environment variable `name`: from the table if it is there, otherwise read
    /// with [`std::env::var_os`] (non-UTF-8 values survive) and kept.
    ///
    /// `None` means the variable was absent at its first read. The value is borrowed from the
    /// table, except when the table is full ([`full_misses`](Self::full_misses)).
    #[inline(always)]
    pub fn get(&self, name: impl AsRef<OsStr>) -> Option<Cow<'_, OsStr>> {
        self.get_with(name, |name| std::env::var_os(name))
    }

    /// Like [`get`](Self::get), but a name that is not in the table is read with `source`
    /// instead of the process environment.
    ///
    /// For tests and embedders: tests fill a table without mutating the real environment, and an
    /// embedder can serve variables from its own configuration. `source` is called at most once
    /// per name for the life of the table, while the table's fill lock is held, except when the
    /// table is full (then on every read, without the lock). It must not read from this same
    /// table: that would wait for the lock its own caller holds.
    ///
    /// ```
    /// use std::ffi::{OsStr, OsString};
    /// use std::os::unix::ffi::{OsStrExt, OsStringExt};
    /// use shmim_envcache::EnvCache;
    ///
    /// let table = EnvCache::<2>::new();
    /// let latin1 = table.get_with("DIR", |_| Some(OsString::from_vec(b"/tmp/caf\xe9".to_vec())));
    /// assert_eq!(latin1.as_deref(), Some(OsStr::from_bytes(b"/tmp/caf\xe9")));
    /// assert_eq!(table.get_with("UNSET", |_| None), None);
    /// ```
    #[inline(always)]
    pub fn get_with<F>(&self, name: impl AsRef<OsStr>, source: F) -> Option<Cow<'_, OsStr>>
    where
        F: FnOnce(&OsStr) -> Option<OsString>,
    {
        let name = name.as_ref();
        match self.lookup(name) {
            Lookup::Hit(entry) => entry.value.as_deref().map(Cow::Borrowed),
            Lookup::Vacant => self.fill(name, source),
            Lookup::Full => self.uncached(name, source),
        }
    }

    /// The number of rows.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The number of names cached so far.
    pub fn len(&self) -> usize {
        self.rows
            .iter()
            .take_while(|row| row.published().is_some())
            .count()
    }

    /// Whether no name is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many reads were served uncached because every row held another name. Non-zero means
    /// the table is too small for the names read through it.
    pub fn full_misses(&self) -> usize {
        // Relaxed: a statistic that publishes no data; nothing is read on the strength of it.
        self.full_misses.load(Ordering::Relaxed)
    }

    /// The fast path: no lock, no allocation, no system call.
    ///
    /// Always inlined (with `get_with`, `get` and `var_os`), so a literal name folds into
    /// constant compares at the call site. Measured by `cargo xtask bench envcache`: inlined, a
    /// hit costs 1.4 ns with a literal name and 2.2 ns with an opaque one; with this scan out of
    /// line, 2.9 ns. The slow paths stay out of line.
    #[inline(always)]
    fn lookup(&self, name: &OsStr) -> Lookup<'_> {
        for row in &self.rows {
            match row.published() {
                Some(entry) if entry.is_for(name) => return Lookup::Hit(entry),
                Some(_) => {}
                // Rows are published in order, so no later row holds a name either (or one was
                // published just now; the slow path looks again under the lock).
                None => return Lookup::Vacant,
            }
        }
        Lookup::Full
    }

    /// The slow path: under the fill lock, look again, then read `name` once and publish it.
    #[cold]
    fn fill<F>(&self, name: &OsStr, source: F) -> Option<Cow<'_, OsStr>>
    where
        F: FnOnce(&OsStr) -> Option<OsString>,
    {
        // A poisoned lock only means a `source` panicked while it was held; rows are written
        // after `source` returns, so the table is intact and the lock is still good.
        let guard = self.fill.lock().unwrap_or_else(PoisonError::into_inner);
        for row in &self.rows {
            // SAFETY: we hold `fill`, the fill lock of the table that owns `row`.
            match unsafe { row.published_locked() } {
                // Another thread published `name` between our scan and our lock.
                Some(entry) if entry.is_for(name) => {
                    return entry.value.as_deref().map(Cow::Borrowed);
                }
                Some(_) => {}
                None => {
                    let value = source(name);
                    let entry = Entry {
                        name: name.to_os_string(),
                        value,
                    };
                    // SAFETY: we hold `fill`, and saw `row` unpublished while holding it.
                    let entry = unsafe { row.publish(entry) };
                    drop(guard);
                    return entry.value.as_deref().map(Cow::Borrowed);
                }
            }
        }
        // Filled up by other threads since our scan.
        drop(guard);
        self.uncached(name, source)
    }

    /// Table full: read `name` again every time, correct but slower, and count it.
    #[cold]
    fn uncached<F>(&self, name: &OsStr, source: F) -> Option<Cow<'_, OsStr>>
    where
        F: FnOnce(&OsStr) -> Option<OsString>,
    {
        // Relaxed: a statistic that publishes no data (see `full_misses`).
        self.full_misses.fetch_add(1, Ordering::Relaxed);
        source(name).map(Cow::Owned)
    }
}

impl<const N: usize> Default for EnvCache<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for EnvCache<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&OsStr> = self
            .rows
            .iter()
            .map_while(Row::published)
            .map(|entry| entry.name.as_os_str())
            .collect();
        f.debug_struct("EnvCache")
            .field("capacity", &N)
            .field("names", &names)
            .field("full_misses", &self.full_misses())
            .finish()
    }
}
