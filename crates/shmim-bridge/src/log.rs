//! One line per event on stderr, prefixed with the program's name.

/// Logs one line.
pub fn log(args: std::fmt::Arguments<'_>) {
    eprintln!("shmim-bridge: {args}");
}
