//! A writer SIGKILLed at random points, mid-frame or between frames: readers never hang and never
//! accept the half frame, a dead writer is reported as such, and a new writer takes over.
//! `cargo test` runs 10 rounds; `cargo xtask stress` runs 100 (`SHMIM_CRASH_ROUNDS`).

mod common;

use std::time::Duration;

use common::{StreamDir, arg, count_from_env, eventually, role, spawn_child};
use shmim_core::{Datatype, Error, Stream, StreamSpec};

const SIDE: u32 = 512;

#[test]
fn child() {
    let Some(role) = role() else { return };
    assert_eq!(role, "endless_writer");
    let mut s = Stream::open(&arg("STREAM")).unwrap();
    for f in 1u32.. {
        // Filled in place under the flag: most of the writer's time is mid-frame.
        let mut g = s.write().unwrap();
        for p in g.pixels_mut::<u32>().unwrap() {
            *p = f;
        }
        g.commit().unwrap();
    }
}

/// All pixels equal: any mix of two frames is detected.
fn uniform(px: &[u32]) -> bool {
    px.iter().all(|&v| v == px[0])
}

#[test]
fn a_writer_killed_at_random_points_never_hangs_or_fools_a_reader() {
    let rounds: u32 = count_from_env("SHMIM_CRASH_ROUNDS", 10);
    let dir = StreamDir::new("crash");
    let spec = StreamSpec::new(&[SIDE, SIDE], Datatype::U32).dir(dir.path());
    let mut s = Stream::create("crash", &spec).unwrap();
    let mut px = vec![0u32; (SIDE * SIDE) as usize];
    let (mut mid_frame, mut between) = (0, 0);
    let mut seed = 0x1234_5678u64;
    for round in 0..rounds {
        let start_cnt = s.cnt0();
        let mut writer = spawn_child(
            "child",
            "endless_writer",
            dir.path(),
            &[("STREAM", "crash".into())],
        );
        eventually("the writer to publish", 60, || s.cnt0() > start_cnt + 2);
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        std::thread::sleep(Duration::from_micros(seed >> 54)); // 0..1 ms
        writer.kill().unwrap();
        writer.wait().unwrap();

        let mut reader = Stream::open_in(dir.path(), "crash").unwrap();
        reader.set_read_timeout(Duration::from_secs(10));
        let mut waiter = reader.reader().unwrap();
        match reader.read_into(&mut px) {
            Ok(_) => {
                between += 1;
                assert!(uniform(&px), "round {round}: accepted a torn frame");
            }
            Err(Error::WriterDied { .. }) => {
                mid_frame += 1;
                assert!(matches!(
                    reader.busy_wait_for_no_write(Duration::from_secs(10)),
                    Err(Error::WriterDied { .. })
                ));
                // A blocked reader is not woken by a dead writer: it times out instead of hanging.
                assert!(matches!(
                    waiter.wait_timeout(Duration::from_millis(10)),
                    Err(Error::Timeout(_))
                ));
                let mut g = s.recover_writer(false).unwrap();
                g.copy_from(&vec![u32::MAX; px.len()]).unwrap();
                g.commit().unwrap();
                assert!(uniform(&{
                    reader.read_into(&mut px).unwrap();
                    px.clone()
                }));
            }
            Err(e) => panic!("round {round}: unexpected {e}"),
        }
    }
    eprintln!("crash rounds: {rounds}; killed mid-frame {mid_frame}, between frames {between}");
}
