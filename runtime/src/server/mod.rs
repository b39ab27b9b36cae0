//! The authorization server (feature `server`): OAuth 2.0 / OpenID Connect routers an application mounts, over SQLite or PostgreSQL, with server-generated signing keys, service identities and API tokens.
//!
//! Endpoints: discovery (RFC 8414 / OIDC), JWKS, `/token` (client credentials, authorization code
//! with PKCE S256, refresh with rotation and reuse detection), `/authorize` with a server-rendered
//! login form, `/introspect` (RFC 7662), `/revoke` (RFC 7009), `/userinfo` and `/end_session`.
//! Access tokens follow RFC 9068 (`typ: at+jwt`) and carry `tenant_id` and `roles`.

pub mod admin;
pub mod audit_api;
mod authorize;
mod browser;
mod client_auth;
mod client_spec;
mod endpoints;
mod error;
pub mod identity;
pub mod keys;
mod logout;
pub mod policy_api;
pub mod store;
mod token;
#[cfg(test)]
mod verifier_tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::audit::{AuditEmitter, AuditEntry, Outcome};
pub use audit_api::AuditLog;
pub use authorize::{MAX_NONCE, MAX_STATE};
pub use client_auth::{MAX_PARAM_BYTES, MAX_PARAMS};
pub use error::OAuthError;
pub use identity::{
    ApiTokenInfo, ApiTokenSpec, ClientSpec, CreatedApiToken, CreatedClient, DEVELOPMENT_CLIENT_ID,
    DevelopmentToken, Identities, NewUser,
};
pub use keys::{KeyAlgorithm, KeyEncryptionKey, KeyRing, KeyState};
pub use policy_api::{
    BundleFile, POLICY_KEY_PATH, PolicyAdmin, PolicyError, PolicyMode, PolicyService, PolicySet,
};
pub use store::{GrantType, Store, StoreError};

/// Prefix of client secrets (so secret scanners recognise them).
pub const CLIENT_SECRET_PREFIX: &str = "plsd_cs_";
/// Prefix of API tokens.
pub const API_TOKEN_PREFIX: &str = "plsd_at_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "plsd_rt_";
/// Prefix of authorization codes.
pub const CODE_PREFIX: &str = "plsd_ac_";

/// The largest request body any endpoint accepts (64 KiB); larger ones get 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The server's settings. Lifetimes are in seconds.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The issuer URL (exact `iss`); endpoints live under it.
    pub issuer: String,
    /// Access token lifetime (default 600).
    pub access_token_ttl: i64,
    /// ID token lifetime (default 600).
    pub id_token_ttl: i64,
    /// Refresh token lifetime (default 30 days); each use rotates it.
    pub refresh_token_ttl: i64,
    /// A grant's absolute lifetime from sign-in (default 90 days): no refresh token outlives it,
    /// however often it is rotated; then the user signs in again.
    pub grant_ttl: i64,
    /// Authorization code lifetime (default 60).
    pub code_ttl: i64,
    /// How long a login form stays valid (default 600).
    pub login_ttl: i64,
    /// Browser session lifetime after a login (default 8 hours).
    pub session_ttl: i64,
    /// The longest lifetime an API token may be given (default 365 days).
    pub api_token_max_ttl: i64,
    /// The algorithm of new signing keys.
    pub key_algorithm: KeyAlgorithm,
    /// Failed client authentications (per client id) or logins (per user name) allowed per minute
    /// before 429 (default 10).
    pub failure_limit: u32,
    /// Development only: an `http://` issuer and cookies without `Secure`.
    pub allow_insecure_http: bool,
    /// The tenant whose `platform-admin` role may manage every tenant through the admin API
    /// (default none: the admin API manages single tenants only).
    pub platform_tenant: Option<String>,
    /// Browser origins (`https://app.example.com`, exactly) allowed to call the token, revocation,
    /// userinfo, discovery and JWKS endpoints from script: public clients in a browser. Default
    /// none: CORS is off.
    pub cors_allowed_origins: Vec<String>,
}

