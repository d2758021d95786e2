//! Consistent copies out of a live stream: the seqlock of `shmim-sync`, bounded by a deadline,
//! with stuck and dead writers told apart by the write flag's claim (`WriteFlag::holder`).

use std::time::{Duration, Instant};

use shmim_sync::liveness;
use shmim_sync::seqlock::{read_begin, read_validate};
use shmim_sync::spin::Spin;
use shmim_sync::write_flag::Holder;

use crate::error::{Error, Result};
use crate::mapping::{Mapping, md};
use crate::writer::write_flag;

/// How often a reader facing a set write flag asks whether its claimant still lives.
const OWNER_CHECK_EVERY: Duration = Duration::from_millis(1);

/// Runs `copy` until it copied a frame no writer touched meanwhile, and returns that frame's
/// `cnt0` and how many copies were thrown away first. Gives up after `timeout` with
/// [`Error::Torn`] (the frame kept changing) or [`Error::WriterStuck`]; returns
/// [`Error::WriterDied`] as soon as the flag's claimant is known dead.
pub(crate) fn consistent_copy_counted(
    map: &Mapping,
    timeout: Duration,
    mut copy: impl FnMut(),
) -> Result<(u64, u64)> {
    let (cnt0, write) = (md!(map, cnt0), md!(map, write));
    let start = Instant::now();
    let mut spin = Spin::for_duration(timeout);
    let mut owner_checked = start;
    let mut retries = 0u64;
    loop {
        let busy = match read_begin(cnt0.cell(), write.cell()) {
            Some(c) => {
                copy();
                if read_validate(cnt0.cell(), write.cell(), c) {
                    return Ok((c, retries));
                }
                retries += 1;
                false
            }
            None => true,
        };
        if busy && owner_checked.elapsed() >= OWNER_CHECK_EVERY {
            owner_checked = Instant::now();
            if let Some(e) = dead_writer(map) {
                return Err(e);
            }
        }
        if !spin.pause() {
            let waited = start.elapsed();
            return Err(if busy {
                stuck_or_dead(map, waited)
            } else {
                Error::Torn { waited }
            });
        }
    }
}

/// [`consistent_copy_counted`] without the count.
pub(crate) fn consistent_copy(map: &Mapping, timeout: Duration, copy: impl FnMut()) -> Result<u64> {
    consistent_copy_counted(map, timeout, copy).map(|(c, _)| c)
}

/// `start + timeout`, or a year after `start` when that overflows (`Duration::MAX` = forever).
pub(crate) fn deadline_after(start: Instant, timeout: Duration) -> Instant {
    start
        .checked_add(timeout)
        .unwrap_or_else(|| start + Duration::from_secs(365 * 86_400))
}

/// `WriterDied` if the flag is set, its claimant no longer runs, and the ticket still matches.
pub(crate) fn dead_writer(map: &Mapping) -> Option<Error> {
    match write_flag(map).holder(liveness::is_dead) {
        Holder::Died { claim } => Some(Error::WriterDied { writer: claim }),
        Holder::Nobody | Holder::Stuck { .. } => None,
    }
}

/// The error for a write flag that stayed set for `waited`.
pub(crate) fn stuck_or_dead(map: &Mapping, waited: Duration) -> Error {
    match write_flag(map).holder(liveness::is_dead) {
        Holder::Died { claim } => Error::WriterDied { writer: claim },
        Holder::Stuck { claim } => Error::WriterStuck {
            writer: claim,
            waited,
        },
        // Cleared at the last instant: no writer is stuck, we just ran out of time.
        Holder::Nobody => Error::Torn { waited },
    }
}

/// Waits until no writer holds the flag (or its claimant is dead, or `timeout` passes).
pub(crate) fn wait_for_no_write(map: &Mapping, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut spin = Spin::for_duration(timeout);
    let write = md!(map, write);
    let outcome =
        shmim_sync::spin::wait_for_value(write.cell(), 0, &mut spin, || dead_writer(map).is_none());
    outcome.map_err(|_| stuck_or_dead(map, start.elapsed()))
}
