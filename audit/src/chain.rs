//! The per-tenant hash chain: entry `n`'s hash is SHA-256 of entry `n - 1`'s hash (hex), a newline and entry `n`'s JSON exactly as stored, so each head commits to every entry before it.

use sha2::{Digest, Sha256};

/// The hash before the first entry of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an entry whose JSON is `json`, after an entry whose hash is `prev` (hex).
pub fn chain_hash(prev: &str, json: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(json.as_bytes());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_depends_on_the_previous_one_and_every_byte_of_the_entry() {
        let a = chain_hash(GENESIS, r#"{"id":"1"}"#);
        assert_eq!(a.len(), 64);
        assert_ne!(a, chain_hash(GENESIS, r#"{"id":"2"}"#));
        assert_ne!(a, chain_hash(&a, r#"{"id":"1"}"#));
        assert_eq!(a, chain_hash(GENESIS, r#"{"id":"1"}"#), "deterministic");
    }
}
