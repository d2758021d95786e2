//! Which incarnation of a source a key's mirror follows, and which messages belong to it.
//!
//! A description names a *generation* (one incarnation of the source file); frames name the
//! generation they belong to. The subscription callback asks [`Follow`] about every message
//! before it is queued. Only *frames* of the followed generation show that it is alive:
//! descriptions cost nothing to forge, so they never do.
//!
//! * A frame of the followed generation is accepted only with that generation's frame size; a
//!   frame of another generation is *stale* (its description is asked for).
//! * A description of a new generation is followed at once only when the followed generation
//!   has sent no frame for [`PIN_SILENCE`] (or nothing is followed yet). Otherwise it is *held*:
//!   the first frame of that generation, of the size it describes, switches the key to it (the
//!   held description is queued before that frame). A re-created source stops sending the old
//!   generation, describes the new one and then sends its frames, so it is followed at its first
//!   frame; a description alone (forged, or of a source that never writes) never replaces a live
//!   mirror. While a description is held and the followed generation is silent, the worker asks
//!   the publisher ([`Follow::held_and_silent`]): its reply is then followed at once.
//! * Two publishers on one key (two hosts publishing the same name) alternate: after a switch,
//!   a frame or description of the generation just left can only come from another source. The
//!   key is then *pinned* to the generation it follows; the other is ignored, counted, until the
//!   followed one has sent no frame for [`PIN_SILENCE`]. So the mirror is re-created at most
//!   once when the second source appears (at its first frame), not at every alternation.
//! * A description *sample* of the followed generation with another layout contradicts what
//!   that very file is (a generation is one file: its layout cannot change); it is refused as
//!   malformed and the publisher's queryable asked. A *query reply* saying so is believed (it
//!   comes from the publisher the subscriber asked), which repairs a forged description that
//!   arrived first.

use std::time::{Duration, Instant};

use crate::layout::Layout;

/// How long the followed generation must send no frame before another is followed on a
/// description alone (and before a pinned key follows another).
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
    /// A description of a new generation while the followed one still sends frames: hold it
    /// until a frame of its generation comes.
    Held,
    /// A frame of the held generation: queue the held description, then the frame.
    Switch,
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

/// A described generation.
#[derive(Debug, Clone)]
struct Described {
    generation: u64,
    layout: Layout,
    frame_bytes: u64,
}

impl Described {
    fn new(generation: u64, layout: &Layout) -> Self {
        Self {
            generation,
            layout: layout.clone(),
            frame_bytes: layout.frame_bytes().unwrap_or(u64::MAX),
        }
    }
}

#[derive(Debug, Clone)]
struct Followed {
    described: Described,
    /// When its last frame came (or when it was followed, before its first).
    last_frame: Instant,
}

/// The generation a key follows.
#[derive(Debug, Default)]
pub struct Follow {
    current: Option<Followed>,
    /// A new generation described while the followed one sends frames.
    held: Option<Described>,
    /// The generation the last switch left.
    left: Option<u64>,
    pinned: bool,
}

impl Follow {
    /// Follows `d` from `now` on, leaving the generation followed so far.
    fn switch(&mut self, d: Described, now: Instant) {
        self.left = self.current.as_ref().map(|c| c.described.generation);
        self.pinned = false;
        self.held = None;
        self.current = Some(Followed {
            described: d,
            last_frame: now,
        });
    }

    fn silent(&self, now: Instant) -> bool {
        self.current
            .as_ref()
            .is_none_or(|c| now.duration_since(c.last_frame) >= PIN_SILENCE)
    }

    /// A description of `generation` with `layout` arrived at `now`.
    pub fn on_meta(
        &mut self,
        generation: u64,
        layout: &Layout,
        origin: Origin,
        now: Instant,
    ) -> Verdict {
        let silent = self.silent(now);
        let Some(c) = &mut self.current else {
            self.switch(Described::new(generation, layout), now);
            return Verdict::Accept;
        };
        if c.described.generation == generation {
            if c.described.layout != *layout {
                if origin == Origin::Sample {
                    return Verdict::Contradiction;
                }
                c.described = Described::new(generation, layout);
            }
            if origin == Origin::Reply {
                // The publisher asked says the followed generation is its current one.
                self.held = None;
            }
            return Verdict::Accept;
        }
        let followed = c.described.generation;
        if !silent && (self.pinned || self.left == Some(generation)) {
            // A reply of the generation just left may be a late answer to an old query: it
            // proves nothing. A sample of it does: two sources.
            let first = !self.pinned && origin == Origin::Sample;
            self.pinned |= origin == Origin::Sample;
            return Verdict::OtherSource {
                first,
                ignored: generation,
                followed,
            };
        }
        if silent {
            self.switch(Described::new(generation, layout), now);
            return Verdict::Accept;
        }
        self.held = Some(Described::new(generation, layout));
        Verdict::Held
    }

