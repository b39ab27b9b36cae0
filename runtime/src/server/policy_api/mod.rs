//! The policy service: each service's Cedar schema, its base policy set and each tenant's, versioned (monotonic per service, content hash, author, time), validated strictly before they are accepted, changed with `If-Match`, rolled back, put in `active` or `shadow` mode; and the signed bundle each service fetches with its own token (`GET /policies/bundle`, `ETag`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
/// A policy file: its name and text.
pub use palisade_policy::BundleFile;
use palisade_policy::{BUNDLE_FORMAT, Bundle, BundleError, TenantPolicies};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::admin::{PLATFORM_ADMIN_ROLE, TENANT_ADMIN_ROLE, admin_claims};
use super::endpoints::scoped_token;
use super::store::{NewPolicySet, PolicySetRow, ServicePolicies};
use super::{AuthorizationServer, ServerError};
use crate::audit::{Outcome, event_type};
use crate::authz::{BundleSigner, POLICY_AUDIENCE, POLICY_READ_SCOPE, SIGNATURE_HEADER};
use crate::principal::{PrincipalKind, TenantId};
use crate::problem::Problem;
use crate::secrets::Secret;

mod admin;
mod bundle;
mod diff;
mod sets;
mod types;

pub use admin::PolicyAdmin;
pub use diff::{
    PolicyDiff, Proposal, ReplayFlip, ReplayGroup, ReplaySummary, Symbolic, SymbolicFinding,
};
pub use types::{
    PolicyError, PolicyMode, PolicySet, PolicyVersion, PutOutcome, ServiceSummary, SetState,
};

use admin::Editor;
use bundle::{key, serve_bundle};
use sets::{
    base_history, diff_tenant, get_base, get_tenant, list, put_base, put_schema, put_tenant,
    rollback, tenant_history,
};
use types::store_failed;

/// Where the policy verifying key is published.
pub const POLICY_KEY_PATH: &str = "/.well-known/palisade-policy-key";
/// The most files a set holds.
const MAX_FILES: usize = 64;

/// The policy service's bundle signing key, given to
/// [`AuthorizationServer::serve_policies`].
pub struct PolicyService {
    signer: BundleSigner,
    solver: std::path::PathBuf,
}

impl PolicyService {
    /// The service signing bundles with `key` (a PKCS#8 Ed25519 key in base64, from
    /// [`BundleSigner::generate`]; keep it in Key Vault).
    pub fn new(key: &Secret) -> Result<Self, ServerError> {
        let signer = BundleSigner::from_pkcs8(key)
            .map_err(|e| ServerError::Invalid(format!("policy signing key: {e}")))?;
        Ok(Self {
            signer,
            solver: "cvc5".into(),
        })
    }

    /// The cvc5 executable the symbolic diff runs (default `cvc5` on `PATH`).
    pub fn with_solver(mut self, solver: impl Into<std::path::PathBuf>) -> Self {
        self.solver = solver.into();
        self
    }

    /// The key services verify bundles with (base64 Ed25519), also served at
    /// [`POLICY_KEY_PATH`].
    pub fn verifying_key(&self) -> String {
        self.signer.verifying_key()
    }
}

pub(crate) fn routes() -> Router<AuthorizationServer> {
    Router::new()
        .route("/policies", get(list))
        .route("/policies/bundle", get(serve_bundle))
        .route(POLICY_KEY_PATH, get(key))
        .route("/policies/{service}/schema", put(put_schema))
        .route("/policies/{service}/base", get(get_base).put(put_base))
        .route("/policies/{service}/base/history", get(base_history))
        .route(
            "/policies/{service}/tenants/{tenant}",
            get(get_tenant).put(put_tenant),
        )
        .route(
            "/policies/{service}/tenants/{tenant}/history",
            get(tenant_history),
        )
        .route(
            "/policies/{service}/tenants/{tenant}/rollback",
            post(rollback),
        )
        .route(
            "/policies/{service}/tenants/{tenant}/diff",
            post(diff_tenant),
        )
}

