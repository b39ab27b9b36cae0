//! The policy service's change-safety check of a tenant's proposed set against its active one: the symbolic diff (widening, narrowing, tenant isolation, with counterexamples; cvc5 through `cedar-policy-symcc` when built with the `symbolic` feature) and a replay of the tenant's recorded decisions of the last days from the audit log, every flip grouped by action and policy.

use serde::Serialize;

use super::*;
use crate::audit::{AuditQuery, StoredEntry};
use crate::authz::PolicyEngine;

/// The longest replay window, in days.
const MAX_DAYS: u32 = 400;
/// The most decisions a replay reads; a longer window is reported truncated.
const MAX_REPLAYED: usize = 200_000;
/// The most flips listed one by one (all are counted in the groups).
const MAX_LISTED_FLIPS: usize = 100;

/// A tenant's proposed set, as `POST /policies/{service}/tenants/{tenant}/diff` takes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// The proposed files of the tenant's set.
    pub files: Vec<BundleFile>,
    /// Days of recorded decisions to replay (default 30, at most 400; 0 replays none).
    #[serde(default = "thirty")]
    pub days: u32,
    /// The service's Cedar namespace, which its decisions' actions are in (default `App`).
    #[serde(default = "app")]
    pub namespace: String,
    /// Replay only the decisions of this audit source (the service's CloudEvents `source`);
    /// by default every decision recorded in the tenant's chain.
    #[serde(default)]
    pub source: Option<String>,
}

fn thirty() -> u32 {
    30
}

fn app() -> String {
    "App".to_owned()
}

/// A difference the solver found, with a request that shows it.
#[derive(Clone, Debug, Serialize)]
pub struct SymbolicFinding {
    /// `widening`, `narrowing` or `cross_tenant`.
    pub change: &'static str,
    /// The principal's entity type.
    pub principal: String,
    /// The action.
    pub action: String,
    /// The resource's entity type.
    pub resource: String,
    /// The request and entities the two sets decide differently.
    pub counterexample: String,
}

/// What the symbolic check says: checked with its findings, or why it could not run (never
/// "no change" when it did not).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Symbolic {
    /// The solver answered for every request shape.
    Checked {
        /// Request shapes checked.
        shapes: usize,
        /// Every difference.
        findings: Vec<SymbolicFinding>,
    },
    /// No answer: no solver, or this server built without the check.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// A recorded decision the proposal decides the other way.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayFlip {
    /// The audit entry's id.
    pub entry: String,
    /// The action.
    pub action: String,
    /// The resource, as the entry names it.
    pub resource: String,
    /// Allowed under the proposal (denied when recorded), or the reverse.
    pub now_allowed: bool,
    /// The policies that decided when it was recorded.
    pub then_policies: Vec<String>,
    /// The policies that decide under the proposal.
    pub now_policies: Vec<String>,
}

/// Flips counted by action, direction and the policies that allow.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayGroup {
    /// The action.
    pub action: String,
    /// Allowed under the proposal.
    pub now_allowed: bool,
    /// The policies that allow (now for a widening, then for a narrowing).
    pub policies: String,
    /// How many.
    pub count: usize,
}

/// What the replay found.
#[derive(Clone, Debug, Serialize)]
pub struct ReplaySummary {
    /// `replayed`, or why not (`no audit log`).
    pub status: &'static str,
    /// The window, in days.
    pub days: u32,
    /// Decisions decided again.
    pub replayed: usize,
    /// Decisions recorded without their inputs (or with inputs cut to fit).
    pub not_replayable: usize,
    /// Decisions whose inputs no longer fit the schema.
    pub failed: usize,
    /// The window held more than the replay reads.
    pub truncated: bool,
    /// The flips, grouped.
    pub groups: Vec<ReplayGroup>,
    /// The first flips, one by one.
    pub flips: Vec<ReplayFlip>,
}

/// The check of a proposal.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyDiff {
    /// The tenant.
    pub tenant: String,
    /// The active version it was compared with (0: the tenant had no set).
    pub against: i64,
    /// The symbolic diff.
    pub symbolic: Symbolic,
    /// The replay.
    pub replay: ReplaySummary,
    /// A widening found by either: a symbolic widening or cross-tenant finding, or a recorded
    /// denial the proposal would allow. `None` when the symbolic check could not run and the
    /// replay showed no widening (a replay cannot show there is none).
    pub widens: Option<bool>,
}

