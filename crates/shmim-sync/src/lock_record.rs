//! What a process knows of the segment locks its own threads hold, and the rules that combine it
//! with the word: the deciding part of [`crate::lock`], written without system calls (the
//! operating system's answers arrive through [`Os`]) so that loom runs this very code
//! (`tests/loom_lock.rs`).
//!
//! # Why a record, and why it comes first
//! The word names a process and a thread, and anyone who can write the file can change it. Two
//! threads of *this* process holding one lock means two `&mut` to the same memory: undefined
//! behaviour here, which neither a scribbled word nor another process's `force` may cause. So:
//!
//! * **Within the process, the record alone decides.** While a live thread of ours holds a guard
//!   of a lock, no other thread of ours acquires it (it waits) and `force` is refused, whatever
//!   the word says; the holding thread relocking is told [`Attempt::Relock`] in any PID namespace
//!   (the word cannot tell it, outside the lock's namespace).
//! * **Between processes, the word decides** ([`crate::lock_word`]). The record only answers
//!   "is that us?": a word naming our PID that no live thread of ours holds is a **stale** record
//!   (a dead process had our PID, or a thread of ours ended holding it, guard forgotten) and is
//!   taken over.
//!
//! The caller holds one process-wide lock around every call here, so the record and the word
//! change together: no thread ever sees the word name its process while the record does not (yet,
//! or any more) list the holder.
//!
//! # Entries
//! An entry names a lock by its identity ([`LockId`]: two mappings of one file are one lock) and
//! its holder twice: by kernel thread id, to ask whether that thread still runs, and by a token no
//! other thread of the process ever had, because thread ids are reused. An entry whose thread
//! ended is stale and dropped when next looked at. A record made by another process (a forked
//! child inherits a copy of its parent's, possibly caught in the middle of an update) is dropped
//! whole without reading it: the parent's guards are not the child's.

use std::sync::atomic::Ordering::Relaxed;

use crate::field::AtomicCell;
use crate::lock_word::{self, Attempt, Locker, Verdict, Word};

/// Which lock this is, independent of where it is mapped: the record is keyed by it, so two
/// mappings of one file are one lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockId {
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// Offset of the word in the file.
    pub offset: u64,
}

/// What the operating system says about threads and processes (system calls in [`crate::lock`],
/// a model in loom).
pub trait Os {
    /// Whether thread `tid` of this process still runs.
    fn thread_alive(&self, tid: u32) -> bool;
    /// Whether process `pid` (> 0, in the lock's PID namespace) is known not to run any more.
    fn process_dead(&self, pid: u32) -> bool;
}

/// A thread of this process taking, forcing or releasing a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Me {
    /// PID, thread id and namespace, as the word records them.
    pub locker: Locker,
    /// A number no other thread of this process ever had.
    pub token: u64,
}

/// Why [`Record::force`] refused: a live thread of this process holds the lock, so forcing it
/// would give two guards in one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The calling thread holds it.
    ThisThread,
    /// Another live thread of this process (its id) holds it.
    Thread(u32),
}

/// One guard of this process.
#[derive(Debug, Clone, Copy)]
struct Held {
    id: LockId,
    tid: u32,
    token: u64,
}

/// The guards this process holds (module docs).
#[derive(Debug, Default)]
pub struct Record {
    /// The process the entries belong to (0 before the first use).
    pid: u32,
    held: Vec<Held>,
}

impl Record {
    /// An empty record.
    pub const fn new() -> Self {
        Self {
            pid: 0,
            held: Vec::new(),
        }
    }

    /// One acquisition attempt by `me` on lock `id` (the word at `word`): the record first,
    /// then the word (module docs). Never waits. `Busy` carries the word seen, to sleep on.
    pub fn attempt<C: AtomicCell<u64>>(
        &mut self,
        word: &C,
        id: LockId,
        me: Me,
        waited: bool,
        os: &impl Os,
    ) -> Attempt {
        match self.holder(id, me, os) {
            Some(Refusal::ThisThread) => return Attempt::Relock,
            Some(Refusal::Thread(_)) => return Attempt::Busy(word.load(Relaxed)),
            None => {}
        }
        let outcome = lock_word::attempt(word, me.locker, waited, |w| judge(w, me.locker, os));
        if let Attempt::Acquired { .. } = outcome {
            self.push(id, me);
        }
        outcome
    }

