//! An open FITS file: create, open, close, and the status check every call goes through.
//!
//! **Paths are literal.** cfitsio's disk driver takes a path as it comes except for three
//! things: it drops leading blanks, expands a leading `~`, and, opening a file that does not
//! exist, tries `NAME.gz`, `NAME.Z`, … instead (a compressed file is then inflated in memory). So
//! a relative path is handed over as `./PATH` (nothing to drop or expand), and a file to read is
//! opened and checked by us first and handed over as `/proc/self/fd/N`: cfitsio reads the very
//! file we checked ([`crate::load`]).
//!
//! **One call at a time.** cfitsio 3.49 keeps its error-message stack in process-wide statics
//! (its reentrant build only locks them): two threads calling it at once would read each other's
//! messages. Every call (and the reading of its messages) holds [`CFITSIO`], so an error message
//! is the one of the call that failed. Calls are short (one frame's write at most), and FITS I/O
//! of one process is rarely concurrent.
//!
//! **OS errors.** cfitsio reports a failed `write` as status 106 and drops `errno`; the call
//! clears `errno` before and reads it after, so a full disk is reported as such.

use std::ffi::{CStr, CString, c_char, c_int};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, PoisonError};

use fitsio_sys::fitsfile;

use crate::error::{Error, Result};

/// cfitsio's `READONLY` and `READWRITE` open modes.
const READONLY: c_int = 0;
const READWRITE: c_int = 1;
/// cfitsio's `FLEN_ERRMSG`: error texts are at most 80 characters plus the NUL.
const FLEN_ERRMSG: usize = 81;
/// How many lines of cfitsio's error stack an error message keeps (the last ones say most).
const MESSAGE_LINES: usize = 3;
/// cfitsio's status codes for a failed `open`, `write`, `read` or `close` of the file itself,
/// after which `errno` says why.
const OS_ERRORS: [c_int; 6] = [104, 105, 106, 107, 108, 110];

/// Held across each cfitsio call and the reading of its messages (module docs).
static CFITSIO: Mutex<()> = Mutex::new(());