fn service(server: &AuthorizationServer) -> Result<&PolicyService, Problem> {
    server.inner.policies.get().ok_or_else(|| {
        Problem::new(StatusCode::NOT_FOUND, "not found")
            .with_detail("this server does not serve policies")
    })
}

fn failed(error: impl std::fmt::Display) -> Problem {
    tracing::error!(%error, "policy service failure");
    Problem::unavailable()
}

fn bad(status: StatusCode, detail: impl Into<String>) -> Problem {
    let title = match status {
        StatusCode::UNPROCESSABLE_ENTITY => "invalid policies",
        StatusCode::PRECONDITION_FAILED => "precondition failed",
        StatusCode::PRECONDITION_REQUIRED => "precondition required",
        _ => "invalid request",
    };
    Problem::new(status, title).with_detail(detail)
}

/// Checks the admin token: a platform admin may change anything; a tenant admin only its own
/// tenant's set; any admin reads the base set and the schema. `set` is `None` for the schema
/// and for the list. A refused change is audited in the caller's own chain.
async fn editor(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    set: Option<&PolicySet>,
    write: bool,
) -> Result<(PolicyAdmin, bool), Problem> {
    let claims = admin_claims(server, headers).await?;
    let platform = claims.has(PLATFORM_ADMIN_ROLE) && claims.in_platform(server);
    let own = match set {
        Some(PolicySet::Tenant(t)) => claims.has(TENANT_ADMIN_ROLE) && claims.tenant == t.as_str(),
        Some(PolicySet::Base) | None => !write && claims.has(TENANT_ADMIN_ROLE),
    };
    let editor = Editor {
        subject: claims.subject,
        client_id: claims.client_id,
        tenant: claims.tenant,
    };
    if !platform && !own {
        if write {
            let what = set.map_or_else(|| "schema".to_owned(), PolicySet::name);
            editor
                .record(
                    server,
                    "policy.change",
                    &format!("policy {what}"),
                    None,
                    Outcome::Denied,
                    Some("the caller may not change this policy set"),
                )
                .await;
        }
        return Err(Problem::forbidden());
    }
    Ok((PolicyAdmin::new(server.clone(), editor), platform))
}

fn tenant_set(tenant: &str) -> Result<PolicySet, Problem> {
    TenantId::new(tenant)
        .map(PolicySet::Tenant)
        .map_err(|e| bad(StatusCode::BAD_REQUEST, e.to_string()))
}

/// The bundle of a service's policies as stored: what `GET /policies/bundle` signs, and what a
/// change is validated as (with the change applied).
fn bundle_of(name: &str, current: &ServicePolicies) -> Result<Bundle, PolicyError> {
    let mut tenants = std::collections::BTreeMap::new();
    for (tenant, (active, shadow)) in current.sets.iter().filter(|(t, _)| !t.is_empty()) {
        tenants.insert(
            tenant.clone(),
            TenantPolicies {
                version: u64::try_from(active.as_ref().map_or(0, |r| r.version)).unwrap_or(0),
                active: files_of(active.as_ref())?,
                shadow: shadow.as_ref().map(|s| files_of(Some(s))).transpose()?,
            },
        );
    }
    Ok(Bundle {
        format: BUNDLE_FORMAT,
        service: name.to_owned(),
        version: u64::try_from(current.version).unwrap_or(0),
        schema: BundleFile {
            name: "schema.cedarschema".to_owned(),
            text: current.schema.clone(),
        },
        base: files_of(current.sets.get("").and_then(|(a, _)| a.as_ref()))?,
        tenants,
    })
}

/// The `ETag` of a version.
fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"v{version}\"")).unwrap_or(HeaderValue::from_static("\"v0\""))
}

fn files_of(row: Option<&PolicySetRow>) -> Result<Vec<BundleFile>, PolicyError> {
    row.map_or(Ok(Vec::new()), |row| {
        serde_json::from_str(&row.files).map_err(store_failed)
    })
}
