//! The C API exercised by C programs (`tests/c/`), built with `cc` against an installation of
//! this build, alone and facing each other or Rust across processes.

mod common;

use std::time::Duration;

use common::{Peer, StreamDir, frame, run, toolchain};
use shmim_core::{Datatype, Stream, StreamSpec, Value};

#[test]
fn c_create_open_close_destroy_fill_every_field_as_the_format_says() {
    let dir = StreamDir::new("lifecycle");
    run(&toolchain().build("lifecycle.c"), &[], &dir);
}

#[test]
fn c_local_images_are_separate_heap_blocks_freed_by_milk_or_by_destroy_or_close() {
    let exe = toolchain().build("local_image.c");
    for how in ["milk", "destroy", "close"] {
        let dir = StreamDir::new(&format!("local-{how}"));
        run(&exe, &[how], &dir);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "a local image made a file"
        );
    }
}

#[test]
fn c_filename_truncation_circular_slices_and_destroying_a_damaged_stream() {
    let dir = StreamDir::new("legacy-edges");
    run(&toolchain().build("legacy_edges.c"), &[], &dir);
}

#[test]
fn c_slice_helpers_are_arithmetic_on_a_hand_built_image() {
    let dir = StreamDir::new("helpers-by-hand");
    run(&toolchain().build("helpers_by_hand.c"), &[], &dir);
}

#[test]
fn c_local_images_take_any_name_and_answer_semaphore_calls_quietly_as_legacy() {
    let dir = StreamDir::new("local-legacy");
    let out = run(&toolchain().build("local_legacy.c"), &[], &dir);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("ERROR"),
        "a call printed"
    );
}

#[test]
fn c_open_fails_at_once_leaves_used_alone_and_destroy_spares_opened_handles() {
    let dir = StreamDir::new("open-legacy");
    run(&toolchain().build("open_legacy.c"), &[], &dir);
}

#[test]
fn c_gpu_streams_neither_open_nor_get_created_without_cuda() {
    let dir = StreamDir::new("gpu");
    let spec = StreamSpec::new(&[4, 4], Datatype::Float)
        .gpu(0)
        .semaphores(2)
        .dir(dir.path());
    let gpu = Stream::create("gpu", &spec).unwrap();
    run(&toolchain().build("gpu_streams.c"), &[], &dir);
    gpu.destroy().unwrap();
}

#[test]
fn c_streams_reshaped_in_place_keep_publishing_and_waking_readers() {
    let dir = StreamDir::new("reshape");
    run(&toolchain().build("reshape.c"), &[], &dir);
}

#[test]
fn c_threads_blocked_in_waits_or_the_post_loop_are_cancelled_cleanly() {
    let dir = StreamDir::new("cancel");
    run(&toolchain().build("cancel.c"), &[], &dir);
}

#[test]
fn c_clock_isio_is_the_clock_updateim_stamps_whatever_the_include_order() {
    let dir = StreamDir::new("clock");
    run(&toolchain().build("clock_isio.c"), &[], &dir);
}

#[test]
fn c_type_helpers_match_the_datatype_table_for_every_code() {
    let dir = StreamDir::new("types");
    run(&toolchain().build("types.c"), &[], &dir);
}

#[test]
fn c_bad_input_returns_error_codes_through_the_print_hook() {
    let dir = StreamDir::new("errors");
    let out = run(&toolchain().build("errors.c"), &[], &dir);
    // The default printer, restored at the end, wrote one line with code, function and place.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ImageStreamIO error 10 (INVALIDARG) in ImageStreamIO_sempost [")
            && stderr.contains("semaphore index 3 out of range"),
        "{stderr}"
    );
}

#[test]
fn c_semaphores_post_saturate_flush_wait_and_register_readers() {
    let dir = StreamDir::new("semaphores");
    run(&toolchain().build("semaphores.c"), &[], &dir);
}

