//! The `shmim` binary, run for real against private stream directories.
//!
//! Every test gets its own directory (passed with `--dir`, or as `MILK_SHM_DIR` on the child),
//! never touches the test process's environment, and bounds every child it starts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

/// A private directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("shmim-cli-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child we started, killed if the test ends early.
struct Bg(Child);

/// `shmim --dir DIR ARGS…` started in the background, its output where `stdout` and `stderr` say.
fn shmim_bg(dir: &Path, args: &[&str], stdout: Stdio, stderr: Stdio) -> Bg {
    Bg(StdCommand::new(bin())
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap())
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> &'static Path {
    assert_cmd::cargo::cargo_bin!("shmim")
}

/// `shmim --dir DIR ARGS…`, bounded by a timeout.
fn shmim(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--dir")
        .arg(dir)
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts a failure reported as exactly one `shmim: …` line containing `needle`.
fn one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "expected a failure");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got:\n{err}");
    assert!(lines[0].starts_with("shmim: "), "{err}");
    assert!(lines[0].contains(needle), "{needle:?} not in {err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn json(out: &Output) -> Value {
    let text = ok(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// Polls `cond` until it holds or `limit` passes.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn create_ls_info_write_read_rm_round_trip() {
    let d = TempDir::new("roundtrip");
    let out = ok(&shmim(
        d.path(),
        &[
            "create",
            "cam",
            "--shape",
            "64x32",
            "--type",
            "u16",
            "--keywords",
            "4",
            "--cb",
            "2",
        ],
    ));
    assert!(out.contains("created cam: 64x32 u16"), "{out}");

    let ls = ok(&shmim(d.path(), &["ls"]));
    assert!(
        ls.lines()
            .any(|l| l.starts_with("cam ") && l.contains("64x32") && l.contains("u16")),
        "{ls}"
    );

    let info = ok(&shmim(d.path(), &["info", "cam"]));
    for field in [
        "shape",
        "64x32",
        "cnt0 (frames)",
        "write flag",
        "circular buffer",
        "semaphore  9",
    ] {
        assert!(info.contains(field), "{field:?} missing:\n{info}");
    }

    let mut reader = Bg(StdCommand::new(bin())
        .arg("--dir")
        .arg(d.path())
        .args(["read", "cam", "--count", "5", "--timeout", "20", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap());
    // The reader registers before the writer starts, so it sees the frames.
    assert!(eventually(Duration::from_secs(10), || {
        let v = json(&shmim(d.path(), &["ls", "--json"]));
        v[0]["readers"].as_array().is_some_and(|r| !r.is_empty())
    }));
    let wrote = ok(&shmim(
        d.path(),
        &[
            "write",
            "cam",
            "--rate",
            "200",
            "--count",
            "40",
            "--pattern",
            "checksum",
        ],
    ));
    assert!(wrote.contains("wrote 40 frames"), "{wrote}");

    let child = std::mem::replace(&mut reader.0, StdCommand::new("true").spawn().unwrap());
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert_eq!(report["frames"], 5);
    assert_eq!(report["verified"], 5);
    assert_eq!(report["torn_accepted"], 0);

    let info: Value = json(&shmim(d.path(), &["info", "cam", "--json"]));
    assert_eq!(info["metadata"]["cnt0"], 40);
    assert_eq!(info["metadata"]["datatype"], "u16");
    assert_eq!(info["circular_buffer"]["size"], 2);

    ok(&shmim(d.path(), &["rm", "cam"]));
    assert!(ok(&shmim(d.path(), &["ls"])).contains("no streams"));
}

#[test]
fn read_validates_checksum_frames_written_by_another_process() {
    let d = TempDir::new("read");
    ok(&shmim(d.path(), &["create", "s", "--shape", "256x256"]));
    let mut writer = Bg(StdCommand::new(bin())
        .arg("--dir")
        .arg(d.path())
        .args([
            "write",
            "s",
            "--rate",
            "500",
            "--count",
            "5000",
            "--pattern",
            "checksum",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let out = ok(&shmim(d.path(), &["read", "s", "--count", "50"]));
    assert!(
        out.contains("read 50 frames of s (50 checksum frames verified), 0 torn accepted"),
        "{out}"
    );
    let _ = writer.0.kill();
}

#[test]
fn json_outputs_parse() {
    let d = TempDir::new("json");
    ok(&shmim(
        d.path(),
        &["create", "a", "--shape", "8", "--type", "f64"],
    ));
    ok(&shmim(
        d.path(),
        &[
            "create", "b", "--shape", "4x4x4", "--type", "cf32", "--sems", "3",
        ],
    ));
    let ls = json(&shmim(d.path(), &["ls", "--json"]));
    let names: Vec<&str> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(ls[1]["shape"], serde_json::json!([4, 4, 4]));
    let info = json(&shmim(d.path(), &["info", "b", "--json"]));
    assert_eq!(info["semaphores"].as_array().unwrap().len(), 3);
    assert_eq!(info["metadata"]["datatype"], "cf32");
    let w = json(&shmim(
        d.path(),
        &["write", "a", "--rate", "0", "--count", "3", "--json"],
    ));
    assert_eq!(w["frames"], 3);
}

#[test]
fn milk_shm_dir_is_honoured_without_dir() {
    let d = TempDir::new("env");
    let run = |args: &[&str]| {
        Command::new(bin())
            .env("MILK_SHM_DIR", d.path())
            .args(args)
            .timeout(Duration::from_secs(30))
            .output()
            .unwrap()
    };
    ok(&run(&["create", "envstream", "--shape", "4x4"]));
    assert!(d.path().join("envstream.im.shm").is_file());
    assert!(ok(&run(&["ls"])).contains("envstream"));
    ok(&run(&["rm", "envstream"]));
}

#[test]
fn unknown_type_is_a_one_line_error() {
    let d = TempDir::new("badtype");
    one_line_error(
        &shmim(d.path(), &["create", "x", "--shape", "4", "--type", "f33"]),
        "unknown pixel type",
    );
}

#[test]
fn bad_shape_is_a_one_line_error() {
    let d = TempDir::new("badshape");
    for shape in ["512x", "0x4", "1x2x3x4"] {
        one_line_error(
            &shmim(d.path(), &["create", "x", "--shape", shape]),
            "bad shape",
        );
    }
}

#[test]
fn missing_stream_is_a_one_line_error() {
    let d = TempDir::new("missing");
    for cmd in [
        &["info", "nope"][..],
        &["watch", "nope", "--count", "1"],
        &["read", "nope"],
        &["rm", "nope"],
    ] {
        let out = shmim(d.path(), cmd);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.lines().all(|l| l.starts_with("shmim: ")), "{err}");
        assert!(err.contains("no stream at"), "{err}");
    }
    one_line_error(&shmim(d.path(), &["info", "nope"]), "shmim ls");
    one_line_error(&shmim(d.path(), &["rm", "nope"]), "no stream at");
}

#[test]
fn an_invalid_file_is_listed_with_its_error_and_removed_only_with_force() {
    let d = TempDir::new("invalid");
    std::fs::write(d.path().join("junk.im.shm"), b"not a stream").unwrap();
    ok(&shmim(d.path(), &["create", "good", "--shape", "4"]));
    let ls = ok(&shmim(d.path(), &["ls"]));
    assert!(
        ls.contains("junk: unreadable:") && ls.contains("good "),
        "{ls}"
    );
    let v = json(&shmim(d.path(), &["ls", "--json"]));
    assert!(
        v[1]["error"]
            .as_str()
            .unwrap()
            .contains("not a valid stream"),
        "{v}"
    );
    one_line_error(&shmim(d.path(), &["rm", "junk"]), "rm --force");
    ok(&shmim(d.path(), &["rm", "--force", "junk"]));
    assert!(!d.path().join("junk.im.shm").exists());
}

#[test]
fn bad_name_is_a_one_line_error() {
    let d = TempDir::new("badname");
    one_line_error(
        &shmim(d.path(), &["create", "a/b", "--shape", "4"]),
        "invalid stream name",
    );
    one_line_error(
        &shmim(d.path(), &["info", ".hidden"]),
        "invalid stream name",
    );
}

#[test]
fn missing_directory_is_a_one_line_error() {
    let d = TempDir::new("nodir");
    one_line_error(&shmim(&d.path().join("absent"), &["ls"]), "does not exist");
}

#[test]
fn create_refuses_to_replace_unless_asked() {
    let d = TempDir::new("replace");
    ok(&shmim(d.path(), &["create", "s", "--shape", "4"]));
    one_line_error(
        &shmim(d.path(), &["create", "s", "--shape", "8"]),
        "--replace",
    );
    ok(&shmim(
        d.path(),
        &["create", "s", "--shape", "8", "--replace", "--mode", "0600"],
    ));
    let info = json(&shmim(d.path(), &["info", "s", "--json"]));
    assert_eq!(info["metadata"]["shape"], serde_json::json!([8]));
}

#[test]
fn rm_refuses_a_stream_with_a_live_reader_unless_forced() {
    let d = TempDir::new("rmlive");
    ok(&shmim(d.path(), &["create", "busy", "--shape", "4"]));
    let _reader = shmim_bg(
        d.path(),
        &["read", "busy", "--count", "1", "--timeout", "60"],
        Stdio::null(),
        Stdio::null(),
    );
    assert!(eventually(Duration::from_secs(10), || {
        json(&shmim(d.path(), &["ls", "--json"]))[0]["readers_alive"] == 1
    }));
    let refused = shmim(d.path(), &["rm", "busy"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("live registered readers"));
    assert!(d.path().join("busy.im.shm").exists());
    ok(&shmim(d.path(), &["rm", "--force", "busy"]));
    assert!(!d.path().join("busy.im.shm").exists());
}

#[test]
fn purge_removes_only_streams_nobody_uses() {
    let d = TempDir::new("purge");
    ok(&shmim(d.path(), &["create", "old", "--shape", "4"]));
    ok(&shmim(d.path(), &["create", "used", "--shape", "4"]));
    let _reader = shmim_bg(
        d.path(),
        &["read", "used", "--count", "1", "--timeout", "60"],
        Stdio::null(),
        Stdio::null(),
    );
    assert!(eventually(Duration::from_secs(10), || {
        json(&shmim(d.path(), &["ls", "--json"]))[1]["readers_alive"] == 1
    }));
    let dry = ok(&shmim(d.path(), &["purge", "--dry-run"]));
    assert!(
        dry.contains("would remove") && dry.contains("old.im.shm"),
        "{dry}"
    );
    assert!(d.path().join("old.im.shm").exists());
    let out = ok(&shmim(d.path(), &["purge"]));
    assert!(out.contains("kept used (reader"), "{out}");
    assert!(!d.path().join("old.im.shm").exists());
    assert!(d.path().join("used.im.shm").exists());
}

/// Writes `bytes` at `offset` of a stream file, in place, as another program would.
fn poke(stream_file: &Path, offset: u64, bytes: &[u8]) {
    std::os::unix::fs::FileExt::write_all_at(
        &std::fs::OpenOptions::new()
            .write(true)
            .open(stream_file)
            .unwrap(),
        bytes,
        offset,
    )
    .unwrap();
}

/// milk's `shmimsetowncurrent`: `ownerPID` (offset 220) set to the owning process.
fn set_owner_pid(stream_file: &Path, pid: i32) {
    poke(stream_file, 220, &pid.to_ne_bytes());
}

/// Makes the claim PID of the write flag (offset 228, docs/protocol.md) name `pid`.
fn set_claim_pid(stream_file: &Path, pid: i32) {
    poke(stream_file, 228, &pid.to_ne_bytes());
}

/// A PID no process has: a child that ran and was reaped.
fn dead_pid() -> i32 {
    let mut child = StdCommand::new("true").spawn().unwrap();
    let pid = child.id() as i32;
    child.wait().unwrap();
    pid
}

/// A restarted `shmim write` takes over the flag of a writer that died mid-frame, with its first
/// frame. While it runs it takes nothing over: a flag another writer took meanwhile, even one
/// whose claimant is dead by now, makes it stop with an error naming that writer (taking it on
/// every frame would hand two writers the stream whenever liveness is misjudged).
#[test]
fn write_takes_over_a_dead_writers_flag_at_start_and_never_while_it_runs() {
    let d = TempDir::new("write-takeover");
    ok(&shmim(d.path(), &["create", "w", "--shape", "4"]));
    let file = d.path().join("w.im.shm");
    // The flag a writer that died mid-frame leaves: set, claimed by it, ticket = cnt0 (0).
    {
        let mut dying = shmim_core::Stream::open_in(d.path(), "w").unwrap();
        std::mem::forget(dying.write().unwrap());
    }
    set_claim_pid(&file, dead_pid());
    let wrote = ok(&shmim(d.path(), &["write", "w", "--count", "3"]));
    assert!(wrote.contains("wrote 3 frames"), "{wrote}");

    let mut writer = shmim_bg(
        d.path(),
        &["write", "w", "--rate", "200", "--count", "10000"],
        Stdio::null(),
        Stdio::piped(),
    );
    let observer = shmim_core::Stream::open_in(d.path(), "w").unwrap();
    let mut other = shmim_core::Stream::open_in(d.path(), "w").unwrap();
    assert!(eventually(Duration::from_secs(30), || observer.cnt0() >= 5));
    // Another writer takes the flag between two frames, then dies mid-frame.
    let dead = dead_pid();
    let guard = loop {
        if let Ok(g) = other.write() {
            break g;
        }
    };
    set_claim_pid(&file, dead);
    let forged_at = observer.cnt0();
    // Its next frame must not take the flag over (a published frame says it did): it stops.
    let stopped = eventually(Duration::from_secs(30), || {
        let now = observer.cnt0();
        assert_eq!(now, forged_at, "the running writer took the flag over");
        writer.0.try_wait().unwrap().is_some()
    });
    assert!(stopped, "the running writer neither stopped nor published");
    let status = writer.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut writer.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("took the write flag of w"), "{err}");
    drop(guard);
}

#[test]
fn a_stream_owned_by_a_live_process_keeps_its_owner_through_frames_and_purge() {
    let d = TempDir::new("owned");
    ok(&shmim(d.path(), &["create", "owned", "--shape", "4"]));
    let owner = Bg(StdCommand::new("sleep").arg("600").spawn().unwrap());
    let pid = owner.0.id() as i32;
    set_owner_pid(&d.path().join("owned.im.shm"), pid);
    let wrote = ok(&shmim(
        d.path(),
        &["write", "owned", "--rate", "1000", "--count", "3"],
    ));
    assert!(wrote.contains("wrote 3 frames"), "{wrote}");

    let ls = json(&shmim(d.path(), &["ls", "--json"]));
    assert_eq!(ls[0]["owner_pid"], pid, "frames leave ownerPID alone");
    assert_eq!(ls[0]["owner"], "alive");
    assert_eq!(
        ls[0]["writer"], "dead",
        "the writer is the last poster, gone"
    );
    let info = ok(&shmim(d.path(), &["info", "owned"]));
    assert!(info.contains(&format!("{pid} (alive)")), "{info}");

    let out = ok(&shmim(d.path(), &["purge"]));
    assert!(
        out.contains(&format!("kept owned (owner {pid} alive)")),
        "{out}"
    );
    assert!(d.path().join("owned.im.shm").exists());
    drop(owner);
}

#[test]
fn watch_prints_one_line_per_refresh_over_a_pipe() {
    let d = TempDir::new("watch");
    ok(&shmim(d.path(), &["create", "w", "--shape", "4"]));
    let out = ok(&shmim(
        d.path(),
        &["watch", "w", "--count", "3", "--interval", "20"],
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("cnt0 0") && l.contains("write flag clear")),
        "{out}"
    );
}

#[test]
fn demo_completes_with_zero_torn_frames() {
    let d = TempDir::new("demo");
    let out = Command::new(bin())
        .env("TMPDIR", d.path())
        .args(["demo", "--frames", "300", "--size", "128"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(text.contains("torn frames accepted: 0"), "{text}");
    assert!(text.contains("300 frames of 128x128 f32"), "{text}");
    // The private directory is gone afterwards.
    let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn demo_json_reports_every_reader() {
    let d = TempDir::new("demojson");
    let out = Command::new(bin())
        .env("TMPDIR", d.path())
        .args([
            "demo",
            "--frames",
            "100",
            "--size",
            "64",
            "--readers",
            "3",
            "--json",
        ])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["torn_accepted"], 0);
    assert_eq!(v["frames"], 100);
    assert_eq!(v["readers"].as_array().unwrap().len(), 3);
}

#[test]
fn bench_quick_runs_and_its_json_parses() {
    let d = TempDir::new("bench");
    let v = json(&shmim(d.path(), &["bench", "--quick", "--json"]));
    let rows = v["rows"].as_array().unwrap();
    // Rows with nothing measured (huge pages where there are none) have no ratio; every other
    // row has a positive one. Benchmarks assert no timing.
    let measured: Vec<_> = rows.iter().filter(|r| !r["ratio"].is_null()).collect();
    assert!(measured.len() >= 20, "{v}");
    assert!(
        measured
            .iter()
            .all(|r| r["ratio"].as_f64().is_some_and(|x| x > 0.0)),
        "{v}"
    );
    for section in [
        "publish", "frames", "wake", "idle", "scaling", "huge", "envcache",
    ] {
        assert!(
            rows.iter().any(|r| r["section"] == section),
            "{section}: {v}"
        );
    }
    assert!(rows.iter().any(|r| r["target"] != ""), "{v}");
    let latency = v["latency"].as_array().unwrap();
    assert!(latency.iter().any(|s| s["name"] == "busy-poll"), "{v}");
    let table = ok(&shmim(
        d.path(),
        &["bench", "--quick", "--round-trips", "100"],
    ));
    assert!(table.starts_with("machine: "), "{table}");
    assert!(table.contains("targets met: "), "{table}");
}

#[test]
fn bench_plot_writes_svg_charts_and_only_limits_the_sections() {
    let d = TempDir::new("benchplot");
    let plots = d.path().join("plots");
    let plots_arg = plots.display().to_string();
    let table = ok(&shmim(
        d.path(),
        &[
            "bench",
            "--quick",
            "--round-trips",
            "100",
            "--only",
            "frames,wake",
            "--plot",
            &plots_arg,
        ],
    ));
    assert!(table.contains("writer cycle"), "{table}");
    assert!(!table.contains("envcache"), "{table}");
    for chart in ["frame-cost.svg", "wake-busy-poll.svg", "wake-hybrid.svg"] {
        let svg = std::fs::read_to_string(plots.join(chart)).unwrap();
        assert!(svg.starts_with("<svg"), "{chart}");
    }
    one_line_error(
        &shmim(d.path(), &["bench", "--quick", "--only", "nonsense"]),
        "no section",
    );
}
