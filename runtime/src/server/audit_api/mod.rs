//! The governance audit API: `GET /audit` (a tenant's entries, filtered, in chain order, with an authenticated cursor), `/.well-known/palisade-audit-key` (the public checkpoint key), `/audit/checkpoints` (a tenant's signed checkpoints; `POST` signs its head now) and `/audit/export` (a tenant's entries and the checkpoints that cover them, as JSON lines), tenant-scoped by the caller's token; every read, and every refused one, is audited.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::StreamExt as _;
use palisade_audit::CheckpointSigner;
use serde::Deserialize;
use serde_json::{Value, json};

mod ingest;
mod query;
mod retention;

use ingest::ingest;
use query::{FilterSpec, query};
use retention::{add_hold, get_retention, list_holds, put_retention, release_hold};

use super::admin::{PLATFORM_ADMIN_ROLE, TENANT_ADMIN_ROLE, admin_claims};
use super::endpoints::scoped_token;
use super::{AuthorizationServer, ServerError};
use crate::audit::{AuditQuery, Outcome, SqlAuditStore, event_type};
use crate::principal::{PrincipalKind, TenantId};
use crate::problem::Problem;
use crate::secrets::Secret;

/// The role that reads its own tenant's audit log.
pub const AUDITOR_ROLE: &str = "auditor";
/// The role that reads any tenant's audit log, honoured only in the platform tenant.
pub const PLATFORM_AUDITOR_ROLE: &str = "platform-auditor";
/// Where the checkpoint verifier key is served.
pub const AUDIT_KEY_PATH: &str = "/.well-known/palisade-audit-key";

/// The most entries one `GET /audit` page returns.
pub const MAX_QUERY_LIMIT: u32 = 1000;
/// The page size when `limit` is not given.
pub const DEFAULT_QUERY_LIMIT: u32 = 100;
/// The most entries one `GET /audit` request reads while filtering: a page can come back short
/// (with a cursor to go on) rather than scan a whole chain.
const SCAN_BUDGET: i64 = 20_000;

/// The audit log the server serves: the store its entries go to, the checkpoint key, and the key
/// that authenticates query cursors (derived from the checkpoint key, so every replica holding
/// it accepts the others' cursors).
#[derive(Clone)]
pub struct AuditLog {
    store: SqlAuditStore,
    signer: Arc<CheckpointSigner>,
    cursor_key: aws_lc_rs::hmac::Key,
    every: std::time::Duration,
    retention: Arc<RetentionPolicy>,
}

/// The platform's retention rules: the retention a tenant gets until it sets one, and the
/// minimum of each compliance class, below which no tenant may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Days kept when a tenant has set nothing (and its class when it sets days without one).
    pub default_days: i64,
    /// The class a tenant is in until it names one.
    pub default_class: String,
    /// Each class's minimum, in days.
    pub minimums: std::collections::BTreeMap<String, i64>,
}

impl Default for RetentionPolicy {
    /// A year by default; classes `standard` (30 days minimum), `sox` (7 years) and `hipaa`
    /// (6 years).
    fn default() -> Self {
        Self {
            default_days: 365,
            default_class: "standard".to_owned(),
            minimums: [("standard", 30), ("sox", 7 * 365), ("hipaa", 6 * 365)]
                .into_iter()
                .map(|(class, days)| (class.to_owned(), days))
                .collect(),
        }
    }
}

