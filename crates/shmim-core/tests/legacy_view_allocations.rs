//! The C library wraps an `IMAGE`'s memory in a [`View`] on every call (`UpdateIm`, `sempost`…):
//! making one, publishing and posting through it must not touch the heap. An allocation per call
//! (the view's seldom-used part made eagerly) made `UpdateIm` and `sempost` a third slower
//! (`cargo xtask bench capi`); counting allocations pins it without a clock.
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::StreamDir;
use shmim_core::legacy::View;
use shmim_core::validate::Geometry;
use shmim_core::{Datatype, Stream, StreamSpec};

/// The system allocator, counting this thread's allocations while a count is open.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<Option<usize>> = const { Cell::new(None) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting only reads and
// writes a const-initialised thread-local cell, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get().map(|n| n + 1)));
        // SAFETY: forwarded to the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded to the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// How many times `f` allocated on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(Some(0)));
    f();
    ALLOCATIONS.with(|n| n.take()).unwrap()
}

#[test]
fn a_view_of_c_memory_publishes_and_posts_without_allocating() {
    let dir = StreamDir::new("view-allocations");
    let spec = StreamSpec::new(&[64, 64], Datatype::Float)
        .semaphores(10)
        .dir(dir.path());
    drop(Stream::create("v", &spec).unwrap());
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.file("v"))
        .unwrap();
    // SAFETY: a shared mapping of a stream file nobody truncates during the test.
    let mut map = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
    let (base, len) = (map.as_mut_ptr(), map.len());
    // SAFETY: the mapping is page-aligned and valid for its whole length while `map` lives,
    // which outlives every view made here.
    let geometry = unsafe { View::new(base, len) }.unwrap().geometry().clone();
    // What the C library does per call: a view over the bounds it checked, then the work.
    let call = |geo: Geometry| {
        // SAFETY: as above, with the geometry validated for this very memory.
        let view = unsafe { View::bounded(base, geo) };
        view.update(None).unwrap();
        view.post_all();
        view.post(3).unwrap();
    };
    call(geometry.clone()); // once before counting: this process's PID is cached on first use
    let geo = geometry.clone();
    assert_eq!(
        allocations_in(|| call(geo)),
        0,
        "a C call through a view allocated"
    );
}
