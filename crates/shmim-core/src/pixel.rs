//! Rust pixel types and their datatype codes.

use bytemuck::{Pod, Zeroable};
use shmim_layout::{ComplexF32, ComplexF64, Datatype};

/// A Rust type that is the element type of one [`Datatype`].
///
/// Typed access (`read_into::<f32>`, `write_frame::<u16>`) is checked against the stream's
/// datatype; raw bytes are always available as `u8` through the `*_bytes` methods.
pub trait Pixel: Pod {
    /// The datatype whose elements this type holds.
    const DATATYPE: Datatype;
}

/// An IEEE 754 binary16 value, kept as its bits (`_DATATYPE_HALF`).
#[repr(transparent)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Pod, Zeroable)]
pub struct Half(pub u16);

macro_rules! pixel {
    ($($t:ty => $d:ident),* $(,)?) => {
        $(impl Pixel for $t {
            const DATATYPE: Datatype = Datatype::$d;
        })*
    };
}

pixel! {
    u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64, i64 => I64,
    f32 => Float, f64 => Double, ComplexF32 => ComplexFloat, ComplexF64 => ComplexDouble, Half => Half,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pixel_type_has_its_datatype_size() {
        fn check<T: Pixel>() {
            assert_eq!(
                core::mem::size_of::<T>(),
                T::DATATYPE.size(),
                "{}",
                T::DATATYPE
            );
        }
        check::<u8>();
        check::<i8>();
        check::<u16>();
        check::<i16>();
        check::<u32>();
        check::<i32>();
        check::<u64>();
        check::<i64>();
        check::<f32>();
        check::<f64>();
        check::<ComplexF32>();
        check::<ComplexF64>();
        check::<Half>();
    }
}