impl ServerConfig {
    /// Strict defaults for `issuer`.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            access_token_ttl: 600,
            id_token_ttl: 600,
            refresh_token_ttl: 30 * 24 * 3600,
            grant_ttl: 90 * 24 * 3600,
            code_ttl: 60,
            login_ttl: 600,
            session_ttl: 8 * 3600,
            api_token_max_ttl: 365 * 24 * 3600,
            key_algorithm: KeyAlgorithm::Es256,
            failure_limit: 10,
            allow_insecure_http: false,
            platform_tenant: None,
            cors_allowed_origins: Vec::new(),
        }
    }

    /// The longest any token or code lives: retired keys stay published this long.
    fn longest_token_ttl(&self) -> i64 {
        self.access_token_ttl
            .max(self.id_token_ttl)
            .max(self.code_ttl)
    }

    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

/// The server could not start or a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The issuer is not an https URL (and plain HTTP was not allowed).
    #[error("issuer {0:?} must be an https:// URL without query or fragment")]
    Issuer(String),
    /// The key-encryption key is not 32 bytes of base64.
    #[error("the key-encryption key must be 32 bytes in standard base64")]
    KeyEncryptionKey,
    /// A stored signing key does not open under the key-encryption key (wrong key, or tampered).
    #[error("signing key {0} cannot be unsealed with the configured key-encryption key")]
    SealedKey(String),
    /// Key generation failed.
    #[error("signing key generation failed")]
    KeyGeneration,
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// An administrative request was invalid.
    #[error("{0}")]
    Invalid(String),
    /// The named tenant, user, client or token does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A password could not be hashed.
    #[error("password hashing failed")]
    PasswordHash,
}

/// Where the server reads the time: the system clock, or a test's.
pub trait Clock: Send + Sync + 'static {
    /// Unix seconds now.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A token whose signature verified: the signing key's id and the claims.
pub(crate) type VerifiedToken = (String, serde_json::Map<String, serde_json::Value>);

/// The authorization server: cheap to clone, one per process.
#[derive(Clone)]
pub struct AuthorizationServer {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: ServerConfig,
    pub(crate) store: Store,
    pub(crate) keys: KeyRing,
    pub(crate) audit: AuditEmitter,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) failures: moka::sync::Cache<String, Arc<std::sync::atomic::AtomicU32>>,
    /// Clients as last read, for one second: a change made on another replica (a disabled
    /// client, a rotated secret) applies there within that second; on this replica at once.
    pub(crate) clients: moka::sync::Cache<String, Option<Arc<identity::Client>>>,
    /// The signing key and claims of tokens whose signature verified, by SHA-256 of the token. A
    /// signature's validity never changes; the key still being published, expiry and revocation
    /// are checked on every use.
    pub(crate) verified: moka::sync::Cache<[u8; 32], Arc<VerifiedToken>>,
    /// Bounds concurrent argon2 verifications (each holds 19 MiB and a core).
    pub(crate) password_checks: tokio::sync::Semaphore,
    /// Bounds the verifications against the fixed hash that unknown user names get.
    pub(crate) unknown_user_checks: tokio::sync::Semaphore,
    /// The audit log served under `/audit`, once configured.
    pub(crate) audit_log: std::sync::OnceLock<AuditLog>,
    /// The policy service served under `/policies`, once configured.
    pub(crate) policies: std::sync::OnceLock<PolicyService>,
}

impl std::fmt::Debug for AuthorizationServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("issuer", &self.inner.config.issuer)
            .finish_non_exhaustive()
    }
}