/// How often every grown chain gets a checkpoint by default (CloudTrail signs hourly digests).
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("verifier_key", &self.signer.verifier_key())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// The log in `store`, checkpoints signed with the private checkpoint key `private`
    /// (`PRIVATE+KEY+<name>+...`, from `CheckpointSigner::generate`; name it after the issuer
    /// with [`AuditLog::key_name`]).
    pub fn new(store: SqlAuditStore, private: &Secret) -> Result<Self, ServerError> {
        let signer = CheckpointSigner::from_private(private.expose())
            .map_err(|e| ServerError::Invalid(e.to_string()))?;
        let cursor_key =
            aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"palisade audit cursor")
                .extract(private.expose().as_bytes())
                .expand(&[b"v1"], aws_lc_rs::hmac::HMAC_SHA256)
                .map(aws_lc_rs::hmac::Key::from)
                .map_err(|_| ServerError::Invalid("cannot derive the cursor key".to_owned()))?;
        Ok(Self {
            store,
            signer: Arc::new(signer),
            cursor_key,
            every: CHECKPOINT_INTERVAL,
            retention: Arc::new(RetentionPolicy::default()),
        })
    }

    /// The store the log reads and writes.
    pub(crate) fn store(&self) -> &SqlAuditStore {
        &self.store
    }

    /// The platform's retention rules (default: [`RetentionPolicy::default`]).
    pub fn retention_policy(mut self, policy: RetentionPolicy) -> Self {
        self.retention = Arc::new(policy);
        self
    }

    /// Checkpoints every chain that grew, every `every` (default [`CHECKPOINT_INTERVAL`]).
    pub fn checkpoint_every(mut self, every: std::time::Duration) -> Self {
        self.every = every.max(std::time::Duration::from_secs(1));
        self
    }

    /// The checkpoint key's name (`<host>/audit`).
    fn name(&self) -> &str {
        self.signer
            .verifier_key()
            .split('+')
            .next()
            .unwrap_or_default()
    }

    /// The checkpoint key's name for an issuer: its host and path, then `/audit`.
    pub fn key_name(issuer: &str) -> String {
        let bare = issuer
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        format!("{bare}/audit")
    }

    /// A new private checkpoint key named after `issuer` (for a development key file; production
    /// keeps one in a secret store and passes it to [`AuditLog::new`]).
    pub fn generate_key(issuer: &str) -> Result<Secret, ServerError> {
        let (_, private) = CheckpointSigner::generate(&Self::key_name(issuer))
            .map_err(|e| ServerError::Invalid(e.to_string()))?;
        Ok(Secret::new(private))
    }

    /// A tenant chain's checkpoint origin: the key's name, then the tenant.
    fn origin(&self, tenant: &TenantId) -> String {
        format!("{}/{}", self.name(), tenant.as_str())
    }

    /// Purges every chain of what is past its retention and held by no active hold, and audits
    /// each purge in the chain it purged.
    pub(crate) async fn purge(
        &self,
        server: &AuthorizationServer,
        now: time::OffsetDateTime,
    ) -> Result<u64, crate::audit::AuditError> {
        let mut total = 0;
        for chain in self.store.chains().await? {
            let days = match self.store.retention(&chain).await? {
                Some(retention) => retention.days,
                None => self.retention.default_days,
            };
            let holds: Vec<AuditQuery> = self
                .store
                .holds(&chain, false)
                .await?
                .iter()
                .filter_map(|hold| serde_json::from_str::<FilterSpec>(&hold.filter).ok())
                .filter_map(|spec| AuditQuery::from_spec(&spec).ok())
                .collect();
            let cutoff = now - time::Duration::days(days);
            let purged = self
                .store
                .purge(
                    &chain,
                    cutoff,
                    |e| holds.iter().any(|h| h.matches(e)),
                    self.name(),
                    &self.signer,
                    now,
                )
                .await?;
            if purged.removed > 0 {
                total += purged.removed;
                let mut entry = server
                    .entry(event_type::AUDIT_PURGE, "audit.purge", Outcome::Success)
                    .resource(&format!("audit:entries up to {}", purged.cut))
                    .reason(&format!(
                        "{} entries past a retention of {days} days",
                        purged.removed
                    ));
                if let Ok(tenant) = TenantId::new(chain.as_str()) {
                    entry = entry.tenant(&tenant);
                }
                server.audit(entry).await;
            }
        }
        Ok(total)
    }

    /// Signs the grown chains and purges what is past its retention, every interval, while
    /// `server` lives.
    pub(crate) fn spawn_checkpoints(&self, server: &AuthorizationServer) {
        let log = self.clone();
        let weak = Arc::downgrade(&server.inner);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(log.every);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let now = time::OffsetDateTime::from_unix_timestamp(inner.clock.now())
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
                drop(inner);
                if let Err(error) = log
                    .store
                    .checkpoint_changed(log.name(), &log.signer, now)
                    .await
                {
                    tracing::warn!(%error, "signing audit checkpoints failed");
                }
                let Some(inner) = weak.upgrade() else { break };
                let server = AuthorizationServer { inner };
                if let Err(error) = log.purge(&server, now).await {
                    tracing::warn!(%error, "purging audit entries past their retention failed");
                }
            }
        });
    }
}