#[test]
fn c_circular_buffer_and_slice_helpers() {
    let dir = StreamDir::new("circbuf");
    run(&toolchain().build("circbuf.c"), &[], &dir);
}

#[test]
fn c_inode_checks_and_relink_follow_replaced_and_aliased_streams() {
    let dir = StreamDir::new("inode");
    run(&toolchain().build("inode.c"), &[], &dir);
}

#[test]
fn c_frames_of_every_writing_style_never_change_the_owner_pid_milk_sets() {
    let dir = StreamDir::new("owner-pid");
    run(&toolchain().build("owner_pid.c"), &[], &dir);
}

#[test]
fn c_waiter_on_a_replaced_stream_times_out_at_its_deadline_then_sees_the_new_inode() {
    let dir = StreamDir::new("replaced-wait");
    run(&toolchain().build("replaced_wait.c"), &[], &dir);
}

/// A process whose main thread called `pthread_exit` while another thread holds the write flag
/// and a segment lock is alive for `ImageStreamIO_atomic.h` and `ImageStreamIO_lock.h` (its main
/// thread reads as a zombie in `/proc/PID/stat`), and dead once its last thread has ended.
#[test]
fn c_headers_judge_a_process_alive_while_a_thread_runs_after_its_main_thread_exited() {
    let dir = StreamDir::new("main-thread-exited");
    run(&toolchain().build("main_thread_exited.c"), &[], &dir);
}

/// A segment lock or write flag held by another user's process, killed and not reaped, is taken
/// over by the C headers as by Rust: `kill(pid, 0)` failing with `EPERM` says the process exists,
/// not that it is alive, so `/proc` decides (runs under other uids when root, else passes saying so).
#[test]
fn c_headers_judge_another_users_unreaped_zombie_dead() {
    let dir = StreamDir::new("other-users-zombie");
    run(&toolchain().build("other_users_zombie.c"), &[], &dir);
}

#[test]
fn keywords_written_through_im_kw_are_read_by_rust() {
    let dir = StreamDir::new("keywords");
    run(&toolchain().build("keywords.c"), &[], &dir);
    let stream = Stream::open_in(dir.path(), "kw").unwrap();
    let kw = stream.keywords().unwrap();
    let got: Vec<(&str, &Value, &str)> = kw
        .iter()
        .map(|k| (k.name.as_str(), &k.value, k.comment.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("EXPTIME", &Value::Double(0.001), "exposure time [s]"),
            ("GAIN", &Value::Long(-42), ""),
            ("CAMERA", &Value::Str("ocam2k".into()), "detector"),
        ]
    );
    assert!(kw.iter().all(|k| k.cnt == 1));
}

/// Relays "got k" from the reader into "next" for the writer, for `n` frames.
fn lockstep(writer: &mut Peer, reader: &mut Peer, n: u64) {
    writer.send("go");
    for k in 1..=n {
        reader.expect(&format!("got {k}"));
        if k < n {
            writer.send("next");
        }
    }
    writer.expect("done");
}

#[test]
fn c_writer_frames_reach_a_c_reader_in_another_process() {
    let t = toolchain();
    let dir = StreamDir::new("c_to_c");
    let mut writer = Peer::spawn(&t.build("writer.c"), &["pair", "50", "lockstep"], &dir);
    writer.expect("created");
    let mut reader = Peer::spawn(&t.build("reader.c"), &["pair", "50"], &dir);
    reader.expect("ready");
    lockstep(&mut writer, &mut reader, 50);
    writer.finish();
    reader.finish();
}

#[test]
fn rust_writer_frames_reach_a_c_reader() {
    let dir = StreamDir::new("rust_to_c");
    let spec = StreamSpec::new(&[64, 64], Datatype::U32).dir(dir.path());
    let mut stream = Stream::create("fromrust", &spec).unwrap();
    let mut reader = Peer::spawn(&toolchain().build("reader.c"), &["fromrust", "50"], &dir);
    reader.expect("ready");
    for k in 1..=50 {
        assert_eq!(stream.write_frame(&frame(k)).unwrap(), k);
        reader.expect(&format!("got {k}"));
    }
    reader.finish();
    stream.destroy().unwrap();
}

