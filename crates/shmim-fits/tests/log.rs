//! log: a writer process's frames into cubes, every frame logged or counted as missed, each cube
//! valid (fitsverify) with its frame table matching its pixels (astropy); a stop finishes the open
//! cube.

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{TempDir, WriterChild, read_cube, wait_for_reader, writer_child_main};
use shmim_core::{Datatype, Stream, StreamSpec};
use shmim_fits::{CubeReport, Error, LogObserver, LogOptions, LogProgress, Stop, log};

/// Not a test: the body of the writer child processes (a no-op in the normal run).
#[test]
fn writer_child() {
    writer_child_main();
}

const SIDE: u32 = 8;

fn stream(dir: &Path, name: &str) -> Stream {
    Stream::create(
        name,
        &StreamSpec::new(&[SIDE, SIDE], Datatype::Float).dir(dir),
    )
    .unwrap()
}

/// Checks every cube against its table and the missed-frame accounting across cubes, from
/// `registered_at` (the frame current when the logger registered). Returns (logged, missed).
fn check_cubes(cubes: &[CubeReport], registered_at: u64) -> (u64, u64) {
    let mut previous = registered_at;
    let (mut logged, mut missed) = (0, 0);
    for c in cubes {
        let cube = read_cube(SIDE, c.path.as_ref().unwrap());
        assert_eq!((cube.nframes, cube.nmissed), (c.frames, c.missed));
        let mut gaps = 0;
        for (k, &n) in cube.cnt0.iter().enumerate() {
            assert!(n > previous, "frame numbers increase");
            gaps += n - previous - 1;
            previous = n;
            assert!(
                cube.pixels[k].iter().all(|&p| p == n as f32),
                "frame {k} of the cube holds frame {n}'s pixels"
            );
            assert!(cube.atime[k] > 0 && cube.writetime[k] >= cube.atime[k]);
        }
        assert_eq!(cube.nmissed, gaps, "NMISSED counts the gaps in cnt0");
        logged += cube.nframes;
        missed += cube.nmissed;
    }
    (logged, missed)
}

/// Stops the logger once the writer is done and every frame it published is logged or counted
/// missed (a watchdog fails the test otherwise).
struct UntilWriterDone<'a> {
    stream: &'a Stream,
    writer_done: &'a Mutex<bool>,
    accounted: u64,
    watchdog: Instant,
    cubes: Vec<CubeReport>,
}

impl LogObserver for UntilWriterDone<'_> {
    fn stop_requested(&mut self) -> bool {
        let done = *self.writer_done.lock().unwrap();
        assert!(
            Instant::now() < self.watchdog,
            "logger did not finish in time"
        );
        done && self.accounted == self.stream.cnt0()
    }
    fn frame(&mut self, p: &LogProgress) {
        self.accounted = p.total_frames + p.total_missed;
    }
    fn cube(&mut self, report: &CubeReport) {
        self.cubes.push(report.clone());
    }
}

/// What the test thread and the logger's observer share: whether to stop, and the frames the
/// logger accounted for (logged or missed).
#[derive(Default)]
struct Shared {
    stop: bool,
    accounted: u64,
}

/// Stops the logger when told to; notes what it accounted for and the cubes.
struct Watched<'a> {
    shared: &'a Mutex<Shared>,
    cubes: Vec<CubeReport>,
}

impl LogObserver for Watched<'_> {
    fn stop_requested(&mut self) -> bool {
        self.shared.lock().unwrap().stop
    }
    fn frame(&mut self, p: &LogProgress) {
        self.shared.lock().unwrap().accounted = p.total_frames + p.total_missed;
    }
    fn cube(&mut self, report: &CubeReport) {
        self.cubes.push(report.clone());
    }
}

