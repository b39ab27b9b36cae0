//! The only module that writes to the terminal: status and errors on stderr, data on stdout.

#![allow(clippy::print_stderr)]

/// Reports a command's failure on stderr.
pub fn error(error: &dyn std::fmt::Display) {
    eprintln!("error: {error}");
}