#[test]
fn c_writer_frames_are_read_consistently_by_a_rust_reader() {
    let dir = StreamDir::new("c_to_rust");
    let n = 2000;
    let mut writer = Peer::spawn(
        &toolchain().build("writer.c"),
        &["torust", &n.to_string(), "free"],
        &dir,
    );
    writer.expect("created");
    let stream = Stream::open_in(dir.path(), "torust").unwrap();
    let mut reader = stream.reader().unwrap();
    reader.set_read_timeout(Duration::from_secs(10));
    writer.send("go");
    let mut buf = vec![0u32; 4096];
    let (mut last, mut accepted) = (0, 0);
    while last < n {
        reader.wait_timeout(Duration::from_secs(60)).unwrap();
        let k = reader.read_into(&mut buf).unwrap();
        assert!(k >= last, "frame numbers go forward");
        assert!(buf == frame(k), "frame {k} copied whole");
        last = k;
        accepted += 1;
    }
    assert!(accepted > 0);
    writer.expect("done");
    writer.finish();
}

#[test]
fn c_reader_never_accepts_a_torn_frame_from_a_free_running_c_writer() {
    let t = toolchain();
    let dir = StreamDir::new("c_stress");
    let mut writer = Peer::spawn(&t.build("writer.c"), &["stress", "3000", "free"], &dir);
    writer.expect("created");
    let mut reader = Peer::spawn(&t.build("stress_reader.c"), &["stress", "3000"], &dir);
    reader.expect("ready");
    writer.send("go");
    writer.expect("done");
    writer.finish();
    reader.finish();
}

#[test]
fn atomic_header_protocol_is_clean_under_thread_sanitizer() {
    let t = toolchain();
    let dir = StreamDir::new("tsan");
    let include = format!("-I{}", t.prefix.join("include/ImageStreamIO").display());
    let helpers = format!("-I{}", common::c_dir().display());
    let config = format!("-I{}", common::config_dir());
    let flags = [
        "-fsanitize=thread",
        "-O1",
        "-g",
        "-pthread",
        "-Wall",
        "-Wextra",
        "-Werror",
        &include,
        &helpers,
        &config,
    ];
    let exe = t.build_with("cc", "atomic_tsan.c", &flags, &[], false);
    let out = std::process::Command::new(&exe)
        .env("MILK_SHM_DIR", dir.path())
        .env("TSAN_OPTIONS", "halt_on_error=1 exitcode=66")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("ThreadSanitizer"),
        "{}\n{stderr}",
        out.status
    );

    // The same program with a plain memcpy in the readers: TSan must see the race.
    let broken: Vec<&str> = flags.iter().copied().chain(["-DBROKEN_READER"]).collect();
    let exe = t.build_with("cc", "atomic_tsan.c", &broken, &[], false);
    let out = std::process::Command::new(&exe)
        .env("TSAN_OPTIONS", "halt_on_error=1 exitcode=66")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("WARNING: ThreadSanitizer: data race"),
        "the racy variant was not caught: {}\n{stderr}",
        out.status
    );
}

#[test]
fn c_close_unmaps_a_stream_whose_descriptor_the_program_closed_itself() {
    let dir = StreamDir::new("close-unmaps");
    run(
        &toolchain().build("robust_edges.c"),
        &["close-unmaps"],
        &dir,
    );
}

#[test]
fn c_calls_succeed_when_the_directory_warning_cannot_be_written() {
    let exe = toolchain().build("robust_edges.c");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = common::checked(
        std::process::Command::new(&exe)
            .arg("stderr-full")
            .env("MILK_SHM_DIR", "/nonexistent/shmim-stderr-full")
            .stderr(full),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("filename 0 0 /"), "{stdout}");
}
