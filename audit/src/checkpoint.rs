//! Signed checkpoints: a tenant chain's size and head hash at a time, in the C2SP checkpoint body (origin, size, base64 head, then a `time` extension line), signed as a C2SP signed note with an Ed25519 key kept for nothing else (`signed_note` does the note format and the signature).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use signed_note::{Note, Signer, StandardSigner, StandardVerifier, VerifierList};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What a checkpoint says: the chain named by `origin` had `size` entries and this head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The chain: `<control plane>/audit/<tenant>`.
    pub origin: String,
    /// How many entries the chain had (its last sequence number).
    pub size: u64,
    /// The hash of entry `size` (hex), or [`crate::GENESIS`] for an empty chain.
    pub head: String,
    /// When it was signed.
    pub time: OffsetDateTime,
}

/// A checkpoint or a key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The key text is not a signed-note key of the expected kind.
    #[error("the checkpoint key is not a valid signed-note Ed25519 key")]
    Key,
    /// The note is not a signed note, or no signature is by the given key, or one is wrong.
    #[error("the checkpoint's signature does not verify with the given key: {0}")]
    Signature(String),
    /// The signed text is not a checkpoint body.
    #[error("the signed text is not an audit checkpoint: {0}")]
    Body(&'static str),
}

impl Checkpoint {
    /// The signed text: origin, size, base64 of the head's bytes, then `time <RFC 3339>`.
    pub fn body(&self) -> String {
        let head = hex::decode(&self.head).unwrap_or_default();
        let time = self.time.format(&Rfc3339).unwrap_or_default();
        format!(
            "{}\n{}\n{}\ntime {time}\n",
            self.origin,
            self.size,
            STANDARD.encode(head)
        )
    }

    fn parse(body: &str) -> Result<Self, CheckpointError> {
        let mut lines = body.lines();
        let origin = lines.next().ok_or(CheckpointError::Body("no origin"))?;
        let size = lines
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or(CheckpointError::Body("no size"))?;
        let head = lines
            .next()
            .and_then(|h| STANDARD.decode(h).ok())
            .filter(|h| h.len() == 32)
            .ok_or(CheckpointError::Body("no 32-byte head hash"))?;
        let time = lines
            .find_map(|l| l.strip_prefix("time "))
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .ok_or(CheckpointError::Body("no time"))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            head: hex::encode(head),
            time,
        })
    }
}

/// The control plane's checkpoint key: signs checkpoints; its verifier key is public.
pub struct CheckpointSigner {
    signer: StandardSigner,
    verifier_key: String,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("verifier_key", &self.verifier_key)
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// A new key named `name` (the control plane's `host/audit`); returns it and its private
    /// text (`PRIVATE+KEY+<name>+<id>+<key>`), which is a secret to keep in a vault.
    pub fn generate(name: &str) -> Result<(Self, String), CheckpointError> {
        let (private, _) = signed_note::generate_key(&mut rand_core::OsRng, name);
        Ok((Self::from_private(&private)?, private))
    }

    /// The signer of a private key text.
    pub fn from_private(private: &str) -> Result<Self, CheckpointError> {
        let signer = StandardSigner::new(private).map_err(|_| CheckpointError::Key)?;
        // PRIVATE+KEY+<name>+<id>+<base64 of 0x01 || 32-byte seed>
        // The key data is base64, which may itself hold '+': split off the four fields before it.
        let seed = private
            .splitn(5, '+')
            .nth(4)
            .and_then(|k| STANDARD.decode(k).ok())
            .and_then(|k| <[u8; 32]>::try_from(k.get(1..)?).ok())
            .ok_or(CheckpointError::Key)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let verifier_key =
            signed_note::new_ed25519_verifier_key(signer.name(), &key.verifying_key());
        Ok(Self {
            signer,
            verifier_key,
        })
    }

    /// The public verifier key (`<name>+<id>+<key>`), served for tenants to verify with.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// The signed note of `checkpoint`.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, CheckpointError> {
        let mut note = Note::new(checkpoint.body().as_bytes(), &[])
            .map_err(|e| CheckpointError::Signature(e.to_string()))?;
        note.add_sigs(&[&self.signer])
            .map_err(|e| CheckpointError::Signature(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|_| CheckpointError::Body("not UTF-8"))
    }
}

/// The checkpoint a signed note holds, when a signature on it verifies with `verifier_key`.
pub fn verify_checkpoint(note: &str, verifier_key: &str) -> Result<Checkpoint, CheckpointError> {
    let verifier = StandardVerifier::new(verifier_key).map_err(|_| CheckpointError::Key)?;
    let note =
        Note::from_bytes(note.as_bytes()).map_err(|e| CheckpointError::Signature(e.to_string()))?;
    note.verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map_err(|e| CheckpointError::Signature(e.to_string()))?;
    let body = std::str::from_utf8(note.text()).map_err(|_| CheckpointError::Body("not UTF-8"))?;
    Checkpoint::parse(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GENESIS, chain_hash};

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "cp.example/audit/acme".to_owned(),
            size: 2,
            head: chain_hash(GENESIS, "{}"),
            time: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        }
    }

    #[test]
    fn a_signed_checkpoint_verifies_with_the_public_key_and_round_trips() {
        let (signer, private) = CheckpointSigner::generate("cp.example/audit").unwrap();
        assert!(private.starts_with("PRIVATE+KEY+cp.example/audit+"));
        assert!(signer.verifier_key().starts_with("cp.example/audit+"));
        let note = signer.sign(&checkpoint()).unwrap();
        assert!(note.starts_with("cp.example/audit/acme\n2\n"), "{note}");
        assert!(note.contains("\n\n\u{2014} cp.example/audit "), "{note}");
        assert_eq!(
            verify_checkpoint(&note, signer.verifier_key()).unwrap(),
            checkpoint()
        );
        let again = CheckpointSigner::from_private(&private).unwrap();
        assert_eq!(again.verifier_key(), signer.verifier_key());
    }

    #[test]
    fn an_edited_checkpoint_or_another_key_does_not_verify() {
        let (signer, _) = CheckpointSigner::generate("cp.example/audit").unwrap();
        let (other, _) = CheckpointSigner::generate("cp.example/audit").unwrap();
        let note = signer.sign(&checkpoint()).unwrap();
        let edited = note.replacen("\n2\n", "\n3\n", 1);
        assert!(matches!(
            verify_checkpoint(&edited, signer.verifier_key()),
            Err(CheckpointError::Signature(_))
        ));
        assert!(verify_checkpoint(&note, other.verifier_key()).is_err());
        assert!(matches!(
            verify_checkpoint(&note, "not a key"),
            Err(CheckpointError::Key)
        ));
    }
}
