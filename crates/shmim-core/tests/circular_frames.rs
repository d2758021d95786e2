//! Frames copied one by one from the circular buffer while the writer goes on
//! (`Stream::cb_anchor`, `Stream::read_cb_frame`): a slot is kept unless the writer rewrote it,
//! the oldest frame held only while no write is in progress, and a reader behind a writer
//! thread never keeps a torn frame. CI also runs this file under ThreadSanitizer with the
//! `strict` copy (`cargo xtask ci --only tsan`).

mod common;

use std::os::unix::fs::FileExt;

use common::{StreamDir, dead_pid};
use shmim_core::{CbAnchor, CbCopy, Datatype, Error, Stream, StreamSpec};
use shmim_layout::{CLAIM_PID_OFFSET, CLAIM_TICKET_OFFSET, CbFrameMd, ImageMetadata};

const PIXELS: usize = 4;

fn stream(dir: &StreamDir, name: &str, cb: u32) -> Stream {
    let spec = StreamSpec::new(&[2, 2], Datatype::U64).circular_buffer(cb);
    Stream::create(name, &spec.dir(dir.path())).unwrap()
}

fn write_frames(s: &mut Stream, n: u64) {
    for _ in 0..n {
        let f = s.cnt0() + 1;
        s.write_frame(&[f; PIXELS]).unwrap();
    }
}

/// Copies `frame` with a new anchor, checking the pixels and slot metadata of a copy.
fn copy(s: &Stream, frame: u64) -> CbCopy {
    let anchor = s.cb_anchor().unwrap().expect("a circular buffer");
    copy_from(s, &anchor, frame)
}

/// Copies `frame` from `anchor`, as [`copy`] does, and checks that the copy into bytes says the
/// same.
fn copy_from(s: &Stream, anchor: &CbAnchor, frame: u64) -> CbCopy {
    let mut buf = [0u64; PIXELS];
    let got = s.read_cb_frame(anchor, frame, &mut buf).unwrap();
    if let CbCopy::Copied(md) = got {
        assert_eq!((md.cnt0, buf), (frame, [frame; PIXELS]), "frame {frame}");
    }
    let mut bytes = [0u8; 8 * PIXELS];
    let as_bytes = s.read_cb_frame_bytes(anchor, frame, &mut bytes).unwrap();
    assert_eq!(as_bytes, got, "frame {frame} as bytes");
    if let CbCopy::Copied(_) = got {
        assert_eq!(bytes, *bytemuck::cast_ref::<_, [u8; 8 * PIXELS]>(&buf));
    }
    got
}

#[test]
fn the_frames_the_buffer_holds_are_copied_and_the_others_are_said() {
    let dir = StreamDir::new("held");
    let mut s = stream(&dir, "s", 3);
    write_frames(&mut s, 7);
    // Three slots hold 5, 6, 7; with no write in progress the oldest is copied too.
    for f in [7, 6, 5] {
        assert!(matches!(copy(&s, f), CbCopy::Copied(_)), "frame {f}");
    }
    assert_eq!(copy(&s, 4), CbCopy::Overwritten);
    assert_eq!(copy(&s, 1), CbCopy::Overwritten);
    assert_eq!(copy(&s, 8), CbCopy::NotPublished);
    assert_eq!(copy(&s, 0), CbCopy::NotPublished, "frame 0 is no frame");
}

#[test]
fn an_anchor_read_earlier_finds_the_frames_written_after_it() {
    let dir = StreamDir::new("anchor");
    let mut s = stream(&dir, "s", 4);
    write_frames(&mut s, 2);
    let anchor = s.cb_anchor().unwrap().unwrap();
    assert_eq!((anchor.cnt0(), anchor.size()), (2, 4));
    write_frames(&mut s, 5);
    for f in 4..=7 {
        assert!(
            matches!(copy_from(&s, &anchor, f), CbCopy::Copied(_)),
            "frame {f} is held"
        );
    }
}

#[test]
fn the_oldest_frame_is_refused_while_a_write_is_in_progress_and_the_others_are_not() {
    let dir = StreamDir::new("edge");
    let mut w = stream(&dir, "s", 3);
    write_frames(&mut w, 7);
    let r = Stream::open_in(dir.path(), "s").unwrap();
    // Read before: an anchor is a consistent read, which waits for a write in progress.
    let anchor = r.cb_anchor().unwrap().unwrap();
    let guard = w.write().unwrap();
    // Frame 8 may be going into frame 5's slot right now.
    assert_eq!(copy_from(&r, &anchor, 5), CbCopy::Overwritten);
    for f in [6, 7] {
        assert!(
            matches!(copy_from(&r, &anchor, f), CbCopy::Copied(_)),
            "frame {f}"
        );
    }
    guard.commit().unwrap();
    assert_eq!(copy(&r, 5), CbCopy::Overwritten, "rewritten by frame 8");
    assert!(matches!(copy(&r, 6), CbCopy::Copied(_)), "now the oldest");
}

