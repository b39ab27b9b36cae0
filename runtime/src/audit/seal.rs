//! Sealing an entry's sensitive fields before the store hashes it into its chain (each value replaced by a salted commitment, the value and salt kept beside it as an opening), and opening them again when the store reads the entry.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use palisade_audit::{Opening, Openings, SEALED_PREFIX, seal_value};

use super::{AuditEntry, AuditError};

/// A field of the envelope the store can seal. Sealed fields are left out of an export unless an
/// unredacted one is asked for; the chain, its checkpoints and `GET /audit` are the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SealedField {
    /// `data.actor.subject`: who acted (a user id, often an e-mail address). Sealed by default.
    ActorSubject,
    /// `data.reason`: the free-text reason.
    Reason,
    /// `data.resource`: what the action was on, wherever the entry repeats it (the CloudEvents
    /// `subject`, and a decision record's `data.request.resource_id`).
    Resource,
}

/// Every place a field's value is written in the envelope.
const PLACES: [(SealedField, &str); 5] = [
    (SealedField::ActorSubject, "data.actor.subject"),
    (SealedField::Reason, "data.reason"),
    (SealedField::Resource, "data.resource"),
    (SealedField::Resource, "subject"),
    (SealedField::Resource, "data.request.resource_id"),
];

impl SealedField {
    /// The fields a store seals unless told otherwise: the actor's subject (personal data).
    pub const DEFAULT: &'static [SealedField] = &[SealedField::ActorSubject];

    /// The dotted paths in the envelope's JSON where the field's value is written: the keys of
    /// its openings.
    pub fn paths(self) -> impl Iterator<Item = &'static str> {
        PLACES
            .iter()
            .filter(move |(field, _)| *field == self)
            .map(|(_, path)| *path)
    }
}

/// The text at `path` of an entry, when it has one.
fn value_mut<'e>(entry: &'e mut AuditEntry, path: &str) -> Option<&'e mut String> {
    match path {
        "data.actor.subject" => entry.data.actor.as_mut().map(|a| &mut a.subject),
        "data.reason" => entry.data.reason.as_mut(),
        "data.resource" => entry.data.resource.as_mut(),
        "subject" => entry.subject.as_mut(),
        "data.request.resource_id" => entry.data.request.as_mut().map(|r| &mut r.resource_id),
        _ => None,
    }
}

/// The JSON the chain hashes (the entry with each of `fields` sealed) and, when any was, the
/// openings as JSON. A value that already looks sealed is left as it is.
pub(crate) fn seal(
    entry: &AuditEntry,
    fields: &[SealedField],
) -> Result<(String, Option<String>), AuditError> {
    let mut sealed = None::<AuditEntry>;
    let mut openings = Openings::new();
    for path in fields.iter().flat_map(|f| f.paths()) {
        let target = sealed.get_or_insert_with(|| entry.clone());
        let Some(value) = value_mut(target, path) else {
            continue;
        };
        if value.starts_with(SEALED_PREFIX) {
            continue;
        }
        let mut salt = [0u8; 16];
        SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| AuditError::Io(std::io::Error::other("no randomness for a seal")))?;
        let salt = hex::encode(salt);
        let opening = Opening {
            value: std::mem::replace(value, seal_value(&salt, value)),
            salt,
        };
        openings.insert(path.to_owned(), opening);
    }
    if openings.is_empty() {
        return Ok((serde_json::to_string(entry)?, None));
    }
    let sealed = sealed.as_ref().unwrap_or(entry);
    Ok((
        serde_json::to_string(sealed)?,
        Some(serde_json::to_string(&openings)?),
    ))
}

/// Puts the values of `openings` (JSON, as [`seal`] made it) back into a stored entry, checking
/// each against its seal: an opening changed beside the chain is an error, never shown as true.
pub(crate) fn open(entry: &mut AuditEntry, openings: &str) -> Result<(), AuditError> {
    let openings: Openings = serde_json::from_str(openings)?;
    for (path, opening) in openings {
        let Some(value) = value_mut(entry, &path) else {
            return Err(AuditError::Sealed(path));
        };
        if !opening.opens(value) {
            return Err(AuditError::Sealed(path));
        }
        *value = opening.value;
    }
    Ok(())
}

