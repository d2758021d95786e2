//! Process-wide state that a forked child never inherits: [`ForkLocal`].
//!
//! `fork` copies the memory of the process as it is, with only the forking thread. Process-wide
//! state guarded by a lock breaks there in two ways: a lock another thread held at that instant
//! stays held for ever in the child (its holder does not exist there), so the child hangs on
//! it; and what the state records (frames *this process* abandoned, for instance) is the
//! parent's, not the child's, so the child would act on its parent's behalf.
//!
//! A `ForkLocal<T>` hands every process its own `T`, made on first use and stamped with the PID
//! that made it. A caller passes its PID (`pid::current()`, which is right in a forked child);
//! when the stamp differs, the value is the parent's: it is left untouched (never locked, never
//! read, never freed: another thread of the child may be looking at its stamp) and a fresh one
//! takes its place. So a child never waits on a lock its parent's threads held, and never sees
//! what they recorded.
//!
//! The current value is one atomic pointer; a new one is put in place by compare-and-swap, so two
//! threads of a fresh child that race to replace the parent's value agree on one (the loser
//! drops its own, unused). Values are freed only when the `ForkLocal` itself is dropped: a
//! `static` one never is, and keeps one value per process generation that used it.
//!
//! Limit: a child made by a raw `clone` that bypasses glibc's `fork` keeps its parent's cached PID
//! (see [`crate::pid`]) and so its parent's value.

use std::marker::PhantomData;
use std::sync::atomic::Ordering::{AcqRel, Acquire};

#[cfg(loom)]
use loom::sync::atomic::AtomicPtr;
#[cfg(not(loom))]
use std::sync::atomic::AtomicPtr;

/// A value of this process: a forked child gets a fresh one instead of its parent's.
pub struct ForkLocal<T> {
    current: AtomicPtr<Stamped<T>>,
    _owns: PhantomData<Box<Stamped<T>>>,
}

/// A value, the PID of the process it belongs to, and the value it replaced (kept, never used
/// again, until the `ForkLocal` is dropped).
struct Stamped<T> {
    pid: i32,
    value: T,
    replaced: *mut Stamped<T>,
}

// SAFETY: the `ForkLocal` owns its values (moving it moves them: `T: Send`), and shares `&T`
// with every thread that calls `get` (`T: Sync`); the raw pointers are only followed under the
// rules of `get` and `drop`.
unsafe impl<T: Send> Send for ForkLocal<T> {}
// SAFETY: as above; `get` publishes each value through the atomic pointer (Release on the CAS
// that installs it, Acquire on every load), so a thread that finds it sees it whole.
unsafe impl<T: Send + Sync> Sync for ForkLocal<T> {}

impl<T> ForkLocal<T> {
    /// No value yet (a `static` can hold one).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            current: AtomicPtr::new(std::ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// No value yet (loom's atomics cannot be made in a `const fn`).
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            current: AtomicPtr::new(std::ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// The value of process `me` (the caller's PID), made with `make` if this process has none
    /// yet: on first use, and on first use in a forked child (the parent's value is left as the
    /// fork copied it).
    pub fn get(&self, me: i32, make: impl FnOnce() -> T) -> &T {
        // Acquire: pairs with the Release of the CAS that installed the value, so its stamp and
        // contents are seen whole.
        let mut seen = self.current.load(Acquire);
        let mut make = Some(make);
        let mut fresh: Option<Box<Stamped<T>>> = None;
        loop {
            // SAFETY: a non-null pointer in `current` is a value installed below and never freed
            // before `self` is dropped (`&self` keeps it alive).
            if let Some(found) = unsafe { seen.as_ref() } {
                if found.pid == me {
                    return &found.value;
                }
            }
            let mut ours = fresh.take().unwrap_or_else(|| {
                let make = make.take().expect("made at most once");
                Box::new(Stamped {
                    pid: me,
                    value: make(),
                    replaced: std::ptr::null_mut(),
                })
            });
            ours.replaced = seen;
            let ours = Box::into_raw(ours);
            // AcqRel on success: Release publishes our value to the next loads; Acquire on
            // failure: the value someone else installed is read whole on the next round.
            match self.current.compare_exchange(seen, ours, AcqRel, Acquire) {
                // SAFETY: just installed, freed only by `drop(&mut self)`.
                Ok(_) => return unsafe { &(*ours).value },
                Err(actual) => {
                    // SAFETY: `ours` came from `Box::into_raw` above and was never shared.
                    fresh = Some(unsafe { Box::from_raw(ours) });
                    seen = actual;
                }
            }
        }
    }
}

#[cfg(not(loom))]
impl<T> Default for ForkLocal<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for ForkLocal<T> {
    fn drop(&mut self) {
        // `&mut self`: nobody else can be looking at any value now.
        #[cfg(not(loom))]
        let mut next = *self.current.get_mut();
        #[cfg(loom)]
        let mut next = self.current.with_mut(|p| *p);
        while !next.is_null() {
            // SAFETY: every pointer of the chain came from `Box::into_raw` in `get`, was
            // installed once, and is freed once, here.
            let stamped = unsafe { Box::from_raw(next) };
            next = stamped.replaced;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_process_gets_one_value_and_a_child_a_fresh_one() {
        let local: ForkLocal<Mutex<Vec<u32>>> = ForkLocal::new();
        local.get(10, Mutex::default).lock().unwrap().push(1);
        local.get(10, || unreachable!()).lock().unwrap().push(2);
        assert_eq!(*local.get(10, || unreachable!()).lock().unwrap(), [1, 2]);
        // A child (another PID) never sees the parent's records, nor waits on its lock.
        let parents = local.get(10, || unreachable!()).lock().unwrap();
        assert!(local.get(11, Mutex::default).lock().unwrap().is_empty());
        drop(parents);
        // And its grandchild, not the child's.
        local.get(11, || unreachable!()).lock().unwrap().push(3);
        assert!(local.get(12, Mutex::default).lock().unwrap().is_empty());
    }

    #[test]
    fn threads_racing_to_make_the_value_agree_on_one() {
        let local: ForkLocal<u64> = ForkLocal::new();
        let made = Mutex::new(Vec::new());
        // Addresses, compared as numbers only.
        let seen: Vec<usize> = std::thread::scope(|s| {
            let racers: Vec<_> = (0..4u64)
                .map(|i| {
                    let (local, made) = (&local, &made);
                    s.spawn(move || {
                        let v = local.get(7, || {
                            made.lock().unwrap().push(i);
                            i
                        });
                        std::ptr::from_ref(v).addr()
                    })
                })
                .collect();
            racers.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "one value for all");
        assert!(!made.lock().unwrap().is_empty());
    }
}
