//! Two recoverers in two processes race for one dead writer's flag, round after round: exactly
//! one takes it each time, never both (issue 16.1: with "check the owner is dead, then take the
//! flag over", both held guards at once).
//!
//! Each round the parent plants a dead writer's flag in the file (a process that ran and was
//! reaped: `write = 1`, its PID in the claim word and, for good measure, in `ownerPID` as milk
//! might have left it, ticket = low 32 bits of `cnt0`), then starts both recoverers at once by
//! publishing a frame on a control stream they both busy-poll by then. A winner keeps its guard until the
//! parent has heard both answers, so two winners of one round held the flag at the same time.
//! `cargo test` runs 3000 rounds (`SHMIM_RECOVERY_ROUNDS`).

mod common;

use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use common::{Peer, StreamDir, arg, command, count_from_env, dead_pid, reply, role};
use shmim_core::{Datatype, Stream, StreamSpec};

#[test]
fn child() {
    let Some(role) = role() else { return };
    assert_eq!(role, "recoverer");
    // Each recoverer on its own CPU (when there are two), so that both run at the same instant.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut set = rustix::thread::CpuSet::new();
    set.set(arg("CPU").parse::<usize>().unwrap() % cpus);
    let _ = rustix::thread::sched_setaffinity(None, &set);
    let mut s = Stream::open(&arg("STREAM")).unwrap();
    let ctl = Stream::open(&arg("CTL")).unwrap();
    let mut start = ctl.poller();
    while let Some("round") = command().as_deref() {
        reply("polling");
        // Watchdog, not a performance bound.
        start
            .poll_spin(Instant::now() + Duration::from_secs(60))
            .expect("the parent starts the round");
        let guard = s.recover_writer(false);
        reply(if guard.is_ok() { "won" } else { "busy" });
        assert_eq!(command().as_deref(), Some("next"));
        if let Ok(g) = guard {
            g.commit().unwrap();
        }
        reply("done");
    }
}

/// What a writer that died mid-frame leaves in the header of `file` (offsets of format.md).
fn plant_dead_writer(file: &std::fs::File, pid: i32, cnt0: u64) {
    file.write_all_at(&pid.to_ne_bytes(), 220).unwrap(); // ownerPID (milk's: no evidence)
    file.write_all_at(&pid.to_ne_bytes(), 228).unwrap(); // claim PID
    file.write_all_at(&(cnt0 as u32).to_ne_bytes(), 244)
        .unwrap(); // claim ticket
    file.write_all_at(&[1], 288).unwrap(); // write flag, last
}

#[test]
fn two_recoverers_in_two_processes_never_both_take_a_dead_writers_flag() {
    let rounds: u32 = count_from_env("SHMIM_RECOVERY_ROUNDS", 3000);
    let dir = StreamDir::new("recovery-race");
    let spec = StreamSpec::new(&[4], Datatype::U8).dir(dir.path());
    let s = Stream::create("flag", &spec).unwrap();
    let mut ctl = Stream::create("ctl", &spec).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.file("flag"))
        .unwrap();
    let dead = dead_pid();
    let mut peers: Vec<Peer> = (0..2)
        .map(|cpu: usize| {
            let env = [
                ("STREAM", "flag".into()),
                ("CTL", "ctl".into()),
                ("CPU", cpu.to_string()),
            ];
            Peer::spawn("child", "recoverer", dir.path(), &env)
        })
        .collect();
    let mut winners = [0u32; 3];
    for _ in 0..rounds {
        plant_dead_writer(&file, dead, s.cnt0());
        for p in &mut peers {
            p.send("round");
        }
        for p in &mut peers {
            assert_eq!(p.reply(), "polling");
        }
        ctl.write_frame(&[0u8; 4]).unwrap();
        let won = peers
            .iter_mut()
            .map(|p| p.reply())
            .filter(|r| r == "won")
            .count();
        winners[won] += 1;
        for p in &mut peers {
            p.send("next");
        }
        for p in &mut peers {
            assert_eq!(p.reply(), "done");
        }
    }
    for mut p in peers {
        p.send("end");
        p.finish();
    }
    eprintln!(
        "{rounds} rounds: one winner {}, two winners {}, none {}",
        winners[1], winners[2], winners[0]
    );
    assert_eq!(
        winners[2], 0,
        "both recoverers held the flag at once in {} of {rounds} rounds",
        winners[2]
    );
    assert_eq!(winners[1], rounds, "every round has its one winner");
}