pub use crate::audit::{AUDIT_AUDIENCE, AUDIT_WRITE_SCOPE};
/// The most entries one ingest request carries.
pub const MAX_INGEST_ENTRIES: usize = 1000;
/// The largest ingest body.
pub const MAX_INGEST_BYTES: usize = 4 * 1024 * 1024;

pub(crate) fn routes() -> Router<AuthorizationServer> {
    Router::new()
        .route(
            "/audit/ingest",
            axum::routing::post(ingest)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_INGEST_BYTES)),
        )
        .route("/audit", get(query))
        .route(AUDIT_KEY_PATH, get(key))
        .route("/audit/checkpoints", get(checkpoints).post(sign_checkpoint))
        .route("/audit/export", get(export))
        .route("/audit/retention", get(get_retention).put(put_retention))
        .route("/audit/holds", get(list_holds).post(add_hold))
        .route(
            "/audit/holds/{id}/release",
            axum::routing::post(release_hold),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantQuery {
    tenant: Option<String>,
}

/// A caller allowed to read one tenant's audit log.
struct Reader {
    tenant: TenantId,
    subject: String,
    client_id: Option<String>,
}

fn log(server: &AuthorizationServer) -> Result<&AuditLog, Problem> {
    server.inner.audit_log.get().ok_or_else(|| {
        Problem::new(StatusCode::NOT_FOUND, "not found")
            .with_detail("this server does not serve an audit log")
    })
}

/// The tenant the caller may read: its own (roles `admin` or `auditor`), or the one it names
/// (`platform-admin` or `platform-auditor` in the platform tenant). Naming another tenant
/// without a platform role is 403, and audited.
async fn reader(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    named: Option<&str>,
    action: &str,
) -> Result<Reader, Problem> {
    access(server, headers, named, action, false).await
}

/// [`reader`], or with `manage` a caller that may also change the tenant's retention and holds:
/// `admin` (its own tenant) or `platform-admin` (any), not the auditor roles.
async fn access(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    named: Option<&str>,
    action: &str,
    manage: bool,
) -> Result<Reader, Problem> {
    let claims = admin_claims(server, headers).await?;
    let platform = claims.in_platform(server)
        && (claims.has(PLATFORM_ADMIN_ROLE) || (!manage && claims.has(PLATFORM_AUDITOR_ROLE)));
    let tenant_reader = claims.has(TENANT_ADMIN_ROLE) || (!manage && claims.has(AUDITOR_ROLE));
    let (own, subject, client_id) = (claims.tenant, claims.subject, claims.client_id);
    let wanted = match (named, platform) {
        (Some(named), true) => named.to_owned(),
        (None, true) => return Err(bad("a platform auditor names the tenant: ?tenant=<id>")),
        (Some(named), false) if named != own => {
            let mut entry = server
                .entry(event_type::AUDIT_READ, action, Outcome::Denied)
                .resource(&format!("tenant:{named}"))
                .reason("the caller may read only its own tenant's audit log")
                .actor(
                    &subject,
                    kind(&subject, client_id.as_deref()),
                    client_id.as_deref(),
                );
            if let Ok(own) = TenantId::new(own.as_str()) {
                entry = entry.tenant(&own);
            }
            server.audit(entry).await;
            return Err(Problem::forbidden());
        }
        _ if tenant_reader => own,
        _ => return Err(Problem::forbidden()),
    };
    let tenant = TenantId::new(wanted).map_err(|e| bad(e.to_string()))?;
    if !server
        .inner
        .store
        .tenant_exists(&tenant)
        .await
        .map_err(|_| Problem::unavailable())?
    {
        return Err(Problem::new(StatusCode::NOT_FOUND, "not found")
            .with_detail(format!("tenant {} not found", tenant.as_str())));
    }
    Ok(Reader {
        tenant,
        subject,
        client_id,
    })
}

fn kind(subject: &str, client_id: Option<&str>) -> PrincipalKind {
    if client_id == Some(subject) {
        PrincipalKind::Service
    } else {
        PrincipalKind::User
    }
}

impl Reader {
    /// Records the read in the tenant's own chain.
    async fn audited(&self, server: &AuthorizationServer, action: &str, resource: &str) {
        self.audited_for(server, action, resource, None).await;
    }

    /// [`Reader::audited`], with the caller's reason.
    async fn audited_for(
        &self,
        server: &AuthorizationServer,
        action: &str,
        resource: &str,
        reason: Option<&str>,
    ) {
        let mut entry = server
            .entry(event_type::AUDIT_READ, action, Outcome::Success)
            .tenant(&self.tenant)
            .resource(resource)
            .actor(
                &self.subject,
                kind(&self.subject, self.client_id.as_deref()),
                self.client_id.as_deref(),
            );
        if let Some(reason) = reason {
            entry = entry.reason(reason);
        }
        server.audit(entry).await;
    }
}

/// 400 with what is wrong.
fn bad(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid request").with_detail(detail)
}

fn failed(error: crate::audit::AuditError) -> Problem {
    tracing::error!(%error, "audit log failure");
    Problem::unavailable()
}

fn now(server: &AuthorizationServer) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(server.now())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

async fn key(State(server): State<AuthorizationServer>) -> Result<Response, Problem> {
    let log = log(&server)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        format!("{}\n", log.signer.verifier_key()),
    )
        .into_response())
}

