//! `AuditEntry`: the canonical audit envelope (CloudEvents 1.0 attributes with the audit record as `data`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::principal::{Principal, PrincipalKind, TenantId};
use crate::trace::TraceContext;

/// The longest text kept in any audit field; longer text is cut so a hostile input cannot bloat the log.
pub const MAX_FIELD_LEN: usize = 512;

/// One audit record, serialized as a CloudEvents 1.0 JSON event.
///
/// The CloudEvents context attributes are top level (`specversion`, `id`, `source`, `type`, `time`,
/// `subject`), with the `traceparent` (distributed tracing extension) and `tenantid` extensions;
/// the audit body is the event's `data`. Every text field is stripped of control characters and
/// bounded in length on the way in; nothing of type [`Secret`](crate::secrets::Secret) can be put in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Always `1.0`.
    pub specversion: String,
    /// A unique id (UUID v4).
    pub id: String,
    /// The emitting service, a URI reference such as `urn:palisade:service:billing`.
    pub source: String,
    /// The event type, such as `palisade.authz.decision`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// The resource the event is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The W3C trace context of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The tenant, as a CloudEvents extension so routers can filter on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenantid: Option<TenantId>,
    /// The audit record.
    pub data: AuditData,
}

/// The audit record proper.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditData {
    /// The tenant the action concerned; `None` when no tenant could be established (a bad token).
    pub tenant: Option<TenantId>,
    /// Who acted; `None` when the caller could not be authenticated.
    pub actor: Option<Actor>,
    /// What was attempted, such as `authenticate` or a Cedar action id.
    pub action: String,
    /// What it was attempted on.
    pub resource: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Why, in words that leak no secret (never a token or a value).
    pub reason: Option<String>,
    /// The ids of the policies that decided, for authorization events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// For an authorization decision, what it was decided on, so it can be decided again under
    /// another policy set (a replay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<DecisionInput>,
}

/// The inputs of an authorization decision besides the actor and tenant (in the entry already):
/// the principal's roles and scopes, the resource's type, id, tenant and attributes, and the
/// context. Strings are cleaned and cut like every audit field; a record that lost anything to
/// a cut or a bound says so (`complete: false`) and is not replayed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionInput {
    /// The principal's roles.
    pub roles: Vec<String>,
    /// The principal's OAuth scopes.
    pub scopes: Vec<String>,
    /// The resource's entity type (`App::Note`).
    pub resource_type: String,
    /// The resource's id.
    pub resource_id: String,
    /// The tenant owning the resource.
    pub resource_tenant: String,
    /// The resource's attributes, as JSON (strings, numbers, booleans, arrays of strings).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attrs: std::collections::BTreeMap<String, serde_json::Value>,
    /// The Cedar context, when there was one.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub context: serde_json::Value,
    /// Whether everything was recorded whole.
    pub complete: bool,
}

/// At most this many resource attributes, roles or scopes are recorded with a decision.
pub const MAX_DECISION_ITEMS: usize = 32;
/// A decision's context is recorded when its JSON is at most this long.
pub const MAX_DECISION_CONTEXT: usize = 1024;

impl DecisionInput {
    /// The record of a decision on `resource` with `context` by `principal`, bounded.
    pub fn new(
        principal: &Principal,
        resource: &crate::authz::Resource,
        context: &serde_json::Value,
    ) -> Self {
        // Whether anything was cut or cleaned: such a record is kept but never replayed.
        let whole = std::cell::Cell::new(true);
        let fits = |value: &str| {
            value.chars().count() <= MAX_FIELD_LEN && !value.chars().any(char::is_control)
        };
        let text = |value: &str| {
            if !fits(value) {
                whole.set(false);
            }
            clean(value)
        };
        let list = |items: &[String]| -> Vec<String> {
            if items.len() > MAX_DECISION_ITEMS {
                whole.set(false);
            }
            items
                .iter()
                .take(MAX_DECISION_ITEMS)
                .map(|i| text(i))
                .collect()
        };
        // The actor's subject is in the entry already; cut there, it would not be the same
        // principal again.
        if !fits(&principal.subject) {
            whole.set(false);
        }
        let roles = list(&principal.roles);
        let scopes = list(&principal.scopes);
        let mut attrs = std::collections::BTreeMap::new();
        for (name, value) in resource.attrs().take(MAX_DECISION_ITEMS) {
            use crate::authz::AttrValue;
            let value = match value {
                AttrValue::String(s) => serde_json::Value::String(text(s)),
                AttrValue::Long(n) => serde_json::Value::from(*n),
                AttrValue::Bool(b) => serde_json::Value::Bool(*b),
                AttrValue::Set(items) => serde_json::Value::from(list(items)),
            };
            attrs.insert(text(name), value);
        }
        let (resource_type, resource_id, resource_tenant) = (
            text(resource.entity_type()),
            text(resource.id()),
            resource.tenant().as_str().to_owned(),
        );
        if resource.attrs().count() > MAX_DECISION_ITEMS {
            whole.set(false);
        }
        let context = match serde_json::to_string(context) {
            Ok(json) if json.len() <= MAX_DECISION_CONTEXT => context.clone(),
            _ => {
                whole.set(false);
                serde_json::Value::Null
            }
        };
        Self {
            roles,
            scopes,
            resource_type,
            resource_id,
            resource_tenant,
            attrs,
            context,
            complete: whole.get(),
        }
    }
}

/// The acting party.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The subject (`sub`).
    pub subject: String,
    /// The principal's kind.
    pub kind: PrincipalKind,
    /// The OAuth client, when known.
    pub client_id: Option<String>,
}

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// Allowed, and done.
    Success,
    /// Refused by a policy or guard.
    Denied,
    /// Failed (a bad credential, an error).
    Failure,
}

