//! Write flags this process abandoned, and how its handles take them back: [`Abandoned`].
//!
//! A writer that gives up mid-frame (a Rust `WriteGuard` dropped without commit) leaves the write
//! flag set and claimed by its PID, so no reader accepts the half frame ([`crate::write_flag`]:
//! an abandon does nothing). Other processes cannot take that flag while we live. Neither can a
//! second handle of *this* process by itself: to [`WriteFlag::begin`] a claim holding our own
//! PID is a live writer like any other — it may be a guard another thread holds right now. So the
//! abandon is recorded here, per stream file `K`, with the flag's ticket, and the next handle of
//! the process that finds the flag claimed by our PID **adopts** the record: it resumes the flag
//! ([`WriteFlag::resume`]) and its commit publishes a complete frame.
//!
//! The rules that keep this to one holder:
//!
//! * **A record is taken once.** Adopting removes it, under the registry's lock, and resumes the
//!   flag under that same lock: of two handles racing to adopt, exactly one finds it.
//! * **A record names the flag it was made for.** Its ticket must still be the flag's: a flag
//!   taken over and published since carries another ticket, and the stale record is dropped.
//! * **Every other way this process takes the flag consumes the record, atomically.**
//!   [`Take::Recover`] and [`Take::Force`] run under the lock and drop the record of the file.
//!   A recovery moves the claim to our PID without touching the ticket (the ticket is the
//!   evidence of the flag's frame), so a record left behind would let a second handle adopt the
//!   flag the recoverer now writes under — after another process forced our abandoned flag and
//!   died holding it, for instance. A record dropped *after* the recovery would leave a window in
//!   which the other handle adopts and resumes.
//! * **Records are this process's.** They live in a [`ForkLocal`]: a forked child starts with
//!   none, because the claims they stand for name its parent. (A child that inherited them could
//!   recover its dead parent's flag, then adopt the same flag again through the parent's record
//!   in a second handle.) For the same reason the child never takes the parent's lock, which a
//!   parent thread may have held at the fork: no child hangs on it.
//!
//! [`Take::Begin`], the writer's hot path, takes no lock: it only looks for a record when `begin`
//! was refused with our own PID as the claim. Limit: a shmim `begin` that moves a dead claimant's
//! stale claim to us (possible only after a legacy writer cleared the flag plainly under that
//! claimant) refreshes the ticket from `cnt0`, and a record of ours from before both could then
//! match; the legacy writer has already broken the exclusion there (docs/protocol.md, "Legacy
//! writers").

use std::sync::PoisonError;

#[cfg(loom)]
use loom::sync::{Mutex, MutexGuard};
use std::sync::atomic::Ordering::Relaxed;
#[cfg(not(loom))]
use std::sync::{Mutex, MutexGuard};

use crate::field::AtomicCell;
use crate::fork_local::ForkLocal;
use crate::write_flag::{Busy, WriteFlag};

/// How a handle takes the write flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// A writer's turn ([`WriteFlag::begin`]), resuming a frame this process abandoned.
    Begin,
    /// A dead writer's flag ([`WriteFlag::recover`]), or a frame this process abandoned.
    Recover,
    /// Whatever holds it ([`WriteFlag::force`]).
    Force,
}

/// An abandoned flag: the file, and the flag's ticket when it was abandoned.
#[derive(Clone, Copy)]
struct Record<K> {
    file: K,
    ticket: u32,
}

type Records<K> = Vec<Record<K>>;

/// The write flags this process abandoned, keyed by stream file `K` (its identity: device,
/// inode…). One per process, usually a `static`.
pub struct Abandoned<K> {
    records: ForkLocal<Mutex<Records<K>>>,
}

