//! Failures, the `printError` hook they are reported through, and the panic boundary every
//! exported function sits behind.
//!
//! An export runs its body in [`boundary`]: `Ok(v)` is returned as is; a [`Failure`] is reported
//! through the installed printer (with the Rust file and line where it was raised, the exported
//! function's name, the code and a message) and turned into the function's error value; a panic is
//! caught, reported as `IMAGESTREAMIO_FAILURE` and turned into the same error value, so no unwind
//! ever crosses into C. The body runs with thread cancellation disabled ([`CancelOff`]).

use std::ffi::{CStr, CString, c_char, c_int};
use std::io::Write;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::sync::{PoisonError, RwLock};

use shmim_core::validate::Invalid;
use shmim_layout::LayoutError;

use crate::cancel::CancelOff;
use crate::error_codes::*;

/// A C error printer: `(file, function, line, code, message)`.
pub type PrintFn =
    unsafe extern "C" fn(*const c_char, *const c_char, c_int, errno_t, *mut c_char) -> errno_t;

/// Who prints errors.
#[derive(Clone, Copy)]
pub(crate) enum Printer {
    /// The library's own printer, to stderr.
    Default,
    /// A function the program installed.
    Custom(PrintFn),
    /// Nobody (`ImageStreamIO_set_printError(NULL)`).
    Off,
}

static PRINTER: RwLock<Printer> = RwLock::new(Printer::Default);

/// Installs `p` as the error printer.
pub(crate) fn set_printer(p: Printer) {
    *PRINTER.write().unwrap_or_else(PoisonError::into_inner) = p;
}

fn printer() -> Printer {
    *PRINTER.read().unwrap_or_else(PoisonError::into_inner)
}

/// Why a call failed: the code it returns and a message for the printer.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: errno_t,
    msg: String,
    at: &'static Location<'static>,
}

impl Failure {
    /// A failure with `code`, located at the caller.
    #[track_caller]
    pub(crate) fn new(code: errno_t, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            at: Location::caller(),
        }
    }

    /// `IMAGESTREAMIO_INVALIDARG`.
    #[track_caller]
    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Self::new(IMAGESTREAMIO_INVALIDARG, msg)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.msg, code_name(self.code))
    }
}

impl From<shmim_core::Error> for Failure {
    #[track_caller]
    fn from(e: shmim_core::Error) -> Self {
        Self::new(code_of(&e), e.to_string())
    }
}

/// The legacy code for a core error.
fn code_of(e: &shmim_core::Error) -> errno_t {
    use shmim_core::Error as E;
    match e {
        E::InvalidName { .. }
        | E::Geometry(_)
        | E::IndexOutOfRange { .. }
        | E::LengthMismatch { .. }
        | E::TypeMismatch { .. }
        | E::KeywordTooLong { .. }
        | E::KeywordNul { .. } => IMAGESTREAMIO_INVALIDARG,
        E::Io { op, .. } => match *op {
            "mmap" => IMAGESTREAMIO_MMAP,
            "fallocate" => IMAGESTREAMIO_FILEWRITE,
            _ => IMAGESTREAMIO_FILEOPEN,
        },
        E::NotFound { .. }
        | E::PermissionDenied { .. }
        | E::NotRegularFile { .. }
        | E::SymlinkOutsideDir { .. } => IMAGESTREAMIO_FILEOPEN,
        E::Occupied { .. } => IMAGESTREAMIO_FILEEXISTS,
        E::Invalid { check, .. } => match check {
            Invalid::Version { .. } => IMAGESTREAMIO_VERSION,
            Invalid::Geometry(LayoutError::TooManyElements { .. }) => IMAGESTREAMIO_FAILURE,
            _ => IMAGESTREAMIO_FILEOPEN,
        },
        E::Semaphore(_) => IMAGESTREAMIO_SEMINIT,
        E::GpuStream { .. } => IMAGESTREAMIO_NOTIMPL,
        _ => IMAGESTREAMIO_FAILURE,
    }
}

/// What an export's body returns.
pub(crate) type Outcome<T> = Result<T, Failure>;