fn cfitsio() -> MutexGuard<'static, ()> {
    CFITSIO.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A FITS file opened by cfitsio; closed when dropped (errors then ignored: call
/// [`Self::close`] to see them).
pub(crate) struct FitsFile {
    ptr: NonNull<fitsfile>,
    path: PathBuf,
    /// The file cfitsio reads through `/proc/self/fd/N`, kept open while it does.
    _source: Option<File>,
    /// Whether the header announces long strings (`LONGSTRN`, written before the first one).
    pub(super) long_strings: bool,
}

impl FitsFile {
    /// Creates `path` (which must not exist) with no HDU yet.
    pub(crate) fn create(path: &Path) -> Result<Self> {
        let name = c_path(&literal(path), path)?;
        Self::begin(path, "create", None, |fptr, status| {
            // SAFETY: `name` is a NUL-terminated string and `fptr`, `status` are valid out
            // pointers for the duration of the call.
            unsafe { fitsio_sys::ffdkinit(fptr, name.as_ptr(), status) };
        })
    }

    /// Opens `path` (a file we created) for reading and writing, positioned at the primary HDU.
    pub(crate) fn open_rw(path: &Path) -> Result<Self> {
        let name = c_path(&literal(path), path)?;
        Self::begin(path, "open", None, |fptr, status| {
            // SAFETY: as in `create`.
            unsafe { fitsio_sys::ffdkopn(fptr, name.as_ptr(), READWRITE, status) };
        })
    }

    /// Opens `source` (the file at `path`, opened and checked by the caller) read-only,
    /// positioned at the primary HDU.
    pub(crate) fn open(path: &Path, source: File) -> Result<Self> {
        let proc_path = format!("/proc/self/fd/{}", source.as_raw_fd());
        let name = c_path(Path::new(&proc_path), path)?;
        Self::begin(path, "open", Some(source), |fptr, status| {
            // SAFETY: as in `create`.
            unsafe { fitsio_sys::ffdkopn(fptr, name.as_ptr(), READONLY, status) };
        })
        .map_err(|e| match e {
            // cfitsio's messages name the file it was given: say which file that is.
            Error::Fits {
                op,
                path,
                status,
                message,
            } => Error::Fits {
                message: message.replace(&proc_path, &path.display().to_string()),
                op,
                path,
                status,
            },
            e => e,
        })
    }

    fn begin(
        path: &Path,
        op: &'static str,
        source: Option<File>,
        call: impl FnOnce(*mut *mut fitsfile, *mut c_int),
    ) -> Result<Self> {
        let mut fptr: *mut fitsfile = std::ptr::null_mut();
        let mut status: c_int = 0;
        let _cfitsio = cfitsio();
        clear_errno();
        call(&mut fptr, &mut status);
        match NonNull::new(fptr) {
            Some(ptr) if status <= 0 => Ok(Self {
                ptr,
                path: path.to_path_buf(),
                _source: source,
                long_strings: false,
            }),
            ptr => {
                let err = fits_error(op, path, status.max(1));
                // cfitsio closes what it opened when it fails and returns no pointer; close
                // one anyway if it did.
                if let Some(ptr) = ptr {
                    let mut status: c_int = 0;
                    // SAFETY: a pointer cfitsio returned, closed once (no `FitsFile` owns it).
                    unsafe { fitsio_sys::ffclos(ptr.as_ptr(), &mut status) };
                }
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
        let _cfitsio = cfitsio();
        // Messages left on cfitsio's stack by earlier calls, warnings included, are not this
        // call's.
        // SAFETY: no arguments; clears the message stack (we hold the lock that guards it).
        unsafe { fitsio_sys::ffcmsg() };
        clear_errno();
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
        // `Drop` must not close the file a second time.
        let mut this = std::mem::ManuallyDrop::new(self);
        let path = std::mem::take(&mut this.path);
        let source = this._source.take();
        let mut status: c_int = 0;
        let _cfitsio = cfitsio();
        clear_errno();
        // SAFETY: a pointer cfitsio returned, closed once: `Drop` does not run for `this`.
        unsafe { fitsio_sys::ffclos(this.ptr.as_ptr(), &mut status) };
        drop(source);
        if status > 0 {
            return Err(fits_error("close", &path, status));
        }
        Ok(())
    }
}

impl Drop for FitsFile {
    fn drop(&mut self) {
        let mut status: c_int = 0;
        let _cfitsio = cfitsio();
        // SAFETY: a pointer cfitsio returned; `close` (the only other closer) skips this `Drop`.
        unsafe { fitsio_sys::ffclos(self.ptr.as_ptr(), &mut status) };
    }
}

/// `path` as cfitsio's disk driver takes it literally: a relative path gets `./` in front (the
/// driver drops leading blanks and expands a leading `~`).
pub(crate) fn literal(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        Path::new(".").join(path)
    }
}

/// `path` as a C string, or [`Error::BadPath`] for `shown`.
fn c_path(path: &Path, shown: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::BadPath {
        path: shown.to_path_buf(),
        reason: "it contains a NUL byte",
    })
}

/// Sets this thread's `errno` to 0, so that after a cfitsio call it names that call's OS error.
fn clear_errno() {
    // SAFETY: `__errno_location` returns this thread's errno cell, valid for the thread's life.
    unsafe { *libc::__errno_location() = 0 };
}

/// [`Error::Fits`] for `status`, with cfitsio's text for the code and the last lines of its
/// error-message stack (which it then clears).
fn fits_error(op: &'static str, path: &Path, status: c_int) -> Error {
    let mut text = [0 as c_char; FLEN_ERRMSG];
    // SAFETY: `ffgerr` writes at most FLEN_ERRMSG bytes, NUL included, into `text`.
    unsafe { fitsio_sys::ffgerr(status, text.as_mut_ptr()) };
    let mut lines = vec![c_text(&text)];
    // errno right after the call (cleared before it), when the status says the file itself
    // failed: "No space left on device" is what a user needs to read.
    let os = std::io::Error::last_os_error();
    if OS_ERRORS.contains(&status) && os.raw_os_error().is_some_and(|e| e != 0) {
        lines.push(os.to_string());
    }
    let mut stack = Vec::new();
    loop {
        let mut line = [0 as c_char; FLEN_ERRMSG];
        // SAFETY: `ffgmsg` pops one message of at most FLEN_ERRMSG bytes, NUL included, into
        // `line`, and returns 0 when the stack is empty. The caller holds `CFITSIO`.
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

/// Whether cfitsio reads `text` as a FITS date (`YYYY-MM-DD`, `YYYY-MM-DDThh:mm:ss[.s…]`, or the
/// old `DD/MM/YY`, each field in its range): the check fitsverify makes of every `DATE…` card.
pub(crate) fn is_fits_date(text: &str) -> bool {
    let Ok(text) = CString::new(text) else {
        return false;
    };
    // A copy of our own: the binding takes a mutable pointer (cfitsio only reads it).
    let mut text = text.into_bytes_with_nul();
    let (mut year, mut month, mut day, mut hour, mut minute) = (0, 0, 0, 0, 0);
    let mut second = 0.0;
    let mut status: c_int = 0;
    let _cfitsio = cfitsio();
    // SAFETY: a NUL-terminated string of our own and valid out cells, alive for the call; the
    // message it leaves on cfitsio's stack is cleared while we hold the lock that guards it.
    unsafe {
        fitsio_sys::ffs2tm(
            text.as_mut_ptr().cast(),
            &mut year,
            &mut month,
            &mut day,
            &mut hour,
            &mut minute,
            &mut second,
            &mut status,
        );
        fitsio_sys::ffcmsg();
    }
    status == 0
}
