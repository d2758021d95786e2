//! One accessor family for every shared field.
//!
//! A shared field is a plain integer in a `shmim-layout` struct that lives in a mapping other
//! processes write. [`view`] turns a pointer to such a field into a reference to the matching
//! std atomic (`AtomicU64::from_ptr` and friends): legal for aligned memory that is only ever
//! accessed atomically while the view lives, and the exact counterpart of C's `__atomic_load_n`
//! on a plain `uint64_t` (never a cast to `_Atomic`).
//!
//! Protocol code is generic over [`AtomicCell`], implemented by std's atomics (what [`view`]
//! returns) and by loom's (for the models). Adding a field never adds a function: the field is
//! named by its pointer (`view(&raw mut (*md).cnt0)`), the width by its type.
//!
//! [`Field`] wraps a view with operations named for what they mean, for callers outside this crate
//! that must not pick orderings themselves.

use std::sync::atomic::{
    AtomicI32, AtomicI64, AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering,
};

/// The operations protocols need from an atomic integer cell.
///
/// Return convention (one for all): [`fetch_add`](Self::fetch_add) returns the **previous**
/// value, wrapping on overflow; [`compare_exchange`](Self::compare_exchange) returns `Ok(previous)`
/// on success and `Err(actual)` on failure.
pub trait AtomicCell<T> {
    /// Atomic load.
    fn load(&self, order: Ordering) -> T;
    /// Atomic store.
    fn store(&self, value: T, order: Ordering);
    /// Atomic wrapping add; returns the previous value.
    fn fetch_add(&self, value: T, order: Ordering) -> T;
    /// Atomic compare-and-swap (strong).
    fn compare_exchange(
        &self,
        current: T,
        new: T,
        success: Ordering,
        failure: Ordering,
    ) -> Result<T, T>;
}

/// An integer type that shared fields use, with its std atomic counterpart.
pub trait Word: Copy + Eq + core::fmt::Debug + sealed::Sealed + 'static {
    /// The std atomic of the same size and alignment.
    type Atomic: AtomicCell<Self> + Sync + 'static;

    /// # Safety
    /// As for [`view`].
    unsafe fn atomic<'a>(p: *mut Self) -> &'a Self::Atomic;
}

mod sealed {
    pub trait Sealed {}
}

/// Borrows the field at `p` as its atomic counterpart for `'a`.
///
/// # Safety
/// `p` must be non-null, aligned for `T` (every shmim-layout field is, by the compile-time offset
/// assertions, when the mapping is page-aligned), and valid for reads and writes for all of `'a`
/// (the mapping outlives the view). While the view lives, every access to the field from this
/// process must be atomic (other processes are the C side's contract: the legacy library uses plain
/// stores of aligned words, which are single instructions on x86_64).
#[inline]
pub unsafe fn view<'a, T: Word>(p: *mut T) -> &'a T::Atomic {
    // SAFETY: forwarded to the caller.
    unsafe { T::atomic(p) }
}

macro_rules! word {
    ($t:ty, $a:ident) => {
        impl sealed::Sealed for $t {}

        impl Word for $t {
            type Atomic = $a;

            #[inline]
            unsafe fn atomic<'a>(p: *mut Self) -> &'a $a {
                // SAFETY: the caller guarantees alignment, validity for 'a and atomic-only access
                // (the `from_ptr` contract); `$a` has the size and alignment of `$t` on x86_64.
                unsafe { <$a>::from_ptr(p) }
            }
        }

        impl AtomicCell<$t> for $a {
            #[inline]
            fn load(&self, order: Ordering) -> $t {
                <$a>::load(self, order)
            }
            #[inline]
            fn store(&self, value: $t, order: Ordering) {
                <$a>::store(self, value, order)
            }
            #[inline]
            fn fetch_add(&self, value: $t, order: Ordering) -> $t {
                <$a>::fetch_add(self, value, order)
            }
            #[inline]
            fn compare_exchange(&self, c: $t, n: $t, s: Ordering, f: Ordering) -> Result<$t, $t> {
                <$a>::compare_exchange(self, c, n, s, f)
            }
        }

        #[cfg(loom)]
        impl AtomicCell<$t> for loom::sync::atomic::$a {
            fn load(&self, order: Ordering) -> $t {
                loom::sync::atomic::$a::load(self, order)
            }
            fn store(&self, value: $t, order: Ordering) {
                loom::sync::atomic::$a::store(self, value, order)
            }
            fn fetch_add(&self, value: $t, order: Ordering) -> $t {
                loom::sync::atomic::$a::fetch_add(self, value, order)
            }
            fn compare_exchange(&self, c: $t, n: $t, s: Ordering, f: Ordering) -> Result<$t, $t> {
                loom::sync::atomic::$a::compare_exchange(self, c, n, s, f)
            }
        }
    };
}