    /// A frame of `generation` carrying `bytes` pixel bytes arrived at `now`.
    pub fn on_frame(&mut self, generation: u64, bytes: u64, now: Instant) -> Verdict {
        let silent = self.silent(now);
        let Some(c) = &mut self.current else {
            return Verdict::Stale;
        };
        if c.described.generation == generation {
            if bytes != c.described.frame_bytes {
                return Verdict::WrongSize {
                    expected: c.described.frame_bytes,
                };
            }
            c.last_frame = now;
            return Verdict::Accept;
        }
        let followed = c.described.generation;
        if self.left == Some(generation) && !silent {
            let first = !self.pinned;
            self.pinned = true;
            return Verdict::OtherSource {
                first,
                ignored: generation,
                followed,
            };
        }
        match self.held.take() {
            Some(h) if h.generation == generation && h.frame_bytes == bytes => {
                self.switch(h, now);
                Verdict::Switch
            }
            held => {
                // Not the held generation, or not its size: ask the publisher (its reply
                // replaces what is held).
                self.held = held;
                Verdict::Stale
            }
        }
    }

    /// Whether a description is held while the followed generation sends no frames: then the
    /// publisher should be asked (its reply is followed at once).
    pub fn held_and_silent(&self, now: Instant) -> bool {
        self.held.is_some() && self.silent(now)
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
    fn a_recreated_source_is_followed_at_its_first_frame() {
        let (mut f, t) = (Follow::default(), Instant::now());
        f.on_meta(1, &layout(4), Origin::Sample, t);
        f.on_frame(1, 16, t);
        assert_eq!(f.on_meta(2, &layout(8), Origin::Sample, t), Verdict::Held);
        assert_eq!(f.on_frame(1, 16, t), Verdict::Accept, "still generation 1");
        assert_eq!(
            f.on_frame(2, 16, t),
            Verdict::Stale,
            "not the size described"
        );
        assert_eq!(f.on_frame(2, 64, t), Verdict::Switch);
        assert_eq!(f.on_frame(2, 64, t), Verdict::Accept);
    }

    #[test]
    fn a_description_alone_never_replaces_a_generation_that_sends_frames() {
        let (mut f, t) = (Follow::default(), Instant::now());
        f.on_meta(1, &layout(4), Origin::Sample, t);
        let mut now = t;
        for _ in 0..10 {
            now += PIN_SILENCE / 2;
            assert_eq!(f.on_meta(2, &layout(8), Origin::Sample, now), Verdict::Held);
            assert!(!f.held_and_silent(now));
            assert_eq!(f.on_frame(1, 16, now), Verdict::Accept);
        }
        // The followed generation stops sending frames: the held one is asked about, and a
        // description after the silence is followed at once.
        let later = now + PIN_SILENCE;
        assert!(f.held_and_silent(later));
        assert_eq!(
            f.on_meta(2, &layout(8), Origin::Reply, later),
            Verdict::Accept
        );
        assert_eq!(f.on_frame(2, 64, later), Verdict::Accept);
    }

    #[test]
    fn a_reply_naming_the_followed_generation_drops_what_is_held() {
        let (mut f, t) = (Follow::default(), Instant::now());
        f.on_meta(1, &layout(4), Origin::Sample, t);
        assert_eq!(f.on_meta(2, &layout(8), Origin::Sample, t), Verdict::Held);
        assert_eq!(f.on_meta(1, &layout(4), Origin::Reply, t), Verdict::Accept);
        assert!(!f.held_and_silent(t + PIN_SILENCE));
        assert_eq!(f.on_frame(2, 64, t), Verdict::Stale);
    }

    #[test]
    fn two_sources_on_one_key_pin_it_to_the_followed_one_until_it_falls_silent() {
        let (mut f, t) = (Follow::default(), Instant::now());
        f.on_meta(1, &layout(4), Origin::Sample, t);
        f.on_frame(1, 16, t);
        assert_eq!(f.on_meta(2, &layout(8), Origin::Sample, t), Verdict::Held);
        assert_eq!(f.on_frame(2, 64, t), Verdict::Switch);
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
        f.on_frame(2, 64, t);
        assert!(matches!(
            f.on_meta(1, &layout(4), Origin::Reply, t),
            Verdict::OtherSource { first: false, .. }
        ));
        assert_eq!(f.on_meta(3, &layout(2), Origin::Sample, t), Verdict::Held);
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
