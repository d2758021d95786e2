//! Bounds-checked little-endian reads over a message.

use super::WireError;

/// A read position in a message; every read checks what remains.
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf, at: 0 }
    }

    /// The next `n` bytes, for field `what`.
    pub(super) fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], WireError> {
        let left = self.buf.len() - self.at;
        if n > left {
            return Err(WireError::Truncated {
                what,
                at: self.at,
                needed: n,
                left,
            });
        }
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    pub(super) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], WireError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(what, N)?);
        Ok(a)
    }

    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(super) fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(super) fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(super) fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub(super) fn i64(&mut self, what: &'static str) -> Result<i64, WireError> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// A string of at most `max` bytes, preceded by its length (one byte).
    pub(super) fn short_str(
        &mut self,
        what: &'static str,
        max: usize,
    ) -> Result<String, WireError> {
        let len = usize::from(self.u8(what)?);
        if len > max {
            return Err(WireError::Invalid {
                field: what,
                reason: format!("{len} bytes, at most {max} allowed"),
            });
        }
        let bytes = self.take(what, len)?;
        let s = std::str::from_utf8(bytes).map_err(|_| WireError::Invalid {
            field: what,
            reason: "not UTF-8".into(),
        })?;
        if s.contains('\0') {
            return Err(WireError::Invalid {
                field: what,
                reason: "contains a NUL byte".into(),
            });
        }
        Ok(s.to_owned())
    }

    /// Fails if bytes are left.
    pub(super) fn finish(&self) -> Result<(), WireError> {
        match self.buf.len() - self.at {
            0 => Ok(()),
            extra => Err(WireError::Trailing { extra }),
        }
    }
}