/// Well-known event types.
pub mod event_type {
    /// A request's credentials were refused.
    pub const AUTHN_FAILURE: &str = "palisade.authn.failure";
    /// Authentication failures over the audit rate, counted in one entry (the count is in `reason`).
    pub const AUTHN_FAILURES_COUNTED: &str = "palisade.authn.failures_counted";
    /// A request named a tenant other than its principal's.
    pub const TENANT_MISMATCH: &str = "palisade.tenant.mismatch";
    /// A policy decision on a sensitive action.
    pub const AUTHZ_DECISION: &str = "palisade.authz.decision";
    /// A tenant's shadow policy set decided a request otherwise than its active set (not
    /// enforced; the outcome is the shadow's decision).
    pub const AUTHZ_SHADOW_FLIP: &str = "palisade.authz.shadow_flip";
    /// The authorization server issued tokens (or a code).
    pub const TOKEN_ISSUED: &str = "palisade.token.issued";
    /// The authorization server refused a token, code, grant or client authentication.
    pub const TOKEN_REFUSED: &str = "palisade.token.refused";
    /// Tokens were revoked (by a client, an administrator, or reuse detection).
    pub const TOKEN_REVOKED: &str = "palisade.token.revoked";
    /// A user signed in, failed to, or signed out.
    pub const LOGIN: &str = "palisade.login";
    /// An administrator created, changed or removed a tenant, user, client, API token or key.
    pub const ADMIN_CHANGE: &str = "palisade.admin.change";
    /// Someone read the audit log (its checkpoints or an export), or was refused.
    pub const AUDIT_READ: &str = "palisade.audit.read";
    /// Entries past their retention were purged (the count and the cut are in the entry).
    pub const AUDIT_PURGE: &str = "palisade.audit.purge";
    /// A service shipped entries the control plane refused (an unknown or foreign tenant).
    pub const AUDIT_INGEST: &str = "palisade.audit.ingest";
}

impl AuditEntry {
    /// A new entry stamped with the current time and a fresh id.
    pub fn new(source: &str, event_type: &str, action: &str, outcome: Outcome) -> Self {
        Self {
            specversion: "1.0".to_owned(),
            id: new_id(),
            source: clean(source),
            event_type: clean(event_type),
            time: OffsetDateTime::now_utc(),
            subject: None,
            datacontenttype: "application/json".to_owned(),
            traceparent: None,
            tenantid: None,
            data: AuditData {
                tenant: None,
                actor: None,
                action: clean(action),
                resource: None,
                outcome,
                reason: None,
                policies: Vec::new(),
                request: None,
            },
        }
    }

    /// Sets the tenant.
    pub fn tenant(mut self, tenant: &TenantId) -> Self {
        self.tenantid = Some(tenant.clone());
        self.data.tenant = Some(tenant.clone());
        self
    }

    /// Sets the actor alone (the tenant is set separately).
    pub fn actor(mut self, subject: &str, kind: PrincipalKind, client_id: Option<&str>) -> Self {
        self.data.actor = Some(Actor {
            subject: clean(subject),
            kind,
            client_id: client_id.map(clean),
        });
        self
    }

    /// Sets the actor and tenant from a principal.
    pub fn principal(mut self, principal: &Principal) -> Self {
        self.data.actor = Some(Actor {
            subject: clean(&principal.subject),
            kind: principal.kind,
            client_id: principal.client_id.as_deref().map(clean),
        });
        self.tenant(&principal.tenant)
    }

    /// Sets the resource (also the CloudEvents `subject`).
    pub fn resource(mut self, resource: &str) -> Self {
        let resource = clean(resource);
        self.subject = Some(resource.clone());
        self.data.resource = Some(resource);
        self
    }

    /// Sets the reason.
    pub fn reason(mut self, reason: &str) -> Self {
        self.data.reason = Some(clean(reason));
        self
    }

    /// Sets the deciding policy ids.
    pub fn policies<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, ids: I) -> Self {
        self.data.policies = ids.into_iter().map(|s| clean(s.as_ref())).collect();
        self
    }

    /// Records what an authorization decision was made on.
    pub fn decision_input(mut self, input: DecisionInput) -> Self {
        self.data.request = Some(input);
        self
    }

    /// Sets the trace context.
    pub fn trace(mut self, trace: Option<&TraceContext>) -> Self {
        self.traceparent = trace.map(ToString::to_string);
        self
    }

    /// The chain this entry belongs to in a hash-chained store: the tenant, or `-` without one.
    pub fn chain(&self) -> &str {
        self.data.tenant.as_ref().map_or("-", TenantId::as_str)
    }
}

/// A random (version 4) UUID.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    crate::trace::random(&mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Replaces control characters (which could forge log lines or terminal escapes) with U+FFFD and
/// cuts the text at [`MAX_FIELD_LEN`] characters.
fn clean(text: &str) -> String {
    text.chars()
        .take(MAX_FIELD_LEN)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_an_entry() {
        let entry = AuditEntry::new("svc", "t", "read\nFAKE ENTRY", Outcome::Success)
            .resource("note/1\u{1b}[31m")
            .reason(&"x".repeat(2000));
        assert_eq!(entry.data.action, "read\u{FFFD}FAKE ENTRY");
        assert!(!entry.subject.as_deref().unwrap().contains('\u{1b}'));
        assert_eq!(
            entry.data.reason.as_deref().unwrap().chars().count(),
            MAX_FIELD_LEN
        );
        let json = serde_json::to_string(&entry).unwrap();
        assert!(json.contains(r#""specversion":"1.0""#));
        assert!(!json.contains("\\n"));
    }
}
