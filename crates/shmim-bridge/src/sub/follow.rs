//! Which incarnation of a source a key's mirror follows, and which messages belong to it.
//!
//! A description names a *generation* (one incarnation of the source file); frames name the
//! generation they belong to. The subscription callback asks [`Follow`] about every message
//! before it is queued:
//!
//! * A frame of the followed generation is accepted only with that generation's frame size; a
//!   frame of another generation is *stale* (its description is asked for).
//! * A description of a new generation is followed at once: a re-created source stops sending
//!   the old generation before it describes the new one (one publisher's messages arrive in
//!   order), so the switch is clean.
//! * Two publishers on one key (two hosts publishing the same name) alternate: after a switch,
//!   a frame or description of the generation just left can only come from another source. The
//!   key is then *pinned* to the generation it follows; the other is ignored, counted, until the
//!   followed one has been silent for [`PIN_SILENCE`]. So the mirror is re-created at most once
//!   when the second source appears, not at every alternation.
//! * A description *sample* of the followed generation with another layout contradicts what
//!   that very file is (a generation is one file: its layout cannot change); it is refused as
//!   malformed and the publisher's queryable asked. A *query reply* saying so is believed (it
//!   comes from the publisher the subscriber asked), which repairs a forged description that
//!   arrived first.

use std::time::{Duration, Instant};

use crate::layout::Layout;

/// How long the followed generation must be silent before a pinned key follows another.
pub const PIN_SILENCE: Duration = Duration::from_secs(3);

/// How a description arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A sample put on the key.
    Sample,
    /// A reply to this subscriber's query.
    Reply,
}

/// What to do with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Queue it.
    Accept,
    /// A frame of a generation not followed: drop it and ask for the description.
    Stale,
    /// A frame of the followed generation with another size: malformed.
    WrongSize {
        /// The followed generation's frame bytes.
        expected: u64,
    },
    /// A description sample contradicting the followed generation's layout: malformed.
    Contradiction,
    /// A message of a second source on the key: ignored (`first`: the second source was just
    /// noticed).
    OtherSource {
        /// Whether this is the message that revealed the second source.
        first: bool,
        /// The generation ignored.
        ignored: u64,
        /// The generation followed.
        followed: u64,
    },
}

#[derive(Debug, Clone)]
struct Followed {
    generation: u64,
    layout: Layout,
    frame_bytes: u64,
    last_seen: Instant,
}

/// The generation a key follows.
#[derive(Debug, Default)]
pub struct Follow {
    current: Option<Followed>,
    /// The generation the last switch left.
    left: Option<u64>,
    pinned: bool,
}

impl Follow {
    /// A description of `generation` with `layout` arrived at `now`.
    pub fn on_meta(
        &mut self,
        generation: u64,
        layout: &Layout,
        origin: Origin,
        now: Instant,
    ) -> Verdict {
        let follow = || Followed {
            generation,
            layout: layout.clone(),
            frame_bytes: layout.frame_bytes().unwrap_or(u64::MAX),
            last_seen: now,
        };
        let Some(c) = &mut self.current else {
            self.current = Some(follow());
            return Verdict::Accept;
        };
        if c.generation == generation {
            if c.layout != *layout {
                if origin == Origin::Sample {
                    return Verdict::Contradiction;
                }
                *c = follow();
                return Verdict::Accept;
            }
            c.last_seen = now;
            return Verdict::Accept;
        }
        let silent = now.duration_since(c.last_seen) >= PIN_SILENCE;
        if !silent && (self.pinned || self.left == Some(generation)) {
            // A reply of the generation just left may be a late answer to an old query: it
            // proves nothing. A sample of it does: two sources.
            let first = !self.pinned && origin == Origin::Sample;
            self.pinned |= origin == Origin::Sample;
            return Verdict::OtherSource {
                first,
                ignored: generation,
                followed: c.generation,
            };
        }
        self.left = Some(c.generation);
        self.pinned = false;
        *c = follow();
        Verdict::Accept
    }