#[test]
fn wrong_buffers_and_streams_without_a_buffer_are_refused() {
    let dir = StreamDir::new("refused");
    let mut s = stream(&dir, "s", 3);
    write_frames(&mut s, 1);
    let anchor = s.cb_anchor().unwrap().unwrap();
    assert!(matches!(
        s.read_cb_frame(&anchor, 1, &mut [0u32; PIXELS]),
        Err(Error::TypeMismatch { .. })
    ));
    assert!(matches!(
        s.read_cb_frame(&anchor, 1, &mut [0u64; PIXELS + 1]),
        Err(Error::LengthMismatch { .. })
    ));
    assert!(matches!(
        s.read_cb_frame_bytes(&anchor, 1, &mut [0u8; 8 * PIXELS - 1]),
        Err(Error::LengthMismatch { .. })
    ));
    let other = stream(&dir, "other", 5);
    assert!(matches!(
        other.read_cb_frame(&anchor, 1, &mut [0u64; PIXELS]),
        Err(Error::IndexOutOfRange { .. })
    ));
    let plain = Stream::create(
        "plain",
        &StreamSpec::new(&[2, 2], Datatype::U64).dir(dir.path()),
    )
    .unwrap();
    assert_eq!(plain.cb_anchor().unwrap(), None);
}

#[test]
fn a_reader_behind_a_writer_thread_never_keeps_a_torn_frame() {
    // The oldest frame it may copy without the stream's seqlock: the writer may be filling the
    // slot after it.
    reader_behind_a_writer_thread("race", 2);
}

#[test]
fn a_reader_at_the_oldest_slot_never_keeps_a_torn_frame() {
    // The oldest frame held, whose slot the next write fills: copied under the seqlock only.
    reader_behind_a_writer_thread("race-oldest", 1);
}

/// A reader thread copying, as it can, the frame `SLOTS - ahead` frames behind the newest, while
/// a writer thread publishes 256 KiB frames into 4 slots; the reader copies into fresh memory
/// each time (page faults: its copy takes longer than a commit), so the writer often gets round
/// to the slot during the copy. Every frame it keeps must be whole.
fn reader_behind_a_writer_thread(tag: &str, ahead: u64) {
    const SIDE: u32 = 128;
    const N: usize = (SIDE * SIDE) as usize * 2;
    const SLOTS: u32 = 4;
    // Fewer under ThreadSanitizer, whose `strict` copies are atomic words.
    let frames: u64 = if cfg!(shmim_tsan) { 200 } else { 2_000 };
    let dir = StreamDir::new(tag);
    let spec = StreamSpec::new(&[SIDE, SIDE * 2], Datatype::U64).circular_buffer(SLOTS);
    let mut w = Stream::create("s", &spec.dir(dir.path())).unwrap();
    let mut r = Stream::open_in(dir.path(), "s").unwrap();
    // The anchor is a consistent read, which waits for a gap between commits: a watchdog, not
    // a performance bound (under ThreadSanitizer the writer holds its flag nearly all the time).
    r.set_read_timeout(std::time::Duration::from_secs(600));
    let (kept, refused) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let (mut last, mut kept, mut refused) = (0u64, 0u64, 0u64);
            let mut anchor = None;
            while last < frames {
                let now = r.cnt0();
                if now <= last {
                    std::hint::spin_loop();
                    continue;
                }
                let a = *anchor.get_or_insert_with(|| r.cb_anchor().unwrap().unwrap());
                let want = (last + 1).max((now + ahead).saturating_sub(SLOTS.into()));
                let mut buf = vec![0u64; N];
                match r.read_cb_frame(&a, want, &mut buf).unwrap() {
                    CbCopy::Copied(md) => {
                        assert_eq!(md.cnt0, want, "the writer fills one slot per frame");
                        assert!(buf.iter().all(|&p| p == want), "frame {want} kept torn");
                        kept += 1;
                        last = want;
                    }
                    CbCopy::Overwritten => refused += 1,
                    CbCopy::NotPublished => panic!("frame {want} was published"),
                }
            }
            (kept, refused)
        });
        let mut frame = vec![0u64; N];
        for f in 1..=frames {
            frame.fill(f);
            w.write_frame(&frame).unwrap();
        }
        reader.join().unwrap()
    });
    assert!(kept > 0, "{refused} copies refused, none kept");
}