impl PolicyAdmin {
    /// Checks `proposal` for `tenant`'s set of `service` against the active one; stores nothing.
    /// A proposal that does not load is [`PolicyError::Invalid`], as a put would be.
    pub async fn diff(
        &self,
        service: &str,
        tenant: &TenantId,
        proposal: Proposal,
    ) -> Result<PolicyDiff, PolicyError> {
        let days = proposal.days.min(MAX_DAYS);
        let current = self.current(service).await?;
        let against = current
            .sets
            .get(tenant.as_str())
            .and_then(|(active, _)| active.as_ref())
            .map_or(0, |r| r.version);
        let old_bundle = bundle_of(service, &current)?;
        let mut new_bundle = old_bundle.clone();
        (new_bundle
            .tenants
            .entry(tenant.as_str().to_owned())
            .or_default())
        .active
        .clone_from(&proposal.files);
        let invalid = |error: BundleError| match error {
            BundleError::Invalid { set, source } => {
                PolicyError::Invalid(format!("{set}: {source}"))
            }
            other => store_failed(other),
        };
        let new_sets = new_bundle.sets().map_err(invalid)?;
        let old_sets = old_bundle.sets().map_err(invalid)?;
        let tenant_set = |sets: palisade_policy::BundleSets| {
            let mut sets = sets;
            sets.tenants.remove(tenant.as_str()).unwrap_or(sets.base)
        };
        let (old, new) = (tenant_set(old_sets), tenant_set(new_sets));
        let symbolic = symbolic(self.solver(), &old, &new).await;
        let engine = PolicyEngine::from_loaded(&proposal.namespace, new)
            .map_err(|e| PolicyError::BadRequest(format!("namespace: {e}")))?;
        let replay = self
            .replay(&engine, tenant, days, proposal.source.as_deref())
            .await?;
        let symbolic_widens = match &symbolic {
            Symbolic::Checked { findings, .. } => {
                Some(findings.iter().any(|f| f.change != "narrowing"))
            }
            Symbolic::Unavailable { .. } => None,
        };
        // A replay can show a widening, never its absence (the requests not made are not in
        // it): without the symbolic answer, no widening replayed is "unknown".
        let replay_widens = replay.groups.iter().any(|g| g.now_allowed);
        let widens = match symbolic_widens {
            Some(widens) => Some(widens || replay_widens),
            None => replay_widens.then_some(true),
        };
        Ok(PolicyDiff {
            tenant: tenant.as_str().to_owned(),
            against,
            symbolic,
            replay,
            widens,
        })
    }

    fn solver(&self) -> std::path::PathBuf {
        (self.server().inner.policies.get()).map_or_else(|| "cvc5".into(), |p| p.solver.clone())
    }

    /// Decides the tenant's recorded decisions of the last `days` again with `engine`.
    async fn replay(
        &self,
        engine: &PolicyEngine,
        tenant: &TenantId,
        days: u32,
        source: Option<&str>,
    ) -> Result<ReplaySummary, PolicyError> {
        let mut summary = ReplaySummary {
            status: "replayed",
            days,
            replayed: 0,
            not_replayable: 0,
            failed: 0,
            truncated: false,
            groups: Vec::new(),
            flips: Vec::new(),
        };
        let Some(log) = self.server().inner.audit_log.get() else {
            summary.status = "no audit log";
            return Ok(summary);
        };
        let now =
            time::OffsetDateTime::from_unix_timestamp(self.server().now()).map_err(store_failed)?;
        let query = AuditQuery {
            since: Some(now - time::Duration::days(i64::from(days))),
            event_type: Some(event_type::AUTHZ_DECISION.to_owned()),
            ..AuditQuery::default()
        };
        let mut entries = Vec::new();
        let mut after = 0;
        while days > 0 && entries.len() < MAX_REPLAYED {
            let page: Vec<StoredEntry> = (log.store())
                .query(tenant.as_str(), &query, after, 1_000)
                .await
                .map_err(store_failed)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            entries.extend(page.into_iter().map(|s| s.entry).filter(|e| {
                e.event_type == event_type::AUTHZ_DECISION && source.is_none_or(|s| e.source == s)
            }));
        }
        summary.truncated = entries.len() >= MAX_REPLAYED;
        let report = engine.replay(&entries);
        summary.replayed = report.replayed;
        summary.not_replayable = report.not_replayable;
        summary.failed = report.failed.len();
        summary.groups = (report.groups().into_iter())
            .map(|((action, now_allowed, policies), count)| ReplayGroup {
                action,
                now_allowed,
                policies,
                count,
            })
            .collect();
        summary.flips = (report.flips.into_iter().take(MAX_LISTED_FLIPS))
            .map(|f| ReplayFlip {
                entry: f.entry,
                action: f.action,
                resource: f.resource,
                now_allowed: f.now_allowed,
                then_policies: f.then_policies,
                now_policies: f.now_policies,
            })
            .collect();
        Ok(summary)
    }
}

#[cfg(feature = "symbolic")]
async fn symbolic(
    solver: std::path::PathBuf,
    old: &palisade_policy::PolicySetWithSchema,
    new: &palisade_policy::PolicySetWithSchema,
) -> Symbolic {
    use palisade_policy::Change;
    match palisade_policy::diff(old, new, &solver).await {
        Ok(report) => Symbolic::Checked {
            shapes: report.shapes,
            findings: (report.findings.into_iter())
                .map(|f| SymbolicFinding {
                    change: match f.change {
                        Change::Widening => "widening",
                        Change::Narrowing => "narrowing",
                        _ => "cross_tenant",
                    },
                    principal: f.principal,
                    action: f.action,
                    resource: f.resource,
                    counterexample: f.counterexample,
                })
                .collect(),
        },
        Err(error) => Symbolic::Unavailable {
            reason: error.to_string(),
        },
    }
}

#[cfg(not(feature = "symbolic"))]
async fn symbolic(
    _solver: std::path::PathBuf,
    _old: &palisade_policy::PolicySetWithSchema,
    _new: &palisade_policy::PolicySetWithSchema,
) -> Symbolic {
    Symbolic::Unavailable {
        reason: "symbolic check unavailable: this control plane was built without the \
                 `symbolic` feature of palisade-runtime"
            .to_owned(),
    }
}