    /// A frame of `generation` carrying `bytes` pixel bytes arrived at `now`.
    pub fn on_frame(&mut self, generation: u64, bytes: u64, now: Instant) -> Verdict {
        let Some(c) = &mut self.current else {
            return Verdict::Stale;
        };
        if c.generation == generation {
            if bytes != c.frame_bytes {
                return Verdict::WrongSize {
                    expected: c.frame_bytes,
                };
            }
            c.last_seen = now;
            return Verdict::Accept;
        }
        if self.left == Some(generation) && now.duration_since(c.last_seen) < PIN_SILENCE {
            let first = !self.pinned;
            self.pinned = true;
            return Verdict::OtherSource {
                first,
                ignored: generation,
                followed: c.generation,
            };
        }
        Verdict::Stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(side: u32) -> Layout {
        Layout {
            datatype: shmim_core::Datatype::U8,
            shape: vec![side, side],
            imagetype: 0,
            semaphores: 1,
            keyword_slots: 0,
            cb_size: 0,
        }
    }

    #[test]
    fn frames_of_the_described_generation_and_size_are_accepted() {
        let (mut f, t) = (Follow::default(), Instant::now());
        assert_eq!(f.on_frame(1, 16, t), Verdict::Stale, "no description yet");
        assert_eq!(f.on_meta(1, &layout(4), Origin::Sample, t), Verdict::Accept);
        assert_eq!(f.on_frame(1, 16, t), Verdict::Accept);
        assert_eq!(f.on_frame(1, 10, t), Verdict::WrongSize { expected: 16 });
        assert_eq!(f.on_frame(9, 16, t), Verdict::Stale);
    }

    #[test]
    fn a_recreated_source_is_followed_at_once() {
        let (mut f, t) = (Follow::default(), Instant::now());
        f.on_meta(1, &layout(4), Origin::Sample, t);
        f.on_frame(1, 16, t);
        assert_eq!(f.on_meta(2, &layout(8), Origin::Sample, t), Verdict::Accept);
        assert_eq!(f.on_frame(2, 64, t), Verdict::Accept);
        assert_eq!(f.on_meta(3, &layout(2), Origin::Sample, t), Verdict::Accept);
    }

    #[test]
    fn two_sources_on_one_key_pin_it_to_the_followed_one_until_it_falls_silent() {
        let (mut f, t) = (Follow::default(), Instant::now());
        f.on_meta(1, &layout(4), Origin::Sample, t);
        f.on_meta(2, &layout(8), Origin::Sample, t);
        let other = |first| Verdict::OtherSource {
            first,
            ignored: 1,
            followed: 2,
        };
        assert_eq!(f.on_frame(1, 16, t), other(true));
        assert_eq!(f.on_frame(1, 16, t), other(false));
        assert_eq!(f.on_meta(1, &layout(4), Origin::Sample, t), other(false));
        assert!(matches!(
            f.on_meta(5, &layout(4), Origin::Reply, t),
            Verdict::OtherSource { .. }
        ));
        assert_eq!(f.on_frame(2, 64, t), Verdict::Accept);
        let later = t + PIN_SILENCE;
        assert_eq!(f.on_frame(1, 16, later), Verdict::Stale, "asks again");
        assert_eq!(
            f.on_meta(1, &layout(4), Origin::Reply, later),
            Verdict::Accept
        );
    }

    #[test]
    fn a_late_reply_of_the_generation_left_is_ignored_without_pinning() {
        let (mut f, t) = (Follow::default(), Instant::now());
        f.on_meta(1, &layout(4), Origin::Sample, t);
        f.on_meta(2, &layout(8), Origin::Sample, t);
        assert!(matches!(
            f.on_meta(1, &layout(4), Origin::Reply, t),
            Verdict::OtherSource { first: false, .. }
        ));
        assert_eq!(f.on_meta(3, &layout(2), Origin::Sample, t), Verdict::Accept);
    }

    #[test]
    fn a_sample_contradicting_the_followed_layout_is_refused_and_a_reply_believed() {
        let (mut f, t) = (Follow::default(), Instant::now());
        f.on_meta(1, &layout(4), Origin::Sample, t);
        assert_eq!(
            f.on_meta(1, &layout(2), Origin::Sample, t),
            Verdict::Contradiction
        );
        assert_eq!(f.on_frame(1, 16, t), Verdict::Accept, "still 4x4");
        assert_eq!(f.on_meta(1, &layout(2), Origin::Reply, t), Verdict::Accept);
        assert_eq!(f.on_frame(1, 4, t), Verdict::Accept);
    }
}
