//! Checksum frames: frames that say which frame they are and prove they are whole.
//!
//! Layout (little-endian `u64` words at the start of the frame's bytes):
//!
//! | offset | word |
//! |---|---|
//! | 0 | magic `shmimCK1` |
//! | 8 | frame number the writer publishes it as (the `cnt0` after its commit) |
//! | 16 | publish stamp: `CLOCK_MONOTONIC` ns, written just before commit (not checksummed) |
//! | 24 | checksum of the frame number and the payload |
//! | 32… | payload: word `j` is `frame·K1 ^ j·K2`, so every word differs between frames |
//!
//! A torn frame (part of one frame, part of another) fails the checksum: each payload word is
//! weighted by its position, so no mix of two frames' words sums to either frame's checksum
//! except by a 2⁻⁶⁴ accident.

/// Bytes before the payload.
pub const HEADER: usize = 32;
const MAGIC: u64 = u64::from_le_bytes(*b"shmimCK1");
const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const STAMP_AT: usize = 16;

/// What a frame turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not a checksum frame (no magic): nothing to check.
    Plain,
    /// A whole checksum frame.
    Whole {
        /// The frame number it was published as.
        frame: u64,
        /// Its publish stamp (`CLOCK_MONOTONIC` ns).
        stamp: u64,
    },
    /// A checksum frame whose checksum does not match: torn or corrupt.
    Torn {
        /// The frame number its header claims.
        frame: u64,
    },
}

/// Fills `buf` (a whole frame, at least [`HEADER`] bytes) as frame `frame`, stamp left 0.
pub fn fill(buf: &mut [u8], frame: u64) {
    let (head, payload) = buf.split_at_mut(HEADER);
    let mut sum = frame.wrapping_mul(K1);
    let base = frame.wrapping_mul(K1);
    let mut words = payload.chunks_exact_mut(8);
    for (j, w) in (&mut words).enumerate() {
        let v = base ^ (j as u64).wrapping_mul(K2);
        w.copy_from_slice(&v.to_le_bytes());
        sum = sum.wrapping_add(v.wrapping_mul(2 * j as u64 + 1));
    }
    for (k, b) in words.into_remainder().iter_mut().enumerate() {
        *b = (base >> (8 * k)) as u8;
        sum = sum.wrapping_add(u64::from(*b) << (8 * k));
    }
    put(head, 0, MAGIC);
    put(head, 8, frame);
    put(head, STAMP_AT, 0);
    put(head, 24, sum);
}

/// Writes the publish stamp into a filled frame.
pub fn stamp(buf: &mut [u8], mono_ns: u64) {
    put(buf, STAMP_AT, mono_ns);
}

/// Checks a frame's bytes.
pub fn verify(buf: &[u8]) -> Verdict {
    if buf.len() < HEADER || get(buf, 0) != MAGIC {
        return Verdict::Plain;
    }
    let frame = get(buf, 8);
    let mut sum = frame.wrapping_mul(K1);
    let payload = &buf[HEADER..];
    let mut words = payload.chunks_exact(8);
    for (j, w) in (&mut words).enumerate() {
        let v = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        sum = sum.wrapping_add(v.wrapping_mul(2 * j as u64 + 1));
    }
    for (k, b) in words.remainder().iter().enumerate() {
        sum = sum.wrapping_add(u64::from(*b) << (8 * k));
    }
    if sum == get(buf, 24) {
        Verdict::Whole {
            frame,
            stamp: get(buf, STAMP_AT),
        }
    } else {
        Verdict::Torn { frame }
    }
}

fn put(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get(buf: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_frame_verifies_with_its_number_and_stamp() {
        let mut buf = vec![0u8; 1000 + 3];
        fill(&mut buf, 42);
        stamp(&mut buf, 7);
        assert_eq!(
            verify(&buf),
            Verdict::Whole {
                frame: 42,
                stamp: 7
            }
        );
    }

    #[test]
    fn half_of_one_frame_and_half_of_the_next_is_torn() {
        let (mut a, mut b) = (vec![0u8; 4096], vec![0u8; 4096]);
        fill(&mut a, 5);
        fill(&mut b, 6);
        a[2048..].copy_from_slice(&b[2048..]);
        assert_eq!(verify(&a), Verdict::Torn { frame: 5 });
        assert_eq!(verify(&[0u8; 64]), Verdict::Plain);
    }
}
