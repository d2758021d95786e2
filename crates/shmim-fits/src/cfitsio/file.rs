//! An open FITS file: create, open, close, and the status check every call goes through.

use std::ffi::{CStr, CString, c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use fitsio_sys::fitsfile;

use crate::error::{Error, Result};

/// cfitsio's `READONLY` open mode.
const READONLY: c_int = 0;
/// cfitsio's `FLEN_ERRMSG`: error texts are at most 80 characters plus the NUL.
const FLEN_ERRMSG: usize = 81;
/// How many lines of cfitsio's error stack an error message keeps (the last ones say most).
const MESSAGE_LINES: usize = 3;

/// A FITS file opened by cfitsio; closed when dropped (errors then ignored: call
/// [`Self::close`] to see them).
pub(crate) struct FitsFile {
    ptr: NonNull<fitsfile>,
    path: PathBuf,
}

impl FitsFile {
    /// Creates `path` (which must not exist) with no HDU yet.
    pub(crate) fn create(path: &Path) -> Result<Self> {
        Self::begin(path, "create", |name, fptr, status| {
            // SAFETY: `name` is a NUL-terminated string and `fptr`, `status` are valid out
            // pointers for the duration of the call.
            unsafe { fitsio_sys::ffdkinit(fptr, name, status) };
        })
    }

    /// Opens `path` read-only, positioned at the primary HDU.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        Self::begin(path, "open", |name, fptr, status| {
            // SAFETY: as in `create`.
            unsafe { fitsio_sys::ffdkopn(fptr, name, READONLY, status) };
        })
    }

    fn begin(
        path: &Path,
        op: &'static str,
        call: impl FnOnce(*const c_char, *mut *mut fitsfile, *mut c_int),
    ) -> Result<Self> {
        let name = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::BadPath {
            path: path.to_path_buf(),
            reason: "it contains a NUL byte",
        })?;
        let mut fptr: *mut fitsfile = std::ptr::null_mut();
        let mut status: c_int = 0;
        call(name.as_ptr(), &mut fptr, &mut status);
        match NonNull::new(fptr) {
            Some(ptr) if status <= 0 => Ok(Self {
                ptr,
                path: path.to_path_buf(),
            }),
            ptr => {
                // cfitsio closes what it opened when it fails and returns no pointer; close
                // one anyway if it did.
                let err = fits_error(op, path, status.max(1));
                drop(ptr.map(|ptr| Self {
                    ptr,
                    path: path.to_path_buf(),
                }));
                Err(err)
            }
        }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs one cfitsio call on this file: `f` gets the file pointer and a status cell that
    /// starts at 0; a positive status afterwards becomes [`Error::Fits`] naming `op`.
    pub(crate) fn call(
        &mut self,
        op: &'static str,
        f: impl FnOnce(*mut fitsfile, &mut c_int),
    ) -> Result<()> {
        // Messages left on cfitsio's (per-thread) stack by earlier calls, warnings included, are
        // not this call's.
        // SAFETY: no arguments; clears this thread's message stack.
        unsafe { fitsio_sys::ffcmsg() };
        let mut status: c_int = 0;
        f(self.ptr.as_ptr(), &mut status);
        if status > 0 {
            return Err(fits_error(op, &self.path, status));
        }
        Ok(())
    }

    /// `s` as a C string for cfitsio; strings from streams and files hold no NUL, but a caller's
    /// might.
    pub(crate) fn c_string(&self, op: &'static str, s: &str) -> Result<CString> {
        CString::new(s).map_err(|_| Error::Fits {
            op,
            path: self.path.clone(),
            status: 0,
            message: format!("{s:?} contains a NUL byte"),
        })
    }

    /// Flushes and closes the file, reporting any error of the final writes.
    pub(crate) fn close(self) -> Result<()> {
        // `Drop` must not close the file a second time; the path moves out (an empty `PathBuf`
        // owns no memory, so nothing leaks).
        let mut this = std::mem::ManuallyDrop::new(self);
        let path = std::mem::take(&mut this.path);
        let mut status: c_int = 0;
        // SAFETY: a pointer cfitsio returned, closed once: `Drop` does not run for `this`.
        unsafe { fitsio_sys::ffclos(this.ptr.as_ptr(), &mut status) };
        if status > 0 {
            return Err(fits_error("close", &path, status));
        }
        Ok(())
    }
}

impl Drop for FitsFile {
    fn drop(&mut self) {
        let mut status: c_int = 0;
        // SAFETY: a pointer cfitsio returned; `close` (the only other closer) skips this `Drop`.
        unsafe { fitsio_sys::ffclos(self.ptr.as_ptr(), &mut status) };
    }
}

/// [`Error::Fits`] for `status`, with cfitsio's text for the code and the last lines of its
/// error-message stack (which it then clears).
fn fits_error(op: &'static str, path: &Path, status: c_int) -> Error {
    let mut text = [0 as c_char; FLEN_ERRMSG];
    // SAFETY: `ffgerr` writes at most FLEN_ERRMSG bytes, NUL included, into `text`.
    unsafe { fitsio_sys::ffgerr(status, text.as_mut_ptr()) };
    let mut lines = vec![c_text(&text)];
    let mut stack = Vec::new();
    loop {
        let mut line = [0 as c_char; FLEN_ERRMSG];
        // SAFETY: `ffgmsg` pops one message of at most FLEN_ERRMSG bytes, NUL included, into
        // `line`, and returns 0 when the stack is empty. The stack is per thread (reentrant build).
        let more = unsafe { fitsio_sys::ffgmsg(line.as_mut_ptr()) };
        if more == 0 {
            break;
        }
        let line = c_text(&line);
        if !line.is_empty() && !lines.contains(&line) {
            stack.push(line);
        }
    }
    let skip = stack.len().saturating_sub(MESSAGE_LINES);
    lines.extend(stack.into_iter().skip(skip));
    Error::Fits {
        op,
        path: path.to_path_buf(),
        status,
        message: lines.join("; "),
    }
}

/// A NUL-terminated C buffer as text (lossy, trailing blanks removed).
pub(crate) fn c_text(buf: &[c_char]) -> String {
    let bytes: &[u8] = bytemuck::cast_slice(buf);
    let s = CStr::from_bytes_until_nul(bytes)
        .map(CStr::to_bytes)
        .unwrap_or(bytes);
    String::from_utf8_lossy(s).trim_end().to_owned()
}