#[test]
fn a_bursting_writer_process_loses_no_frame_of_a_circular_buffer() {
    // Eight writer processes in turn, each publishing four frames back to back into a 64-frame
    // circular buffer and exiting: the last frame of each burst comes with no frame after it, and
    // the logger must take it all the same (before the next burst); the writer never goes round
    // the buffer, so no frame may be counted missed, however late the logger is.
    const ROUNDS: u64 = 8;
    const BURST: u64 = 4;
    let dir = TempDir::new("burst");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let spec = StreamSpec::new(&[SIDE, SIDE], Datatype::Float)
        .circular_buffer(64)
        .dir(dir.path());
    let s = Stream::create("cam", &spec).unwrap();
    let shared = Mutex::new(Shared::default());
    let accounted = || shared.lock().unwrap().accounted;
    let (report, stuck) = std::thread::scope(|scope| {
        let logger = scope.spawn(|| {
            let mut watched = Watched {
                shared: &shared,
                cubes: Vec::new(),
            };
            let opts = LogOptions {
                frames_per_cube: 7,
                cubes: None,
                ..LogOptions::default()
            };
            let r = log(&s, &logs, &opts, &mut watched);
            (r, watched.cubes)
        });
        wait_for_reader(&s);
        let mut stuck = None;
        'rounds: for round in 0..ROUNDS {
            WriterChild::bursts("writer_child", dir.path(), "cam", BURST, 1.0, BURST)
                .wait_success();
            let watchdog = Instant::now() + Duration::from_secs(10);
            while accounted() != s.cnt0() {
                if Instant::now() > watchdog {
                    stuck = Some(format!(
                        "round {round}: {} of {} frames taken or counted 10 s after the burst",
                        accounted(),
                        s.cnt0()
                    ));
                    break 'rounds;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        shared.lock().unwrap().stop = true;
        (logger.join().unwrap(), stuck)
    });
    assert_eq!(stuck, None);
    let (report, announced) = report;
    let report = report.unwrap();
    assert_eq!(announced, report.cubes, "every cube was announced");
    let (logged, missed) = check_cubes(&report.cubes, 0);
    assert_eq!(
        (logged, missed),
        (ROUNDS * BURST, 0),
        "every frame logged, none counted missed"
    );
}

#[test]
fn every_frame_of_a_writer_process_is_logged_or_counted_missed() {
    const FRAMES: u64 = 150;
    let dir = TempDir::new("log");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let s = stream(dir.path(), "cam");
    let writer_done = Mutex::new(false);
    let report = std::thread::scope(|scope| {
        let logger = scope.spawn(|| {
            let mut watch = UntilWriterDone {
                stream: &s,
                writer_done: &writer_done,
                accounted: 0,
                watchdog: Instant::now() + Duration::from_secs(60),
                cubes: Vec::new(),
            };
            let opts = LogOptions {
                frames_per_cube: 40,
                cubes: None,
                ..LogOptions::default()
            };
            let r = log(&s, &logs, &opts, &mut watch).unwrap();
            assert_eq!(watch.cubes, r.cubes, "every cube was announced");
            r
        });
        wait_for_reader(&s);
        WriterChild::spawn("writer_child", dir.path(), "cam", FRAMES, 400.0).wait_success();
        *writer_done.lock().unwrap() = true;
        logger.join().unwrap()
    });
    assert!(matches!(report.stopped, Some(Stop::Interrupted)));
    let (logged, missed) = check_cubes(&report.cubes, 0);
    assert_eq!((logged, missed), (report.frames, report.missed));
    assert_eq!(logged + missed, FRAMES, "every frame logged or counted");
    assert!(logged > 0);
    let expected_cubes = logged.div_ceil(40) as usize;
    assert_eq!(report.cubes.len(), expected_cubes);
    let names: Vec<String> = common::files_in(&logs);
    assert_eq!(
        names.len(),
        expected_cubes,
        "no temporary file left: {names:?}"
    );
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("cam_") && n.ends_with(".fits"))
    );
}

/// A scripted writer inside the logger's own thread: it publishes frames from the observer's
/// callbacks, so what the logger can and cannot take is decided, not raced. Frame 1 is published
/// at the logger's first look; `publish_after[k]` more after the (k+1)-th frame taken.
struct Script {
    writer: Stream,
    looks: u64,
    taken: u64,
    stop_after: u64,
    publish_after: Vec<u64>,
}

impl LogObserver for Script {
    fn stop_requested(&mut self) -> bool {
        self.looks += 1;
        // Each look waits at most 100 ms for a frame: a script whose frames never come fails
        // within 20 s.
        assert!(self.looks < 200, "script ran away");
        if self.looks == 1 {
            publish(&mut self.writer, 1);
        }
        self.taken >= self.stop_after
    }
    fn frame(&mut self, p: &LogProgress) {
        self.taken = p.total_frames;
        let k = (p.total_frames - 1) as usize;
        let n = self.publish_after.get(k).copied().unwrap_or(0);
        publish(&mut self.writer, n);
    }
}

fn publish(s: &mut Stream, n: u64) {
    let len = s.nelement() as usize;
    for _ in 0..n {
        let frame = s.cnt0() + 1;
        s.write_frame(&vec![frame as f32; len]).unwrap();
    }
}