/// The openings of a stored entry, checked against its stored JSON: `Err(path)` names the first
/// that does not open its field.
pub(crate) fn check(json: &str, openings: &str) -> Result<(), String> {
    let mut entry: AuditEntry = serde_json::from_str(json).map_err(|_| "the entry".to_owned())?;
    open(&mut entry, openings).map_err(|e| match e {
        AuditError::Sealed(path) => path,
        _ => "the openings".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Outcome, event_type};
    use crate::principal::PrincipalKind;

    fn entry() -> AuditEntry {
        let mut e = AuditEntry::new(
            "urn:palisade:service:test",
            event_type::ADMIN_CHANGE,
            "user.create",
            Outcome::Success,
        );
        e.data.actor = Some(crate::audit::Actor {
            subject: "alice@example.com".into(),
            kind: PrincipalKind::User,
            client_id: Some("admin-ui".into()),
        });
        e.data.reason = Some("asked by bob@example.com".into());
        e
    }

    #[test]
    fn sealing_hides_the_fields_and_opening_gives_the_entry_back() {
        let original = entry();
        let (json, openings) =
            seal(&original, &[SealedField::ActorSubject, SealedField::Reason]).unwrap();
        assert!(!json.contains("alice") && !json.contains("bob"), "{json}");
        assert!(json.contains("admin-ui"), "the client id stays: {json}");
        let openings = openings.unwrap();
        let mut stored: AuditEntry = serde_json::from_str(&json).unwrap();
        assert_ne!(stored, original);
        open(&mut stored, &openings).unwrap();
        assert_eq!(stored, original);
        assert_eq!(check(&json, &openings), Ok(()));
        // Two seals of one value differ (fresh salt): equal values are not linkable.
        let (again, _) = seal(&original, SealedField::DEFAULT).unwrap();
        let (twice, _) = seal(&original, SealedField::DEFAULT).unwrap();
        assert_ne!(again, twice);
    }

    #[test]
    fn an_opening_changed_beside_the_chain_is_refused_and_named() {
        let (json, openings) = seal(&entry(), SealedField::DEFAULT).unwrap();
        let forged = openings.unwrap().replace("alice@", "mallory@");
        let mut stored: AuditEntry = serde_json::from_str(&json).unwrap();
        assert!(matches!(
            open(&mut stored, &forged),
            Err(AuditError::Sealed(path)) if path == "data.actor.subject"
        ));
        assert_eq!(check(&json, &forged), Err("data.actor.subject".into()));
    }

    /// Review finding (session 8, 1): sealing the resource left it in the CloudEvents `subject`
    /// and in a decision record's resource id, both in the hashed JSON a redacted export holds.
    #[test]
    fn sealing_the_resource_seals_every_place_the_entry_repeats_it() {
        let principal = crate::principal::Principal {
            tenant: crate::principal::TenantId::new("acme").unwrap(),
            subject: "alice".into(),
            kind: PrincipalKind::User,
            roles: vec![],
            scopes: vec![],
            client_id: None,
        };
        let resource =
            crate::authz::Resource::new("App::Patient", "carol@example.com", &principal.tenant);
        let original = entry()
            .resource("patient:carol@example.com")
            .decision_input(crate::audit::DecisionInput::new(
                &principal,
                &resource,
                &serde_json::Value::Null,
            ));
        let (json, openings) = seal(&original, &[SealedField::Resource]).unwrap();
        assert!(!json.contains("carol@example.com"), "{json}");
        let mut stored: AuditEntry = serde_json::from_str(&json).unwrap();
        open(&mut stored, &openings.unwrap()).unwrap();
        assert_eq!(stored, original);
    }

    #[test]
    fn nothing_to_seal_leaves_the_entry_as_it_was() {
        let mut e = entry();
        e.data.actor = None;
        let (json, openings) = seal(&e, SealedField::DEFAULT).unwrap();
        assert_eq!(json, serde_json::to_string(&e).unwrap());
        assert_eq!(openings, None);
    }
}