    /// Takes lock `id` whatever the word holds, marked owner-died, unless a live thread of this
    /// process holds it.
    pub fn force<C: AtomicCell<u64>>(
        &mut self,
        word: &C,
        id: LockId,
        me: Me,
        os: &impl Os,
    ) -> Result<(), Refusal> {
        if let Some(refusal) = self.holder(id, me, os) {
            return Err(refusal);
        }
        lock_word::force(word, me.locker);
        self.push(id, me);
        Ok(())
    }

    /// Releases the guard `me` holds on lock `id` (see [`lock_word::release`]); returns whether
    /// a sleeper should be woken.
    pub fn release<C: AtomicCell<u64>>(
        &mut self,
        word: &C,
        id: LockId,
        me: Me,
        consistent: bool,
    ) -> bool {
        self.of_process(me.locker.pid);
        self.held.retain(|h| !(h.id == id && h.token == me.token));
        lock_word::release(word, me.locker, consistent)
    }

    /// The id of another live thread of this process that holds lock `id`, if any (what a
    /// timeout should name rather than the word, which may even read free meanwhile).
    pub fn other_thread_holding(&mut self, id: LockId, me: Me, os: &impl Os) -> Option<u32> {
        match self.holder(id, me, os)? {
            Refusal::Thread(tid) => Some(tid),
            Refusal::ThisThread => None,
        }
    }

    /// Which live thread of this process holds lock `id`, if any, after dropping stale entries.
    fn holder(&mut self, id: LockId, me: Me, os: &impl Os) -> Option<Refusal> {
        self.of_process(me.locker.pid);
        // An entry with our thread id but another token: the thread it names ended (we have its
        // id now). Otherwise ask whether the thread still runs.
        self.held.retain(|h| {
            h.id != id || h.token == me.token || (h.tid != me.locker.tid && os.thread_alive(h.tid))
        });
        let h = self.held.iter().find(|h| h.id == id)?;
        Some(if h.token == me.token {
            Refusal::ThisThread
        } else {
            Refusal::Thread(h.tid)
        })
    }

    fn push(&mut self, id: LockId, me: Me) {
        self.held.push(Held {
            id,
            tid: me.locker.tid,
            token: me.token,
        });
    }

    /// Starts afresh when the record was made by another process (module docs).
    fn of_process(&mut self, pid: u32) {
        if self.pid != pid {
            // Forgotten, not dropped: a copy caught mid-update by `fork` may not be freeable.
            std::mem::forget(std::mem::take(&mut self.held));
            self.pid = pid;
        }
    }
}

