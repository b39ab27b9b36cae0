//! Sealed fields: a sensitive value of an audit entry (the actor's subject, by default) replaced, before the entry is hashed into its chain, by a salted SHA-256 commitment; the value and its salt (an opening) are kept beside the chain, so an export can leave the value out (redacted) or hand it over (unredacted) and verifies either way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How a sealed value starts in an entry's JSON.
pub const SEALED_PREFIX: &str = "sealed:sha256:";

/// A sealed value and the salt it was sealed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opening {
    /// The salt (hex of 16 random bytes): without it, a guessable value (an e-mail address)
    /// cannot be found by hashing candidates.
    pub salt: String,
    /// The value.
    pub value: String,
}

/// An entry's openings, by the dotted path of the field each one opens (`data.actor.subject`).
pub type Openings = BTreeMap<String, Opening>;

/// The sealed form of `value` under `salt`: `sealed:sha256:<hex>`.
pub fn seal_value(salt: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"palisade-audit-seal\n");
    h.update(salt.as_bytes());
    h.update(b"\n");
    h.update(value.as_bytes());
    format!("{SEALED_PREFIX}{}", hex::encode(h.finalize()))
}

/// A salt's length in hex characters (16 bytes).
const SALT_HEX_LEN: usize = 32;

impl Opening {
    /// Whether `sealed` (a field's text in the hashed entry) is this opening's value sealed. The
    /// salt must be 32 lowercase hex characters: the newline between salt and value would
    /// otherwise let another split of the same bytes (a salt ending in part of the value) open it.
    pub fn opens(&self, sealed: &str) -> bool {
        self.salt.len() == SALT_HEX_LEN
            && self
                .salt
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && seal_value(&self.salt, &self.value) == sealed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_depends_on_the_salt_and_every_byte_of_the_value() {
        let salt = "00".repeat(16);
        let a = seal_value(&salt, "alice@example.com");
        assert!(a.starts_with(SEALED_PREFIX));
        assert_eq!(a.len(), SEALED_PREFIX.len() + 64);
        assert_ne!(a, seal_value(&"01".repeat(16), "alice@example.com"));
        assert_ne!(a, seal_value(&salt, "alice@example.co"));
        // The separator keeps the salt and value apart.
        assert_ne!(seal_value("0", "0a"), seal_value("00", "a"));
        let opening = Opening {
            salt: salt.clone(),
            value: "alice@example.com".into(),
        };
        assert!(opening.opens(&a));
        assert!(!opening.opens(&seal_value(&salt, "bob@example.com")));
    }

    /// Review finding (session 8, 7): a value with a newline, sealed under salt `S`, was opened by
    /// `{salt: "S\n<first line>", value: "<rest>"}`: the same bytes split elsewhere.
    #[test]
    fn a_forged_opening_that_moves_the_split_between_salt_and_value_is_refused() {
        let salt = "ab".repeat(16);
        let sealed = seal_value(&salt, "x\ny");
        let honest = Opening {
            salt: salt.clone(),
            value: "x\ny".into(),
        };
        assert!(honest.opens(&sealed));
        let forged = Opening {
            salt: format!("{salt}\nx"),
            value: "y".into(),
        };
        assert_eq!(
            seal_value(&forged.salt, &forged.value),
            sealed,
            "the same bytes"
        );
        assert!(!forged.opens(&sealed));
    }
}