word!(u8, AtomicU8);
word!(u16, AtomicU16);
word!(u32, AtomicU32);
word!(i32, AtomicI32);
word!(i64, AtomicI64);
word!(u64, AtomicU64);

/// A shared field with operations named for their meaning; the orderings are decided here.
pub struct Field<'a, T: Word>(&'a T::Atomic);

// Written by hand: `derive` would require `T::Atomic: Copy` (it bounds the projection in the
// field), which no atomic is, and the view would silently not be `Copy`.
impl<T: Word> Clone for Field<'_, T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Word> Copy for Field<'_, T> {}

impl<'a, T: Word> Field<'a, T> {
    /// Views the field at `p`.
    ///
    /// # Safety
    /// As for [`view`].
    #[inline]
    pub unsafe fn new(p: *mut T) -> Self {
        // SAFETY: forwarded to the caller.
        Self(unsafe { view(p) })
    }

    /// The atomic cell, for the protocols of this crate.
    #[inline]
    pub fn cell(&self) -> &'a T::Atomic {
        self.0
    }

    /// The current value, with no ordering: for monitoring and for fields that carry no payload
    /// (a PID, a counter someone prints).
    #[inline]
    pub fn peek(&self) -> T {
        self.0.load(Ordering::Relaxed)
    }

    /// The current value, and everything the writer published before storing it
    /// (Acquire; pairs with [`Self::publish`] or the release steps of the protocols).
    #[inline]
    pub fn observe(&self) -> T {
        self.0.load(Ordering::Acquire)
    }

    /// Stores a value that is its own payload (no ordering with other fields).
    #[inline]
    pub fn set(&self, v: T) {
        self.0.store(v, Ordering::Relaxed)
    }

    /// Stores a value after everything this thread wrote before (Release; pairs with
    /// [`Self::observe`]).
    #[inline]
    pub fn publish(&self, v: T) {
        self.0.store(v, Ordering::Release)
    }

    /// Adds `v` (wrapping) after everything this thread wrote before (Release); returns the
    /// previous value.
    #[inline]
    pub fn fetch_add(&self, v: T) -> T {
        self.0.fetch_add(v, Ordering::Release)
    }

    /// Replaces `current` with `new` if the field still holds `current` (AcqRel on success:
    /// ordered after whoever stored `current`, and before our later stores). `Err(actual)`
    /// otherwise.
    #[inline]
    pub fn replace(&self, current: T, new: T) -> Result<T, T> {
        self.0
            .compare_exchange(current, new, Ordering::AcqRel, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    struct Md {
        write: u8,
        _pad: [u8; 7],
        cnt0: u64,
        pid: i32,
    }

    #[test]
    fn one_family_serves_fields_of_every_width() {
        let mut md = Md {
            write: 0,
            _pad: [0; 7],
            cnt0: 41,
            pid: -1,
        };
        let p: *mut Md = &mut md;
        // SAFETY: `p` points to a live, aligned local; all accesses below go through the views.
        let (write, cnt0, pid) = unsafe {
            (
                Field::new(&raw mut (*p).write),
                Field::new(&raw mut (*p).cnt0),
                Field::new(&raw mut (*p).pid),
            )
        };
        assert_eq!(
            cnt0.fetch_add(1),
            41,
            "fetch_add returns the previous value"
        );
        assert_eq!(cnt0.observe(), 42);
        assert_eq!(write.replace(0, 1), Ok(0));
        assert_eq!(write.replace(0, 1), Err(1));
        pid.set(1234);
        assert_eq!(pid.peek(), 1234);
        assert_eq!((md.write, md.cnt0, md.pid), (1, 42, 1234));
    }

    #[test]
    fn a_field_view_is_copy() {
        fn is_copy<C: Copy>(_: C) {}
        let mut v = 0u64;
        // SAFETY: `v` is a live local, accessed only through the view here.
        let f = unsafe { Field::new(&raw mut v) };
        is_copy(f);
        f.set(1);
        assert_eq!(f.peek(), 1);
    }

    #[test]
    fn fetch_add_wraps() {
        let mut v = u8::MAX;
        // SAFETY: `v` is a live local, accessed only through the view here.
        let f = unsafe { Field::new(&raw mut v) };
        assert_eq!(f.fetch_add(1), u8::MAX);
        assert_eq!(f.peek(), 0);
    }
}
