//! Fixed-size C string fields (`char[N]`, NUL-terminated).

/// Why a string does not fit a fixed C string field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CStrError {
    /// The string plus its terminating NUL does not fit.
    #[error("string of {len} bytes does not fit a {capacity}-byte C field (at most {} bytes)", capacity - 1)]
    TooLong {
        /// Bytes of the string.
        len: usize,
        /// Bytes of the field, NUL included.
        capacity: usize,
    },
    /// The string contains a NUL byte, which C would read as its end.
    #[error("string contains a NUL byte at {at}")]
    InteriorNul {
        /// Byte index of the NUL.
        at: usize,
    },
}

/// The bytes of a C string field up to (not including) the first NUL, or the whole field when it
/// has none (a corrupt file must not make us read past the field).
#[inline]
pub fn read_cstr(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// Stores `s` in a C string field, NUL-padding the rest (as `strncpy` into a zeroed field does).
pub fn write_cstr(field: &mut [u8], s: &[u8]) -> Result<(), CStrError> {
    if let Some(at) = s.iter().position(|&b| b == 0) {
        return Err(CStrError::InteriorNul { at });
    }
    if s.len() >= field.len() {
        return Err(CStrError::TooLong {
            len: s.len(),
            capacity: field.len(),
        });
    }
    field[..s.len()].copy_from_slice(s);
    field[s.len()..].fill(0);
    Ok(())
}

/// Debug-prints C string bytes as text, escaping what is not UTF-8.
pub(crate) struct Lossy<'a>(pub &'a [u8]);

impl core::fmt::Debug for Lossy<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_stops_at_nul_and_never_past_the_field() {
        assert_eq!(read_cstr(b"2.00\0\0junk"), b"2.00");
        assert_eq!(read_cstr(b"nonul"), b"nonul");
    }

    #[test]
    fn write_pads_with_nul_and_refuses_what_c_cannot_hold() {
        let mut f = [0xffu8; 8];
        write_cstr(&mut f, b"abc").unwrap();
        assert_eq!(&f, b"abc\0\0\0\0\0");
        assert_eq!(
            write_cstr(&mut f, b"12345678"),
            Err(CStrError::TooLong {
                len: 8,
                capacity: 8
            })
        );
        assert_eq!(
            write_cstr(&mut f, b"a\0b"),
            Err(CStrError::InteriorNul { at: 1 })
        );
        write_cstr(&mut f, b"1234567").unwrap();
        assert_eq!(&f, b"1234567\0");
    }
}