fn script(dir: &Path, name: &str, publish_after: &[u64], stop_after: u64) -> Script {
    Script {
        writer: Stream::open_in(dir, name).unwrap(),
        looks: 0,
        taken: 0,
        stop_after,
        publish_after: publish_after.to_vec(),
    }
}

#[test]
fn frames_published_while_the_logger_was_busy_are_counted_missed() {
    let dir = TempDir::new("missed");
    let s = stream(dir.path(), "cam");
    // Frame 1 is taken; frames 2, 3, 4 are published before the logger looks again: it takes
    // the newest, 4, and counts 2 and 3 as missed.
    let mut script = script(dir.path(), "cam", &[3], 2);
    let opts = LogOptions {
        frames_per_cube: 10,
        cubes: None,
        ..LogOptions::default()
    };
    let r = log(&s, dir.path(), &opts, &mut script).unwrap();
    assert_eq!((r.frames, r.missed, r.cubes.len()), (2, 2, 1));
    let cube = read_cube(SIDE, r.cubes[0].path.as_ref().unwrap());
    assert_eq!(cube.cnt0, [1, 4]);
    assert_eq!(cube.nmissed, 2);
}

/// Logs, into cubes of 10 in `dir`, a stream with `slots` circular-buffer frames driven by a
/// [`Script`].
fn log_with_circular_buffer(
    dir: &Path,
    slots: u32,
    publish_after: &[u64],
    stop_after: u64,
) -> shmim_fits::LogReport {
    let spec = StreamSpec::new(&[SIDE, SIDE], Datatype::Float)
        .circular_buffer(slots)
        .dir(dir);
    let s = Stream::create("cam", &spec).unwrap();
    let mut script = script(dir, "cam", publish_after, stop_after);
    let opts = LogOptions {
        frames_per_cube: 10,
        cubes: None,
        ..LogOptions::default()
    };
    log(&s, dir, &opts, &mut script).unwrap()
}

#[test]
fn frames_a_busy_logger_fell_behind_on_come_from_the_circular_buffer() {
    let dir = TempDir::new("backlog");
    // Frames 2..=5 are published before the logger looks again: the buffer still has them all.
    let r = log_with_circular_buffer(dir.path(), 8, &[4], 5);
    assert_eq!((r.frames, r.missed), (5, 0));
    let cube = read_cube(SIDE, r.cubes[0].path.as_ref().unwrap());
    assert_eq!(
        cube.cnt0,
        [1, 2, 3, 4, 5],
        "each frame's pixels are checked against it"
    );
    assert!(
        cube.atime.windows(2).all(|w| w[0] <= w[1]),
        "times from each slot"
    );
}

#[test]
fn a_gap_longer_than_the_circular_buffer_is_counted_missed() {
    let dir = TempDir::new("overrun");
    // Frames 2..=11 come at once; 4 slots keep 8..=11: those are taken, 2..=7 counted missed.
    let r = log_with_circular_buffer(dir.path(), 4, &[10], 5);
    let cube = read_cube(SIDE, r.cubes[0].path.as_ref().unwrap());
    assert_eq!(cube.cnt0, [1, 8, 9, 10, 11]);
    assert_eq!((cube.nmissed, r.missed), (6, 6));
}

