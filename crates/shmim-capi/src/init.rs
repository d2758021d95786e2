//! Library initialisation and the error-printer hook.

use crate::error_codes::*;
use crate::report::{PrintFn, Printer, boundary, set_printer};

/// Initialises the library: installs the default error printer. Also run when the library is
/// loaded.
#[unsafe(no_mangle)]
pub extern "C" fn init_ImageStreamIO() -> errno_t {
    install(c"init_ImageStreamIO", Printer::Default)
}

/// Restores the default error printer (one line on stderr: code, function, file, line, message).
#[unsafe(no_mangle)]
pub extern "C" fn ImageStreamIO_set_default_printError() -> errno_t {
    install(c"ImageStreamIO_set_default_printError", Printer::Default)
}

/// Installs `new_printError` as the error printer, called with (file, function, line, code,
/// message) for every error the library reports; NULL turns reporting off.
#[unsafe(no_mangle)]
pub extern "C" fn ImageStreamIO_set_printError(
    new_printError: Option<
        unsafe extern "C" fn(
            *const std::ffi::c_char,
            *const std::ffi::c_char,
            std::ffi::c_int,
            errno_t,
            *mut std::ffi::c_char,
        ) -> errno_t,
    >,
) -> errno_t {
    let print: Option<PrintFn> = new_printError;
    install(
        c"ImageStreamIO_set_printError",
        print.map_or(Printer::Off, Printer::Custom),
    )
}

fn install(func: &'static std::ffi::CStr, printer: Printer) -> errno_t {
    boundary(
        func,
        |c| c,
        || {
            set_printer(printer);
            Ok(IMAGESTREAMIO_SUCCESS)
        },
    )
}

/// Runs `init_ImageStreamIO` when the library is loaded, like the legacy constructor.
#[used]
#[unsafe(link_section = ".init_array")]
static CONSTRUCTOR: extern "C" fn() = constructor;

extern "C" fn constructor() {
    // Nothing here can panic, but a constructor must never unwind.
    let _ = std::panic::catch_unwind(|| init_ImageStreamIO());
}
