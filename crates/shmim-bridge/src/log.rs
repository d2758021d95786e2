//! One line per event on stderr, prefixed with the program's name, with control characters
//! escaped.
//!
//! Log lines and status lines carry keys, stream names and error texts that came from the
//! network (a key can hold any character Zenoh allows, escape sequences included): written raw,
//! they could clear the operator's terminal, recolour it or forge other lines. [`printable`]
//! is the one escaping rule of every line the bridge writes for a terminal (`ls` uses it too).

/// Logs one line, its control characters escaped.
pub fn log(args: std::fmt::Arguments<'_>) {
    eprintln!("shmim-bridge: {}", printable(&args.to_string()));
}

/// `s` with control characters escaped, for a terminal (a key from the network could otherwise
/// move the cursor or change colours).
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(printable("déjà vu"), "déjà vu");
    }
}