impl<K: Copy + Eq> Abandoned<K> {
    /// No records (a `static` can hold one).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            records: ForkLocal::new(),
        }
    }

    /// No records.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            records: ForkLocal::new(),
        }
    }

    /// This process's records, locked (a fresh, empty set in a forked child).
    fn lock(&self, me: i32) -> MutexGuard<'_, Records<K>> {
        self.records
            .get(me, || Mutex::new(Vec::new()))
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that a writer of process `me` abandoned `flag`, the write flag of `file` (the flag
    /// stays set and claimed by `me`).
    pub fn remember<W, N, C, T>(&self, me: i32, file: K, flag: &WriteFlag<'_, W, N, C, T>)
    where
        W: AtomicCell<u8>,
        N: AtomicCell<u64>,
        C: AtomicCell<i32>,
        T: AtomicCell<u32>,
    {
        // Relaxed: the abandoning writer wrote the ticket's current value itself, or read it
        // under the flag it holds.
        let ticket = flag.ticket.load(Relaxed);
        let mut records = self.lock(me);
        records.retain(|r| r.file != file);
        records.push(Record { file, ticket });
    }

    /// Takes `flag`, the write flag of the file `file` names, for process `me`, as `how` says,
    /// resuming a frame this process abandoned when the flag is claimed by `me`. `file` is asked
    /// only when a record may be involved; `None` (a stream without a file) means no records.
    pub fn take<W, N, C, T>(
        &self,
        how: Take,
        me: i32,
        file: impl FnOnce() -> Option<K>,
        flag: &WriteFlag<'_, W, N, C, T>,
        is_dead: impl Fn(i32) -> bool,
    ) -> Result<(), Busy>
    where
        W: AtomicCell<u8>,
        N: AtomicCell<u64>,
        C: AtomicCell<i32>,
        T: AtomicCell<u32>,
    {
        let (mut records, file) = if how == Take::Begin {
            // The hot path: no lock, no file identity, unless refused by our own claim.
            match flag.begin(me, &is_dead) {
                Err(busy) if busy.claim == me => match file() {
                    Some(file) => (self.lock(me), file),
                    None => return Err(busy),
                },
                taken => return taken,
            }
        } else {
            let take_plainly = || match how {
                Take::Force => {
                    flag.force(me);
                    Ok(())
                }
                _ => flag.recover(me, &is_dead),
            };
            let Some(file) = file() else {
                return take_plainly(); // no file, no records
            };
            // Under the lock: no handle of ours adopts our record between our take and its
            // removal.
            let mut records = self.lock(me);
            match take_plainly() {
                Ok(()) => {
                    records.retain(|r| r.file != file);
                    return Ok(());
                }
                Err(busy) if busy.claim == me => (records, file),
                refused => return refused,
            }
        };
        // Refused with our own PID as the claim: a frame this process abandoned, if its record is
        // here (removed, under the lock, by exactly one caller) and its ticket is still the flag's.
        // Relaxed: a ticket that changed since the abandon means the flag was taken over by force
        // and published (its publisher stored the new one before clearing the flag, and our
        // claim on it was replaced); `resume` then checks the claim with Acquire.
        let refused = Busy { claim: me };
        let i = records.iter().position(|r| r.file == file).ok_or(refused)?;
        if records.swap_remove(i).ticket != flag.ticket.load(Relaxed) {
            return Err(refused);
        }
        flag.resume(me, &is_dead)
    }
}

#[cfg(not(loom))]
impl<K: Copy + Eq> Default for Abandoned<K> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::write_flag::test_words::Words;

    const ME: i32 = 10;
    const FILE: u8 = 1;
    fn file() -> Option<u8> {
        Some(FILE)
    }
    fn dead(pid: i32) -> bool {
        pid == 99
    }

    /// `ME` abandoned a frame of `FILE`: the flag is set and claimed by `ME`, and recorded.
    fn abandoned(registry: &Abandoned<u8>) -> Words {
        let w = Words::default();
        w.flag().begin(ME, dead).unwrap();
        registry.remember(ME, FILE, &w.flag());
        w
    }

    #[test]
    fn an_abandoned_flag_is_adopted_once_and_only_by_its_own_process() {
        let registry = Abandoned::new();
        let w = abandoned(&registry);
        assert_eq!(
            registry.take(Take::Begin, 11, file, &w.flag(), dead),
            Err(Busy { claim: ME }),
            "another process (or a forked child) cannot adopt it"
        );
        registry
            .take(Take::Begin, ME, file, &w.flag(), dead)
            .unwrap();
        assert_eq!(
            registry.take(Take::Begin, ME, file, &w.flag(), dead),
            Err(Busy { claim: ME }),
            "the record is gone: the adopter holds the flag"
        );
        assert_eq!(
            registry.take(Take::Recover, ME, file, &w.flag(), dead),
            Err(Busy { claim: ME })
        );
    }

    #[test]
    fn a_recovery_consumes_the_record_of_the_file() {
        let registry = Abandoned::new();
        let w = abandoned(&registry);
        // Another process forced our abandoned flag (same ticket) and died holding it.
        w.flag().force(99);
        registry
            .take(Take::Recover, ME, file, &w.flag(), dead)
            .unwrap();
        assert_eq!(w.claim.load(Relaxed), ME);
        assert_eq!(
            registry.take(Take::Begin, ME, file, &w.flag(), dead),
            Err(Busy { claim: ME }),
            "the recoverer's flag is not adoptable"
        );
    }

    #[test]
    fn force_consumes_the_record_and_a_stale_ticket_is_never_adopted() {
        let registry = Abandoned::new();
        let w = abandoned(&registry);
        registry
            .take(Take::Force, ME, file, &w.flag(), dead)
            .unwrap();
        assert_eq!(
            registry.take(Take::Begin, ME, file, &w.flag(), dead),
            Err(Busy { claim: ME })
        );
        w.flag().publish(ME);

        let w2 = abandoned(&registry);
        w2.ticket.store(5, Relaxed); // taken over and published since: another flag
        assert_eq!(
            registry.take(Take::Begin, ME, file, &w2.flag(), dead),
            Err(Busy { claim: ME })
        );
    }

    #[test]
    fn without_a_file_there_are_no_records() {
        let registry: Abandoned<u8> = Abandoned::new();
        let w = Words::default();
        w.flag().begin(ME, dead).unwrap();
        assert_eq!(
            registry.take(Take::Begin, ME, || None, &w.flag(), dead),
            Err(Busy { claim: ME })
        );
        registry
            .take(Take::Force, ME, || None, &w.flag(), dead)
            .unwrap();
    }
}