impl AuthorizationServer {
    /// Opens the server over `store`: checks the issuer, loads (or on first start creates) the
    /// signing keys sealed under `kek`.
    pub async fn open(
        config: ServerConfig,
        store: Store,
        kek: KeyEncryptionKey,
        audit: AuditEmitter,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ServerError> {
        let url = url::Url::parse(&config.issuer)
            .map_err(|_| ServerError::Issuer(config.issuer.clone()))?;
        let scheme_ok =
            url.scheme() == "https" || (config.allow_insecure_http && url.scheme() == "http");
        if !scheme_ok || url.query().is_some() || url.fragment().is_some() {
            return Err(ServerError::Issuer(config.issuer.clone()));
        }
        for origin in &config.cors_allowed_origins {
            check_origin(origin, config.allow_insecure_http)?;
        }
        let now = clock.now();
        let keys = KeyRing::open(
            store.clone(),
            kek,
            config.key_algorithm,
            // Beyond the last token's expiry: replicas reload keys every 30 s, and relying
            // parties allow clock skew.
            config.longest_token_ttl() + 90,
            now,
        )
        .await?;
        // Keys and cached clients come from requests (bounded at 8 KiB a parameter), so the
        // caches are bounded by bytes, not by entries.
        let failures = moka::sync::Cache::builder()
            .weigher(|key: &String, _| u32::try_from(key.len() + 64).unwrap_or(u32::MAX))
            .max_capacity(16 * 1024 * 1024)
            .time_to_live(Duration::from_secs(60))
            .build();
        let clients = moka::sync::Cache::builder()
            .weigher(|key: &String, _| u32::try_from(key.len() + 2048).unwrap_or(u32::MAX))
            .max_capacity(32 * 1024 * 1024)
            .time_to_live(Duration::from_secs(1))
            .build();
        let verified = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(Duration::from_secs(
                u64::try_from(config.access_token_ttl).unwrap_or(600).max(1),
            ))
            .build();
        let server = Self {
            inner: Arc::new(Inner {
                config,
                store,
                keys,
                audit,
                clock,
                failures,
                clients,
                verified,
                password_checks: tokio::sync::Semaphore::new(2),
                unknown_user_checks: tokio::sync::Semaphore::new(1),
                audit_log: std::sync::OnceLock::new(),
                policies: std::sync::OnceLock::new(),
            }),
        };
        server.spawn_purge();
        Ok(server)
    }

    /// Every ten minutes, expired codes, sessions, login forms, refresh tokens and revocation rows
    /// are deleted; the task ends with the server.
    fn spawn_purge(&self) {
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(600));
            loop {
                every.tick().await;
                let Some(inner) = inner.upgrade() else { break };
                if let Err(error) = inner.store.purge_expired(inner.clock.now()).await {
                    tracing::warn!(%error, "purging expired authorization state failed");
                }
            }
        });
    }

    /// Every endpoint, at the paths the discovery document names.
    pub fn router(&self) -> Router {
        // What a browser application (a public client) calls from script: open to the
        // configured origins only, exactly as written, and to none by default.
        let browser_facing = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(endpoints::discovery),
            )
            .route(
                "/.well-known/oauth-authorization-server",
                get(endpoints::discovery),
            )
            .route("/jwks", get(endpoints::jwks))
            .route("/token", post(token::token))
            .route("/revoke", post(endpoints::revoke))
            .route(
                "/userinfo",
                get(endpoints::userinfo).post(endpoints::userinfo),
            );
        let browser_facing = match self.cors() {
            Some(cors) => browser_facing.layer(cors),
            None => browser_facing,
        };
        Router::new()
            .route("/healthz", get(endpoints::healthz))
            .route("/readyz", get(endpoints::readyz))
            .merge(browser_facing)
            .route(
                "/authorize",
                get(authorize::authorize).post(authorize::authorize_post),
            )
            .route("/authorize/login", post(authorize::login))
            .route("/introspect", post(endpoints::introspect))
            .route(
                "/end_session",
                get(logout::end_session).post(logout::confirm),
            )
            .merge(admin::routes())
            .merge(audit_api::routes())
            .merge(policy_api::routes())
            // Every legitimate request body is a small form or JSON document.
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(self.clone())
    }

    /// CORS for the browser-facing endpoints, when origins are configured.
    fn cors(&self) -> Option<tower_http::cors::CorsLayer> {
        let origins: Vec<axum::http::HeaderValue> = self
            .inner
            .config
            .cors_allowed_origins
            .iter()
            .filter_map(|o| axum::http::HeaderValue::from_str(o).ok())
            .collect();
        (!origins.is_empty()).then(|| {
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::CONTENT_TYPE,
                ])
                .max_age(Duration::from_secs(600))
        })
    }

    /// Serves `log` under `/audit` (and its key at `/.well-known/palisade-audit-key`): the store
    /// this server's own audit entries go to; every chain that grew is checkpointed on the log's
    /// interval. Without it those paths answer 404. Set once; a second call is refused.
    pub fn serve_audit_log(&self, log: AuditLog) -> Result<(), ServerError> {
        self.inner
            .audit_log
            .set(log)
            .map_err(|_| ServerError::Invalid("the audit log is already configured".to_owned()))?;
        if let Some(log) = self.inner.audit_log.get() {
            log.spawn_checkpoints(self);
        }
        Ok(())
    }

    /// Serves the policy service under `/policies` (and its verifying key at
    /// [`POLICY_KEY_PATH`]): services' schemas and policy sets, and their signed bundles. Without
    /// it those paths answer 404. Set once; a second call is refused.
    pub fn serve_policies(&self, service: PolicyService) -> Result<(), ServerError> {
        self.inner.policies.set(service).map_err(|_| {
            ServerError::Invalid("the policy service is already configured".to_owned())
        })
    }

    /// Ready to serve: the store answers and a signing key is active.
    pub async fn ready(&self) -> Result<(), ServerError> {
        self.inner.store.ping().await?;
        if self
            .inner
            .keys
            .current(self.now())
            .await?
            .active()
            .is_none()
        {
            return Err(ServerError::NotFound("an active signing key".into()));
        }
        Ok(())
    }

    /// Tenants, users, clients and API tokens.
    pub fn identities(&self) -> Identities {
        Identities::new(self.clone())
    }

    /// The signing keys.
    pub fn keys(&self) -> &KeyRing {
        &self.inner.keys
    }

    /// Rotates the signing keys and audits it, naming the local operating-system user and host
    /// as the actor; the admin API rotates through [`Identities::rotate_keys`] with its caller.
    pub async fn rotate_keys(&self) -> Result<(), ServerError> {
        self.identities()
            .acting_as_local_operator()
            .rotate_keys()
            .await
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.clock.now()
    }

    pub(crate) fn entry(&self, event_type: &str, action: &str, outcome: Outcome) -> AuditEntry {
        self.inner.audit.entry(event_type, action, outcome)
    }

    pub(crate) async fn audit(&self, entry: AuditEntry) {
        self.inner.audit.emit(entry).await;
    }

    /// Counts a failure under `key`; true when the key is over the limit (before this one counts).
    pub(crate) fn over_limit(&self, key: &str) -> bool {
        self.inner.failures.get(key).is_some_and(|n| {
            n.load(std::sync::atomic::Ordering::Relaxed) >= self.inner.config.failure_limit
        })
    }

    pub(crate) fn count_failure(&self, key: &str) {
        self.inner
            .failures
            .get_with(key.to_owned(), || {
                Arc::new(std::sync::atomic::AtomicU32::new(0))
            })
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A CORS origin is exactly `scheme://host[:port]`: https (http only when plain HTTP is allowed
/// for development), no path, no wildcard.
fn check_origin(origin: &str, allow_http: bool) -> Result<(), ServerError> {
    let invalid = || {
        ServerError::Invalid(format!(
            "CORS origin {origin:?} must be exactly https://host[:port] (no path, no wildcard)"
        ))
    };
    let url = url::Url::parse(origin).map_err(|_| invalid())?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    let exact = url.origin().ascii_serialization() == origin;
    if !scheme_ok || !exact || origin.contains('*') {
        return Err(invalid());
    }
    Ok(())
}

/// `bytes` random bytes from the system generator, base64url without padding.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("the system random generator works");
    URL_SAFE_NO_PAD.encode(buf)
}

/// A new secret: `prefix` and 256 random bits.
pub(crate) fn new_secret(prefix: &str) -> String {
    format!("{prefix}{}", random_token(32))
}

/// SHA-256, hex: how server-generated secrets are stored and looked up. They carry 256 random
/// bits, so no attacker can search them, and a slow hash would add nothing but latency.
pub(crate) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