/// Leaves `s` as a writer of frame `cnt0 + 1` killed inside its commit leaves it, after it moved
/// `CBindex` on: the flag set and claimed by a dead process, the next slot filled with the frame
/// and its metadata, `CBindex` on that slot, `cnt0` not published.
fn die_after_taking_the_next_slot(s: &Stream) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(s.path().unwrap())
        .unwrap();
    let g = s.geometry();
    let md = g.regions.metadata.offset;
    let frame = s.cnt0() + 1;
    let next = (s.cb_position().0 + 1) % g.cb_size;
    let at = |field: usize| md + field as u64;
    let put = |offset: u64, bytes: &[u8]| file.write_at(bytes, offset).unwrap();
    put(at(core::mem::offset_of!(ImageMetadata, write)), &[1]);
    put(at(CLAIM_PID_OFFSET), &dead_pid().to_ne_bytes());
    put(at(CLAIM_TICKET_OFFSET), &(s.cnt0() as u32).to_ne_bytes());
    let pixels: Vec<u8> = [frame; PIXELS]
        .iter()
        .flat_map(|p| p.to_ne_bytes())
        .collect();
    put(
        g.regions.cb_data.offset + u64::from(next) * g.frame_bytes() as u64,
        &pixels,
    );
    let entry = CbFrameMd {
        cnt0: frame,
        ..Default::default()
    };
    let entry_at = g.regions.cb_md.offset + u64::from(next) * size_of::<CbFrameMd>() as u64;
    put(entry_at, bytemuck::bytes_of(&entry));
    put(
        at(core::mem::offset_of!(ImageMetadata, cb_index)),
        &next.to_ne_bytes(),
    );
    if next == 0 {
        // Killed after its `CBcycle` store too (one killed between the two stores leaves
        // `CBcycle` one short for good: docs/protocol.md).
        let cycle = s.cb_position().1 + 1;
        put(
            at(core::mem::offset_of!(ImageMetadata, cb_cycle)),
            &cycle.to_ne_bytes(),
        );
    }
}

#[test]
fn a_commit_killed_after_taking_its_slot_leaves_every_frame_where_anchors_put_it() {
    // In the middle of the buffer, and at a wrap (frame f goes to slot f mod 4: after 7 frames
    // the dead commit takes slot 0).
    for before in [6, 7] {
        commit_killed_after_taking_its_slot(before);
    }
}

fn commit_killed_after_taking_its_slot(before: u64) {
    let dir = StreamDir::new("killed");
    let mut w = stream(&dir, "s", 4);
    write_frames(&mut w, before);
    let anchor = w.cb_anchor().unwrap().unwrap();
    let (slot, cycle) = w.cb_position();
    die_after_taking_the_next_slot(&w);
    // The recoverer publishes the frame into the slot the dead commit took, not the one after:
    // that one holds the oldest frame but one, which a reader may copy until the frame after.
    let frame = before + 1;
    let mut guard = w.recover_writer(false).expect("the claimant is dead");
    guard.copy_from(&[frame; PIXELS]).unwrap();
    assert_eq!(guard.commit().unwrap(), frame);
    assert_eq!(
        w.cb_position(),
        ((slot + 1) % 4, cycle + u64::from(slot == 3)),
        "after {before} frames"
    );
    for f in frame - 3..=frame {
        assert!(
            matches!(copy_from(&w, &anchor, f), CbCopy::Copied(_)),
            "frame {f} where the anchor says"
        );
    }
    // And the frames after go on one slot each.
    write_frames(&mut w, 1);
    assert!(matches!(
        copy_from(&w, &anchor, frame + 1),
        CbCopy::Copied(_)
    ));
}

#[test]
fn a_commit_over_a_hostile_slot_index_restarts_at_slot_zero() {
    let dir = StreamDir::new("hostile-index");
    let mut w = stream(&dir, "s", 4);
    write_frames(&mut w, 1);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(w.path().unwrap())
        .unwrap();
    let at = w.geometry().regions.metadata.offset
        + core::mem::offset_of!(ImageMetadata, cb_index) as u64;
    for hostile in [u32::MAX, 4] {
        file.write_at(&hostile.to_ne_bytes(), at).unwrap();
        write_frames(&mut w, 1);
        assert_eq!(w.cb_position().0, 0, "CBindex {hostile}");
        let frame = w.cnt0();
        assert!(
            matches!(copy(&w, frame), CbCopy::Copied(_)),
            "frame {frame}"
        );
    }
}