#[test]
fn a_stop_finishes_the_open_cube_with_the_frames_it_has() {
    let dir = TempDir::new("stop");
    let s = stream(dir.path(), "cam");
    let mut script = script(dir.path(), "cam", &[1, 1], 3);
    let opts = LogOptions {
        frames_per_cube: 100,
        cubes: None,
        ..LogOptions::default()
    };
    let r = log(&s, dir.path(), &opts, &mut script).unwrap();
    assert!(matches!(r.stopped, Some(Stop::Interrupted)));
    let cube = read_cube(SIDE, r.cubes[0].path.as_ref().unwrap());
    assert_eq!(
        cube.nframes, 3,
        "NAXIS3 = frames written, not the 100 planned"
    );
    assert_eq!(cube.cnt0, [1, 2, 3]);
    let files: Vec<String> = common::files_in(dir.path())
        .into_iter()
        .filter(|f| f.ends_with(".tmp"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn logging_stops_after_the_cubes_asked_for() {
    let dir = TempDir::new("cubes");
    let s = stream(dir.path(), "cam");
    let mut script = script(dir.path(), "cam", &[1, 1, 1], u64::MAX);
    let opts = LogOptions {
        frames_per_cube: 1,
        cubes: Some(2),
        ..LogOptions::default()
    };
    let r = log(&s, dir.path(), &opts, &mut script).unwrap();
    assert!(r.stopped.is_none());
    assert_eq!(r.cubes.len(), 2);
    assert!(r.cubes.iter().all(|c| c.frames == 1));
}

#[test]
fn a_stream_of_complex_pixels_is_refused_before_logging() {
    let dir = TempDir::new("complex");
    let spec = StreamSpec::new(&[4], Datatype::ComplexFloat).dir(dir.path());
    let s = Stream::create("cam", &spec).unwrap();
    let mut script = script(dir.path(), "cam", &[], 1);
    let opts = LogOptions {
        frames_per_cube: 1,
        cubes: Some(1),
        ..LogOptions::default()
    };
    let e = log(&s, dir.path(), &opts, &mut script).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Unsupported {
                datatype: Datatype::ComplexFloat,
                ..
            }
        ),
        "{e}"
    );
    assert!(s.registered_readers().is_empty());
}

/// Sets `GAIN` to the frame count after each of the first `changes` frames taken, then
/// publishes the next frame.
struct KeywordChanges {
    writer: Stream,
    changes: u64,
    looks: u64,
}

impl LogObserver for KeywordChanges {
    fn stop_requested(&mut self) -> bool {
        self.looks += 1;
        assert!(self.looks < 200, "ran away");
        if self.looks == 1 {
            publish(&mut self.writer, 1);
        }
        false
    }
    fn frame(&mut self, p: &LogProgress) {
        if p.total_frames <= self.changes {
            let gain = shmim_core::Value::Long(p.total_frames as i64);
            self.writer.set_keyword("GAIN", gain, "set").unwrap();
        }
        publish(&mut self.writer, 1);
    }
}

/// The value text of card `name` in the primary header of `path`.
fn primary_card(path: &Path, name: &str) -> String {
    let bytes = std::fs::read(path).unwrap();
    let record = bytes
        .chunks(80)
        .take_while(|c| !c.starts_with(b"END "))
        .find(|c| c.starts_with(format!("{name:<8}= ").as_bytes()))
        .unwrap_or_else(|| panic!("no {name}"));
    let text = String::from_utf8_lossy(&record[10..]).into_owned();
    text.split('/').next().unwrap().trim().to_owned()
}

#[test]
fn each_cube_carries_the_keywords_of_the_stream_when_it_opened() {
    let dir = TempDir::new("kw-change");
    let spec = StreamSpec::new(&[SIDE, SIDE], Datatype::Float)
        .keywords(4)
        .dir(dir.path());
    let s = Stream::create("cam", &spec).unwrap();
    s.set_keyword("GAIN", shmim_core::Value::Long(0), "set")
        .unwrap();
    let mut changes = KeywordChanges {
        writer: Stream::open_in(dir.path(), "cam").unwrap(),
        changes: 2,
        looks: 0,
    };
    let opts = LogOptions {
        frames_per_cube: 1,
        cubes: Some(4),
        ..LogOptions::default()
    };
    let r = log(&s, dir.path(), &opts, &mut changes).unwrap();
    let gains: Vec<String> = r
        .cubes
        .iter()
        .map(|c| primary_card(c.path.as_ref().unwrap(), "GAIN"))
        .collect();
    // Changed after frames 1 and 2, then left as it is.
    assert_eq!(gains, ["0", "1", "2", "2"]);
}

/// The CPUs this thread may run on now.
fn my_cpus() -> Vec<usize> {
    let set = rustix::thread::sched_getaffinity(None).unwrap();
    (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&c| set.is_set(c))
        .collect()
}

#[test]
fn a_logger_on_cpus_of_its_own_logs_and_gives_the_caller_its_cpus_back() {
    let dir = TempDir::new("cpus");
    let s = stream(dir.path(), "cam");
    let before = my_cpus();
    // The last CPU this thread may use for both threads: valid on any machine.
    let cpu = *before.last().unwrap();
    let mut script = script(dir.path(), "cam", &[1, 1], 3);
    let opts = LogOptions {
        frames_per_cube: 10,
        cubes: None,
        taker_cpu: Some(cpu),
        disk_cpu: Some(cpu),
    };
    let r = log(&s, dir.path(), &opts, &mut script).unwrap();
    assert_eq!((r.frames, r.missed), (3, 0));
    assert_eq!(
        read_cube(SIDE, r.cubes[0].path.as_ref().unwrap()).cnt0,
        [1, 2, 3]
    );
    assert_eq!(
        my_cpus(),
        before,
        "the calling thread runs where it ran before"
    );
}

#[test]
fn a_cpu_the_process_may_not_use_is_refused_before_logging_starts() {
    let dir = TempDir::new("badcpu");
    let s = stream(dir.path(), "cam");
    let mut script = script(dir.path(), "cam", &[], 1);
    let not_mine = (0..rustix::thread::CpuSet::MAX_CPU)
        .find(|c| !my_cpus().contains(c))
        .unwrap();
    for (taker_cpu, disk_cpu, thread) in [
        (Some(not_mine), None, "taking thread"),
        (None, Some(not_mine), "disk thread"),
        (None, Some(usize::MAX), "disk thread"),
    ] {
        let opts = LogOptions {
            taker_cpu,
            disk_cpu,
            ..LogOptions::default()
        };
        let e = log(&s, dir.path(), &opts, &mut script).unwrap_err();
        assert!(matches!(e, Error::Cpu { .. }), "{e:?}");
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("cannot run the logger's {thread} on CPU")),
            "{text}"
        );
    }
    assert!(
        s.registered_readers().is_empty(),
        "no reader left registered"
    );
    assert_eq!(script.looks, 0, "logging never started");
    let cubes: Vec<String> = common::files_in(dir.path())
        .into_iter()
        .filter(|f| f.ends_with(".fits") || f.ends_with(".tmp"))
        .collect();
    assert!(cubes.is_empty(), "{cubes:?}");
}

