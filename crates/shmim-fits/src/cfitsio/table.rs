//! Binary-table extensions: the per-frame table of a cube.

use std::ffi::{CString, c_char, c_int, c_void};

use super::FitsFile;
use crate::error::Result;

/// cfitsio's `BINARY_TBL`.
const BINARY_TBL: c_int = 2;
/// cfitsio datatype codes of the column values we write.
const TULONGLONG: c_int = 80;
const TLONGLONG: c_int = 81;

/// One column of a binary table: its name (`TTYPEn`), form (`TFORMn`: `1K` a signed 64-bit
/// integer, `1W` an unsigned one, stored as `K` with `TZERO = 2^63`) and unit (`TUNITn`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    pub(crate) name: &'static str,
    pub(crate) form: &'static str,
    pub(crate) unit: &'static str,
}

impl FitsFile {
    /// Appends a binary-table HDU called `extname` with `rows` rows of `columns`.
    pub(crate) fn create_table(
        &mut self,
        extname: &str,
        rows: u64,
        columns: &[Column],
    ) -> Result<()> {
        let strings = |f: fn(&Column) -> &'static str| -> Result<Vec<CString>> {
            columns
                .iter()
                .map(|c| self.c_string("create the frame table", f(c)))
                .collect()
        };
        let (names, forms, units) = (
            strings(|c| c.name)?,
            strings(|c| c.form)?,
            strings(|c| c.unit)?,
        );
        let pointers = |v: &[CString]| -> Vec<*mut c_char> {
            v.iter().map(|s| s.as_ptr().cast_mut()).collect()
        };
        let (mut ttype, mut tform, mut tunit) =
            (pointers(&names), pointers(&forms), pointers(&units));
        let extname = self.c_string("create the frame table", extname)?;
        let fields = c_int::try_from(columns.len()).unwrap_or(c_int::MAX);
        let rows = i64::try_from(rows).unwrap_or(i64::MAX);
        self.call("create the frame table", |f, status| {
            // SAFETY: three arrays of `fields` NUL-terminated strings (cfitsio only reads them,
            // despite the `char **` type) and a NUL-terminated name, all alive for the call.
            unsafe {
                fitsio_sys::ffcrtb(
                    f,
                    BINARY_TBL,
                    rows,
                    fields,
                    ttype.as_mut_ptr(),
                    tform.as_mut_ptr(),
                    tunit.as_mut_ptr(),
                    extname.as_ptr(),
                    status,
                )
            };
        })
    }

    /// Writes `values` into column `column` (1-based) of the current table, from row 1.
    pub(crate) fn write_column(&mut self, column: usize, values: ColumnValues<'_>) -> Result<()> {
        let (code, ptr, n): (c_int, *const c_void, usize) = match values {
            ColumnValues::Signed(v) => (TLONGLONG, v.as_ptr().cast(), v.len()),
            ColumnValues::Unsigned(v) => (TULONGLONG, v.as_ptr().cast(), v.len()),
        };
        if n == 0 {
            return Ok(());
        }
        let column = c_int::try_from(column).unwrap_or(c_int::MAX);
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.call("write the frame table", |f, status| {
            // SAFETY: `ptr` points to the `n` live 64-bit integers of the slice in `values`, of
            // the type `code` names; cfitsio reads them and never writes through the pointer.
            unsafe { fitsio_sys::ffpcl(f, code, column, 1, 1, n, ptr.cast_mut(), status) };
        })
    }
}

/// The values of one table column.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ColumnValues<'a> {
    /// `1K` columns.
    Signed(&'a [i64]),
    /// `1W` columns.
    Unsigned(&'a [u64]),
}
