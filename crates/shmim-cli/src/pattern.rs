//! Synthetic frame contents for `shmim write`: ramp, noise and checksum frames, for every pixel
//! type. Frames are built in a private buffer, then copied into the stream under the write guard,
//! so the write flag is held only for the copy.

use shmim_core::Datatype;

use crate::checksum;
use crate::cli::Pattern;

/// A private frame buffer, 8-aligned so it can be viewed as any pixel type.
pub struct FrameBuf {
    words: Vec<u64>,
    len: usize,
    datatype: Datatype,
    rng: u64,
}

impl FrameBuf {
    /// A zeroed frame of `len` bytes of `datatype` pixels.
    pub fn new(datatype: Datatype, len: usize) -> Self {
        Self {
            words: vec![0; len.div_ceil(8)],
            len,
            datatype,
            rng: 0x2545_F491_4F6C_DD1D ^ u64::from(std::process::id()),
        }
    }

    /// The frame's bytes.
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    /// The frame's bytes, mutable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }

    /// Fills the buffer as frame `frame` (the number it will be published as) of `pattern`.
    pub fn fill(&mut self, pattern: Pattern, frame: u64) {
        match pattern {
            Pattern::Checksum => checksum::fill(self.bytes_mut(), frame),
            Pattern::Ramp => {
                let range = ramp_range(self.datatype);
                self.fill_values(|i| ((i as u64 + frame) % range) as f64);
            }
            Pattern::Noise => {
                let scale = noise_scale(self.datatype);
                let mut x = self.rng;
                self.fill_values(|_| {
                    // xorshift64*: uniform 53-bit fractions.
                    x ^= x >> 12;
                    x ^= x << 25;
                    x ^= x >> 27;
                    let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
                    (r as f64 / (1u64 << 53) as f64) * scale
                });
                self.rng = x;
            }
        }
    }

    /// Stores `value(i)` into every pixel i, converted to the pixel type.
    fn fill_values(&mut self, mut value: impl FnMut(usize) -> f64) {
        let datatype = self.datatype;
        let bytes = self.bytes_mut();
        match datatype {
            Datatype::U8 => put::<u8>(bytes, |i| value(i) as u8),
            Datatype::I8 => put::<i8>(bytes, |i| value(i) as i8),
            Datatype::U16 => put::<u16>(bytes, |i| value(i) as u16),
            Datatype::I16 => put::<i16>(bytes, |i| value(i) as i16),
            Datatype::U32 => put::<u32>(bytes, |i| value(i) as u32),
            Datatype::I32 => put::<i32>(bytes, |i| value(i) as i32),
            Datatype::U64 => put::<u64>(bytes, |i| value(i) as u64),
            Datatype::I64 => put::<i64>(bytes, |i| value(i) as i64),
            Datatype::Float => put::<f32>(bytes, |i| value(i) as f32),
            Datatype::Double => put::<f64>(bytes, &mut value),
            Datatype::ComplexFloat => put::<[f32; 2]>(bytes, |i| [value(i) as f32, 0.0]),
            Datatype::ComplexDouble => put::<[f64; 2]>(bytes, |i| [value(i), 0.0]),
            Datatype::Half => put::<u16>(bytes, |i| f16_bits(value(i))),
        }
    }
}

/// Ramp values wrap at the type's range (65536 for wide types, 2048 for f16, exact there).
fn ramp_range(t: Datatype) -> u64 {
    match t {
        Datatype::U8 => 256,
        Datatype::I8 => 128,
        Datatype::I16 => 32768,
        Datatype::Half => 2048,
        _ => 65536,
    }
}

/// Noise spans [0, scale): the type's positive range for integers, [0, 1) for floats.
fn noise_scale(t: Datatype) -> f64 {
    match t {
        Datatype::U8 => 256.0,
        Datatype::I8 => 128.0,
        Datatype::U16 => 65536.0,
        Datatype::I16 => 32768.0,
        Datatype::U32 | Datatype::U64 => 4_294_967_296.0,
        Datatype::I32 | Datatype::I64 => 2_147_483_648.0,
        _ => 1.0,
    }
}

fn put<T: bytemuck::Pod>(bytes: &mut [u8], mut f: impl FnMut(usize) -> T) {
    let px: &mut [T] = bytemuck::cast_slice_mut(bytes);
    for (i, p) in px.iter_mut().enumerate() {
        *p = f(i);
    }
}

/// IEEE binary16 bits of a non-negative value below 65504 (rounded toward zero; tiny values → 0).
fn f16_bits(x: f64) -> u16 {
    // Below the smallest normal binary16 (or NaN): 0.
    if x.is_nan() || x < 6.103_515_625e-5 {
        return 0;
    }
    let x = x.min(65504.0);
    let e = x.log2().floor() as i32;
    let mantissa = ((x / 2f64.powi(e) - 1.0) * 1024.0) as u16 & 0x3FF;
    (((e + 15) as u16) << 10) | mantissa
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_bits_are_exact_for_small_integers() {
        assert_eq!(f16_bits(1.0), 0x3C00);
        assert_eq!(f16_bits(2.0), 0x4000);
        assert_eq!(f16_bits(1024.0), 0x6400);
        assert_eq!(f16_bits(0.0), 0);
    }

    #[test]
    fn ramp_frames_of_every_type_fill_the_buffer() {
        for t in Datatype::ALL {
            let mut f = FrameBuf::new(t, 16 * t.size());
            f.fill(Pattern::Ramp, 1);
            f.fill(Pattern::Noise, 2);
            assert_eq!(f.bytes().len(), 16 * t.size());
        }
    }
}