/// The verdict on the holder a busy word names, once the record said no live thread of ours
/// holds the lock.
pub fn judge(w: Word, me: Locker, os: &impl Os) -> Verdict {
    if !me.home || w.foreign {
        // A PID from another namespace (or ours, seen from outside the lock's) means nothing:
        // wait, until the caller's timeout; only `force` takes it.
        return Verdict::Alive;
    }
    if w.owner == me.pid {
        // Our PID, but no live thread of ours holds it.
        return Verdict::Dead;
    }
    // `owner` is > 0 here: a free word needs no verdict.
    if os.process_dead(w.owner) {
        Verdict::Dead
    } else {
        Verdict::Alive
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// Threads 11 and 12 run; process 7 is dead; everything else lives.
    struct Fake;

    impl Os for Fake {
        fn thread_alive(&self, tid: u32) -> bool {
            matches!(tid, 11 | 12)
        }
        fn process_dead(&self, pid: u32) -> bool {
            pid == 7
        }
    }

    const ID: LockId = LockId {
        dev: 1,
        ino: 2,
        offset: 16,
    };

    fn thread(tid: u32, token: u64, home: bool) -> Me {
        Me {
            locker: Locker { pid: 5, tid, home },
            token,
        }
    }

    #[test]
    fn the_holding_thread_relocking_is_told_in_any_namespace() {
        for home in [true, false] {
            let (word, mut record) = (AtomicU64::new(0), Record::new());
            let me = thread(11, 1, home);
            assert!(matches!(
                record.attempt(&word, ID, me, false, &Fake),
                Attempt::Acquired { owner_died: false }
            ));
            assert_eq!(record.attempt(&word, ID, me, false, &Fake), Attempt::Relock);
            assert_eq!(record.force(&word, ID, me, &Fake), Err(Refusal::ThisThread));
        }
    }

    #[test]
    fn a_live_thread_of_ours_excludes_the_others_whatever_the_word_says() {
        let (word, mut record) = (AtomicU64::new(0), Record::new());
        let (a, b) = (thread(11, 1, true), thread(12, 2, true));
        assert!(matches!(
            record.attempt(&word, ID, a, false, &Fake),
            Attempt::Acquired { .. }
        ));
        // Someone cleared the word (another process forced and released, or a scribbler).
        word.store(0, Relaxed);
        assert_eq!(record.attempt(&word, ID, b, false, &Fake), Attempt::Busy(0));
        assert_eq!(record.force(&word, ID, b, &Fake), Err(Refusal::Thread(11)));
        assert!(!record.release(&word, ID, a, true), "nobody waits");
        assert!(matches!(
            record.attempt(&word, ID, b, false, &Fake),
            Attempt::Acquired { owner_died: false }
        ));
    }

    #[test]
    fn entries_of_threads_that_ended_are_stale() {
        let (word, mut record) = (AtomicU64::new(0), Record::new());
        // Thread 13 (ended) holds it with a guard forgotten.
        assert!(matches!(
            record.attempt(&word, ID, thread(13, 3, true), false, &Fake),
            Attempt::Acquired { .. }
        ));
        assert_eq!(
            record.attempt(&word, ID, thread(11, 1, true), false, &Fake),
            Attempt::Acquired { owner_died: true },
            "our PID in the word, nobody of ours alive holding it: taken over"
        );
        // A thread that got the id of one that ended holding the lock is not that thread.
        let mut record = Record::new();
        word.store(0, Relaxed);
        record.attempt(&word, ID, thread(11, 1, true), false, &Fake);
        assert!(matches!(
            record.attempt(&word, ID, thread(11, 9, true), false, &Fake),
            Attempt::Acquired { owner_died: true }
        ));
    }

    #[test]
    // The parent's record is forgotten, not freed (a copy made by `fork` may be torn): a leak.
    #[cfg_attr(miri, ignore = "leaks the parent's record on purpose")]
    fn a_forked_child_does_not_inherit_its_parents_guards() {
        let (word, mut record) = (AtomicU64::new(0), Record::new());
        record.attempt(&word, ID, thread(11, 1, true), false, &Fake);
        // The child (PID 6) of the process that holds the lock.
        let child = Me {
            locker: Locker {
                pid: 6,
                tid: 11,
                home: true,
            },
            token: 9,
        };
        assert!(
            matches!(
                record.attempt(&word, ID, child, false, &Fake),
                Attempt::Busy(_)
            ),
            "the parent (alive) holds the word"
        );
        assert_eq!(record.force(&word, ID, child, &Fake), Ok(()));
    }

    #[test]
    fn other_processes_are_judged_by_liveness_only_at_home() {
        let me = Locker {
            pid: 5,
            tid: 11,
            home: true,
        };
        let dead = Word {
            owner: 7,
            tid: 7,
            ..Word::default()
        };
        assert_eq!(judge(dead, me, &Fake), Verdict::Dead);
        assert_eq!(judge(Word { owner: 8, ..dead }, me, &Fake), Verdict::Alive);
        assert_eq!(
            judge(
                Word {
                    foreign: true,
                    ..dead
                },
                me,
                &Fake
            ),
            Verdict::Alive
        );
        assert_eq!(
            judge(dead, Locker { home: false, ..me }, &Fake),
            Verdict::Alive
        );
        assert_eq!(
            judge(Word { owner: 5, ..dead }, me, &Fake),
            Verdict::Dead,
            "our PID with no guard of ours"
        );
    }
}
