//! Replaying recorded authorization decisions under a policy set: each `palisade.authz.decision` entry that recorded its inputs is decided again, and every decision that comes out the other way is a flip, reported with what decided it then and now.

use std::collections::BTreeMap;

use super::engine::{PolicyEngine, Resource};
use crate::audit::{AuditEntry, Outcome, event_type};
use crate::principal::{Principal, TenantId};

/// How a sealed value starts (`palisade_audit::SEALED_PREFIX`, which the runtime links only with
/// its `sql` feature).
const SEALED_PREFIX: &str = "sealed:sha256:";

#[cfg(all(test, feature = "sql"))]
#[test]
fn the_sealed_prefix_is_the_audit_crates() {
    assert_eq!(SEALED_PREFIX, palisade_audit::SEALED_PREFIX);
}

/// A recorded decision that the policy set decides the other way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flip {
    /// The entry's id.
    pub entry: String,
    /// The action.
    pub action: String,
    /// The resource, as the entry names it.
    pub resource: String,
    /// Whether it is allowed now (it was denied then), or denied now (it was allowed then).
    pub now_allowed: bool,
    /// The policies that decided then (as recorded).
    pub then_policies: Vec<String>,
    /// The policies that decide now.
    pub now_policies: Vec<String>,
}

/// What a replay found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Decisions decided again.
    pub replayed: usize,
    /// Decision entries not replayed: recorded without their inputs, or with inputs cut to fit.
    pub not_replayable: usize,
    /// Entries whose inputs no longer fit the schema: (entry id, why).
    pub failed: Vec<(String, String)>,
    /// Every decision that came out the other way, in the order given.
    pub flips: Vec<Flip>,
}

impl ReplayReport {
    /// The flips counted by action, direction (`true`: now allowed) and the policies that allow
    /// (now, for a widening; then, for a narrowing).
    pub fn groups(&self) -> BTreeMap<(String, bool, String), usize> {
        let mut groups = BTreeMap::new();
        for flip in &self.flips {
            let policies = if flip.now_allowed {
                &flip.now_policies
            } else {
                &flip.then_policies
            };
            *groups
                .entry((flip.action.clone(), flip.now_allowed, policies.join(", ")))
                .or_default() += 1;
        }
        groups
    }
}

impl PolicyEngine {
    /// Decides every recorded decision among `entries` again with this engine's policies.
    pub fn replay<'a>(&self, entries: impl IntoIterator<Item = &'a AuditEntry>) -> ReplayReport {
        let mut report = ReplayReport::default();
        for entry in entries {
            if entry.event_type != event_type::AUTHZ_DECISION {
                continue;
            }
            let then_allowed = match entry.data.outcome {
                Outcome::Success => true,
                Outcome::Denied => false,
                Outcome::Failure => continue,
            };
            // A record cut to fit, or an actor whose subject is sealed (an entry from a redacted
            // export), would be decided on other inputs than the recorded decision was.
            let (Some(input), Some(actor), Some(tenant)) = (
                entry.data.request.as_ref().filter(|i| i.complete),
                entry
                    .data
                    .actor
                    .as_ref()
                    .filter(|a| !a.subject.starts_with(SEALED_PREFIX)),
                entry.data.tenant.as_ref(),
            ) else {
                report.not_replayable += 1;
                continue;
            };
            let principal = Principal {
                tenant: tenant.clone(),
                subject: actor.subject.clone(),
                kind: actor.kind,
                roles: input.roles.clone(),
                scopes: input.scopes.clone(),
                client_id: actor.client_id.clone(),
            };
            let resource = match resource(input) {
                Ok(resource) => resource,
                Err(why) => {
                    report.failed.push((entry.id.clone(), why));
                    continue;
                }
            };
            match self.authorize(&principal, &entry.data.action, &resource, &input.context) {
                Ok(decision) => {
                    report.replayed += 1;
                    if decision.allowed != then_allowed {
                        report.flips.push(Flip {
                            entry: entry.id.clone(),
                            action: entry.data.action.clone(),
                            resource: entry.data.resource.clone().unwrap_or_default(),
                            now_allowed: decision.allowed,
                            then_policies: entry.data.policies.clone(),
                            now_policies: decision.policies,
                        });
                    }
                }
                Err(error) => report.failed.push((entry.id.clone(), error.to_string())),
            }
        }
        report
    }
}

/// The resource a decision was made on, from its record.
fn resource(input: &crate::audit::DecisionInput) -> Result<Resource, String> {
    let tenant = TenantId::new(input.resource_tenant.as_str()).map_err(|e| e.to_string())?;
    let mut resource = Resource::new(&input.resource_type, &input.resource_id, &tenant);
    for (name, value) in &input.attrs {
        resource = match value {
            serde_json::Value::String(s) => resource.attr(name, s.as_str()),
            serde_json::Value::Bool(b) => resource.attr(name, *b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(n) => resource.attr(name, n),
                None => return Err(format!("attribute {name}: {n} is not a Long")),
            },
            serde_json::Value::Array(items) => {
                let strings: Option<Vec<String>> = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect();
                match strings {
                    Some(set) => resource.attr(name, super::AttrValue::Set(set)),
                    None => return Err(format!("attribute {name}: a set of non-strings")),
                }
            }
            _ => return Err(format!("attribute {name}: not a recorded kind")),
        };
    }
    Ok(resource)
}
