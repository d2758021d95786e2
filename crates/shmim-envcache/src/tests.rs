//! Unit tests. They fill tables through custom sources and never mutate the real environment.

use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::panic::catch_unwind;

use crate::EnvCache;

fn some(s: &str) -> Option<OsString> {
    Some(OsString::from(s))
}

fn value<'a>(v: &'a Option<Cow<'_, OsStr>>) -> Option<&'a OsStr> {
    v.as_deref()
}

#[test]
fn first_read_returns_source_value_and_caches_it() {
    let table = EnvCache::<4>::new();
    let calls = Cell::new(0);
    let v = table.get_with("A", |name| {
        calls.set(calls.get() + 1);
        assert_eq!(name, "A");
        some("alpha")
    });
    assert_eq!(value(&v), Some(OsStr::new("alpha")));
    assert_eq!(calls.get(), 1);
    assert_eq!(table.len(), 1);
}

#[test]
fn hit_is_borrowed_from_the_table_without_calling_source() {
    let table = EnvCache::<4>::new();
    let _ = table.get_with("A", |_| some("alpha"));
    let hit = table.get_with("A", |_| panic!("source called on a hit"));
    assert!(matches!(hit, Some(Cow::Borrowed(v)) if v == "alpha"));
}

#[test]
fn first_read_freezes_the_value() {
    let table = EnvCache::<4>::new();
    let _ = table.get_with("A", |_| some("before"));
    let later = table.get_with("A", |_| some("after"));
    assert_eq!(value(&later), Some(OsStr::new("before")));
}

#[test]
fn absent_variable_is_cached_as_absent() {
    let table = EnvCache::<4>::new();
    assert_eq!(table.get_with("UNSET", |_| None), None);
    assert_eq!(table.get_with("UNSET", |_| some("set later")), None);
    assert_eq!(table.len(), 1);
    assert_eq!(table.full_misses(), 0);
}

#[test]
fn different_names_get_their_own_rows() {
    let table = EnvCache::<4>::new();
    let _ = table.get_with("A", |_| some("alpha"));
    let _ = table.get_with("AB", |_| some("alpha-beta"));
    let _ = table.get_with("B", |_| None);
    assert_eq!(
        value(&table.get_with("A", |_| None)),
        Some(OsStr::new("alpha"))
    );
    assert_eq!(
        value(&table.get_with("AB", |_| None)),
        Some(OsStr::new("alpha-beta"))
    );
    assert_eq!(table.get_with("B", |_| some("bravo")), None);
    assert_eq!(table.len(), 3);
}

#[test]
fn names_of_every_length_match_only_themselves() {
    let base = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for len in 0..=base.len() {
        let table = EnvCache::<2>::new();
        let name = OsStr::from_bytes(&base[..len]);
        let _ = table.get_with(name, |_| some("base"));
        for at in 0..len {
            let mut other = base[..len].to_vec();
            other[at] = b'_';
            let v = table.get_with(OsStr::from_bytes(&other), |_| some("other"));
            assert_eq!(value(&v), Some(OsStr::new("other")), "len {len}, byte {at}");
        }
        let hit = table.get_with(name, |_| panic!("source called on a hit"));
        assert_eq!(value(&hit), Some(OsStr::new("base")), "len {len}");
    }
}

#[test]
fn full_table_returns_uncached_value_and_counts_the_miss() {
    let table = EnvCache::<2>::new();
    let _ = table.get_with("A", |_| some("alpha"));
    let _ = table.get_with("B", |_| some("bravo"));
    assert_eq!(table.full_misses(), 0);

    let first = table.get_with("C", |_| some("charlie-1"));
    assert!(matches!(first, Some(Cow::Owned(ref v)) if v == "charlie-1"));
    assert_eq!(table.full_misses(), 1);
    // Not cached: the source is read again, and the counter keeps counting.
    let second = table.get_with("C", |_| some("charlie-2"));
    assert_eq!(value(&second), Some(OsStr::new("charlie-2")));
    assert_eq!(table.get_with("D", |_| None), None);
    assert_eq!(table.full_misses(), 3);
    // Cached names still hit.
    let hit = table.get_with("A", |_| panic!("source called on a hit"));
    assert!(matches!(hit, Some(Cow::Borrowed(v)) if v == "alpha"));
    assert_eq!(table.len(), 2);
}

#[test]
fn zero_capacity_table_serves_everything_uncached() {
    let table = EnvCache::<0>::new();
    assert_eq!(
        value(&table.get_with("A", |_| some("alpha"))),
        Some(OsStr::new("alpha"))
    );
    assert_eq!(table.full_misses(), 1);
    assert!(table.is_empty());
}

#[test]
fn non_utf8_value_survives() {
    let table = EnvCache::<2>::new();
    let bytes = b"/data/caf\xe9/\xff";
    let _ = table.get_with("DIR", |_| Some(OsString::from_vec(bytes.to_vec())));
    let hit = table.get_with("DIR", |_| None);
    assert_eq!(value(&hit).map(OsStr::as_bytes), Some(&bytes[..]));
}

#[test]
fn non_utf8_name_is_matched_bytewise() {
    let table = EnvCache::<2>::new();
    let name = OsStr::from_bytes(b"N\xff");
    let _ = table.get_with(name, |_| some("latin"));
    let hit = table.get_with(OsStr::from_bytes(b"N\xff"), |_| None);
    assert_eq!(value(&hit), Some(OsStr::new("latin")));
    assert_eq!(table.get_with(OsStr::from_bytes(b"N\xfe"), |_| None), None);
}

#[test]
fn panicking_source_leaves_the_table_usable() {
    let table = EnvCache::<2>::new();
    let panicked = catch_unwind(|| {
        table.get_with("A", |_| panic!("source failed"));
    });
    assert!(panicked.is_err());
    assert!(table.is_empty());
    assert_eq!(
        value(&table.get_with("A", |_| some("alpha"))),
        Some(OsStr::new("alpha"))
    );
    assert_eq!(table.len(), 1);
}

#[test]
fn get_reads_the_process_environment() {
    // Read-only: compares with std for a variable that is usually set and one that is never set.
    let table = EnvCache::<2>::new();
    assert_eq!(
        table.get("PATH").as_deref(),
        std::env::var_os("PATH").as_deref()
    );
    let unset = "SHMIM_ENVCACHE_TEST_NEVER_SET_8d1f";
    assert_eq!(table.get(unset), None);
}

#[test]
fn global_var_os_matches_std_and_is_one_table() {
    assert_eq!(
        crate::var_os("HOME").as_deref(),
        std::env::var_os("HOME").as_deref()
    );
    assert!(std::ptr::eq(crate::global(), crate::global()));
    assert_eq!(crate::global().capacity(), 8);
}

#[test]
fn table_can_be_a_const_initialised_static() {
    static TABLE: EnvCache<3> = EnvCache::new();
    let v: Option<Cow<'static, OsStr>> = TABLE.get_with("S", |_| some("static"));
    assert!(matches!(v, Some(Cow::Borrowed(s)) if s == "static"));
}

#[test]
fn debug_lists_cached_names_in_order() {
    let table = EnvCache::<3>::new();
    let _ = table.get_with("A", |_| None);
    let _ = table.get_with("B", |_| None);
    let shown = format!("{table:?}");
    assert_eq!(
        shown,
        r#"EnvCache { capacity: 3, names: ["A", "B"], full_misses: 0 }"#
    );
}