async fn checkpoints(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Query(query): Query<TenantQuery>,
) -> Result<Response, Problem> {
    let log = log(&server)?;
    let reader = reader(
        &server,
        &headers,
        query.tenant.as_deref(),
        "audit.checkpoints.read",
    )
    .await?;
    let list = log
        .store
        .checkpoints(reader.tenant.as_str(), 0)
        .await
        .map_err(failed)?;
    reader
        .audited(&server, "audit.checkpoints.read", "audit:checkpoints")
        .await;
    let items: Vec<Value> = list
        .into_iter()
        .map(|(size, note)| json!({ "size": size, "note": note }))
        .collect();
    Ok(Json(json!({ "tenant": reader.tenant.as_str(), "checkpoints": items })).into_response())
}

async fn sign_checkpoint(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Query(query): Query<TenantQuery>,
) -> Result<Response, Problem> {
    let log = log(&server)?;
    let reader = reader(
        &server,
        &headers,
        query.tenant.as_deref(),
        "audit.checkpoint.sign",
    )
    .await?;
    let note = log
        .store
        .checkpoint(
            reader.tenant.as_str(),
            &log.origin(&reader.tenant),
            &log.signer,
            now(&server),
        )
        .await
        .map_err(failed)?;
    reader
        .audited(&server, "audit.checkpoint.sign", "audit:checkpoints")
        .await;
    Ok((StatusCode::CREATED, Json(json!({ "note": note }))).into_response())
}

/// `GET /audit/export`'s parameters: `unredacted=true` (with a `reason`) asks for the sealed
/// values too, which only `admin` and `platform-admin` may, and which is audited with the reason.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    tenant: Option<String>,
    #[serde(default)]
    unredacted: bool,
    reason: Option<String>,
}

async fn export(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Query(query): Query<ExportQuery>,
) -> Result<Response, Problem> {
    let log = log(&server)?;
    let (action, resource) = if query.unredacted {
        ("audit.export.unredacted", "audit:export unredacted")
    } else {
        ("audit.export", "audit:export")
    };
    let reason = match query.reason.as_deref().map(str::trim) {
        Some(reason) if !reason.is_empty() => Some(reason),
        _ if query.unredacted => {
            return Err(bad("an unredacted export needs a reason: &reason=<why>"));
        }
        _ => None,
    };
    let reader = access(
        &server,
        &headers,
        query.tenant.as_deref(),
        action,
        query.unredacted,
    )
    .await?;
    // The read is recorded first: the export then covers its own record.
    reader.audited_for(&server, action, resource, reason).await;
    server.inner.audit.flush().await;
    let lines = log
        .store
        .export(
            reader.tenant.as_str(),
            &log.origin(&reader.tenant),
            &log.signer,
            now(&server),
            query.unredacted,
        )
        .await
        .map_err(failed)?;
    let body = Body::from_stream(lines.map(|chunk| {
        chunk.map_err(|error| {
            tracing::error!(%error, "audit export failed part-way");
            std::io::Error::other("audit export failed")
        })
    }));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}