/// `Cpus_allowed_list` of the threads of this process named `name` (`/proc/self/task`).
fn cpus_of_threads(name: &str) -> Vec<String> {
    let mut lists = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            lists.push(cpus_allowed(&dir.join("status")));
        }
    }
    lists
}

fn cpus_allowed(status: &Path) -> String {
    let status = std::fs::read_to_string(status).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("Cpus_allowed_list:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().to_owned()
}

/// A [`Script`] that notes, at the first frame, where the logger's threads may run.
struct Placement {
    script: Script,
    seen: Option<[Vec<String>; 3]>,
}

impl LogObserver for Placement {
    fn stop_requested(&mut self) -> bool {
        self.script.stop_requested()
    }
    fn frame(&mut self, p: &LogProgress) {
        self.seen.get_or_insert_with(|| {
            // A new thread names itself once it runs: until then it has its parent's name.
            let named_by = Instant::now() + Duration::from_secs(10);
            while cpus_of_threads("fits-commit").is_empty() && Instant::now() < named_by {
                std::thread::sleep(Duration::from_millis(1));
            }
            [
                vec![cpus_allowed(Path::new("/proc/thread-self/status"))],
                cpus_of_threads("fits-disk"),
                cpus_of_threads("fits-commit"),
            ]
        });
        self.script.frame(p);
    }
}

/// Set in the child process [`only_the_threads_asked_for_are_placed`] runs itself in.
const PLACEMENT_CHILD: &str = "SHMIM_FITS_PLACEMENT_CHILD";

#[test]
fn only_the_threads_asked_for_are_placed() {
    // The threads are told apart by name, so no other test's logger may run beside them: the
    // check runs in this test binary re-executed for this test alone.
    if std::env::var_os(PLACEMENT_CHILD).is_none() {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "only_the_threads_asked_for_are_placed",
                "--test-threads=1",
            ])
            .env(PLACEMENT_CHILD, "1")
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "placement check: {status}");
        return;
    }
    let cpus = my_cpus();
    if cpus.len() < 2 {
        eprintln!("one CPU only: nothing to tell apart");
        return;
    }
    let everywhere = cpus_allowed(Path::new("/proc/thread-self/status"));
    let dir = TempDir::new("placed");
    let s = stream(dir.path(), "cam");
    let (a, b) = (cpus[0].to_string(), cpus[1].to_string());
    for (taker_cpu, disk_cpu, expected) in [
        // The taking thread alone: the disk thread and the committer stay where they were.
        (Some(cpus[0]), None, [&a, &everywhere, &everywhere]),
        (Some(cpus[0]), Some(cpus[1]), [&a, &b, &everywhere]),
        (None, Some(cpus[1]), [&everywhere, &b, &everywhere]),
    ] {
        let mut placement = Placement {
            script: script(dir.path(), "cam", &[1], 2),
            seen: None,
        };
        let opts = LogOptions {
            taker_cpu,
            disk_cpu,
            ..LogOptions::default()
        };
        log(&s, dir.path(), &opts, &mut placement).unwrap();
        let seen = placement.seen.unwrap();
        let expected = expected.map(|e| vec![e.clone()]);
        assert_eq!(seen, expected, "taker {taker_cpu:?}, disk {disk_cpu:?}");
    }
    assert_eq!(
        cpus_allowed(Path::new("/proc/thread-self/status")),
        everywhere
    );
}
