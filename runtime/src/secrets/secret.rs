//! `Secret`: a resolved secret value that cannot be printed, logged or serialized, and is zeroed on drop.

use std::fmt;

use zeroize::Zeroizing;

/// A secret value. `Debug` prints `Secret([REDACTED])`; there is no `Display`, `Serialize` or
/// `PartialEq` (comparison would invite timing leaks); the bytes are zeroed when dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The value, for the one call that needs it (a connection string, a key). Do not store the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_value() {
        let s = Secret::new("hunter2-very-secret");
        let shown = format!("{s:?} {s:#?} {:?}", Some(&s));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("REDACTED"));
        assert_eq!(s.expose(), "hunter2-very-secret");
    }
}