/// Runs an export's body, with thread cancellation disabled: reports a failure or a panic through
/// the printer and returns `on_error(code)` for it.
pub(crate) fn boundary<T>(
    func: &'static CStr,
    on_error: impl FnOnce(errno_t) -> T,
    body: impl FnOnce() -> Outcome<T>,
) -> T {
    let _cancel = CancelOff::new();
    let failure = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => return v,
        Ok(Err(f)) => f,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Failure::new(IMAGESTREAMIO_FAILURE, format!("internal error: {what}"))
        }
    };
    // Reporting must not unwind either (a custom printer is C code and cannot; ours writes with
    // `let _ =`, but formatting could still panic on allocation failure).
    let _ = catch_unwind(|| report(func, &failure));
    on_error(failure.code)
}

/// Hands a failure to the installed printer.
fn report(func: &CStr, f: &Failure) {
    match printer() {
        Printer::Off => {}
        Printer::Default => default_print(func, f),
        Printer::Custom(print) => {
            let file = c_string(f.at.file());
            let mut msg = c_string(&f.msg).into_bytes_with_nul();
            let line = c_int::try_from(f.at.line()).unwrap_or(c_int::MAX);
            // SAFETY: the program installed `print` with the documented signature; every pointer
            // is a NUL-terminated buffer that outlives the call, and `msg` is writable as the
            // signature's `char *` allows.
            unsafe {
                print(
                    file.as_ptr(),
                    func.as_ptr(),
                    line,
                    f.code,
                    msg.as_mut_ptr().cast(),
                )
            };
        }
    }
}

/// The default printer: one line on stderr with file, function, line, code and message.
fn default_print(func: &CStr, f: &Failure) {
    let _ = writeln!(
        std::io::stderr().lock(),
        "ImageStreamIO error {} ({}) in {} [{}:{}]: {}",
        f.code,
        code_name(f.code),
        func.to_string_lossy(),
        f.at.file(),
        f.at.line(),
        f.msg
    );
}

/// The `IMAGESTREAMIO_*` name of a code.
pub(crate) fn code_name(code: errno_t) -> &'static str {
    match code {
        IMAGESTREAMIO_SUCCESS => "SUCCESS",
        IMAGESTREAMIO_FAILURE => "FAILURE",
        IMAGESTREAMIO_INVALIDARG => "INVALIDARG",
        IMAGESTREAMIO_NOTIMPL => "NOTIMPL",
        IMAGESTREAMIO_BADALLOC => "BADALLOC",
        IMAGESTREAMIO_FILEOPEN => "FILEOPEN",
        IMAGESTREAMIO_FILESEEK => "FILESEEK",
        IMAGESTREAMIO_FILEWRITE => "FILEWRITE",
        IMAGESTREAMIO_FILEEXISTS => "FILEEXISTS",
        IMAGESTREAMIO_INODE => "INODE",
        IMAGESTREAMIO_MMAP => "MMAP",
        IMAGESTREAMIO_SEMINIT => "SEMINIT",
        IMAGESTREAMIO_VERSION => "VERSION",
        _ => "unknown code",
    }
}

/// A C string of `s`, with any NUL byte replaced (messages may quote user input).
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', "\\0")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_error_value_and_a_failure_its_code() {
        let panicked = boundary(
            c"f",
            |c| c + 1000,
            || -> Outcome<errno_t> { panic!("boom") },
        );
        assert_eq!(panicked, IMAGESTREAMIO_FAILURE + 1000);
        let failed = boundary(
            c"f",
            |c| c,
            || -> Outcome<errno_t> { Err(Failure::invalid("bad")) },
        );
        assert_eq!(failed, IMAGESTREAMIO_INVALIDARG);
        assert_eq!(boundary(c"f", |_| -1, || Ok(7)), 7);
    }

    #[test]
    fn core_errors_map_to_the_legacy_codes() {
        let name = shmim_core::validate_name("").unwrap_err();
        assert_eq!(Failure::from(name).code, IMAGESTREAMIO_INVALIDARG);
        let geometry = shmim_core::Error::Geometry(LayoutError::Naxis(4));
        assert_eq!(Failure::from(geometry).code, IMAGESTREAMIO_INVALIDARG);
        let version = shmim_core::Error::Invalid {
            path: "x".into(),
            check: Invalid::Version {
                found: "1.0".into(),
            },
        };
        assert_eq!(Failure::from(version).code, IMAGESTREAMIO_VERSION);
        assert_eq!(code_name(IMAGESTREAMIO_MMAP), "MMAP");
        assert_eq!(c_string("a\0b").to_bytes(), b"a\\0b");
    }
}
