//! The C test programs again, built with `-fsanitize=address,undefined` against the installed
//! library: create/open/close/destroy, types, bad input (names included), keywords, semaphores,
//! circular buffer, relink, and a writer and a reader process. The library itself is Rust and not
//! instrumented, but every `malloc`/`free` it makes goes through ASan's allocator, so a leaked,
//! overrun or double-freed `semptr` (or any other block) is reported; `asan_canary.c` proves it.

mod common;

use common::{Peer, StreamDir, asan_command, run_asan, toolchain};

/// Single-process programs of `tests/c/` covering every group of the C API.
const PROGRAMS: &[&str] = &[
    "lifecycle.c",
    "types.c",
    "errors.c",
    "keywords.c",
    "semaphores.c",
    "circbuf.c",
    "inode.c",
    "legacy_style.c",
    "legacy_edges.c",
    "helpers_by_hand.c",
    "local_legacy.c",
    "reshape.c",
    "cancel.c",
    "owner_pid.c",
    "replaced_wait.c",
    "main_thread_exited.c",
    "other_users_zombie.c",
];

#[test]
fn c_programs_are_clean_under_address_and_undefined_behaviour_sanitizers() {
    let t = toolchain();
    for src in PROGRAMS {
        let dir = StreamDir::new(&format!("asan-{src}"));
        run_asan(&t.build_asan(src), &[], dir.path());
    }
}

/// A local image freed the milk way (`free(array); free(md); free(kw)`), by `destroyIm` or by
/// `closeIm`: no invalid or double free, no leak.
#[test]
fn c_local_images_are_freed_cleanly_under_asan_by_milk_destroy_and_close() {
    let exe = toolchain().build_asan("local_image.c");
    for how in ["milk", "destroy", "close"] {
        let dir = StreamDir::new(&format!("asan-local-{how}"));
        run_asan(&exe, &[how], dir.path());
    }
}

#[test]
fn c_writer_and_reader_processes_are_clean_under_asan() {
    let t = toolchain();
    let dir = StreamDir::new("asan-pair");
    let mut writer = Peer::start(asan_command(
        &t.build_asan("writer.c"),
        &["pair", "30", "lockstep"],
        dir.path(),
    ));
    writer.expect("created");
    let mut reader = Peer::start(asan_command(
        &t.build_asan("reader.c"),
        &["pair", "30"],
        dir.path(),
    ));
    reader.expect("ready");
    writer.send("go");
    for k in 1..=30 {
        reader.expect(&format!("got {k}"));
        if k < 30 {
            writer.send("next");
        }
    }
    writer.expect("done");
    // A sanitizer finding exits non-zero, which `finish` rejects.
    writer.finish();
    reader.finish();
}

#[test]
fn asan_sees_leaks_and_overruns_of_the_librarys_heap_blocks() {
    let t = toolchain();
    let exe = t.build_asan("asan_canary.c");
    let dir = StreamDir::new("asan-canary");
    run_asan(&exe, &["clean"], dir.path());
    for (mode, report) in [
        ("leak", "ERROR: LeakSanitizer: detected memory leaks"),
        ("overflow", "ERROR: AddressSanitizer: heap-buffer-overflow"),
    ] {
        let out = asan_command(&exe, &[mode], dir.path()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() == Some(86) && stderr.contains(report),
            "{mode}: not reported ({})\n{stderr}",
            out.status
        );
        // The block is the library's: allocated inside libImageStreamIO, not by the program.
        assert!(stderr.contains("handle::fill"), "{mode}: {stderr}");
    }
}
