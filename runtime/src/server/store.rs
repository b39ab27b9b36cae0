//! The authorization server's tables in SQLite or PostgreSQL (sqlx `Any`): tenants, users, clients, API tokens, signing keys, login requests, codes, grant families, refresh tokens, revoked access tokens and sessions.

use sqlx::AnyPool;
use sqlx::Row;

use super::ServerError;

/// Every table, created on first start. Times are Unix seconds; lists are JSON arrays in TEXT.
const MIGRATION: &str = "
CREATE TABLE IF NOT EXISTS palisade_tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS palisade_users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    disabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, username)
);
CREATE TABLE IF NOT EXISTS palisade_clients (
    client_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT,
    jwks TEXT,
    grant_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    roles TEXT NOT NULL,
    audiences TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    disabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS palisade_api_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    scopes TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE IF NOT EXISTS palisade_signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    private_key TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at BIGINT
);
CREATE TABLE IF NOT EXISTS palisade_login_requests (
    id TEXT PRIMARY KEY,
    csrf_hash TEXT NOT NULL,
    request TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS palisade_families (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE IF NOT EXISTS palisade_codes (
    code_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE TABLE IF NOT EXISTS palisade_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE TABLE IF NOT EXISTS palisade_access_tokens (
    jti TEXT PRIMARY KEY,
    family_id TEXT,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE IF NOT EXISTS palisade_assertion_ids (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS palisade_sessions (
    id_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
";

/// The connection pool and which database it is.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) postgres: bool,
}

impl Store {
    /// Connects (`sqlite://path?mode=rwc`, `sqlite::memory:`, `postgres://...`) and creates the
    /// tables. SQLite runs in WAL mode; an in-memory database keeps exactly one connection.
    pub async fn connect(url: &str) -> Result<Self, ServerError> {
        let (pool, postgres) = crate::sql::connect(url).await?;
        if postgres {
            // Replicas starting together must not race on CREATE TABLE.
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(727274)")
                .execute(&mut *tx)
                .await?;
            sqlx::raw_sql(MIGRATION).execute(&mut *tx).await?;
            tx.commit().await?;
        } else {
            sqlx::raw_sql(MIGRATION).execute(&pool).await?;
        }
        Ok(Self { pool, postgres })
    }

    /// Deletes expired login requests, codes, sessions and refresh tokens, and revocation rows of
    /// access tokens that have expired anyway. Returns how many rows went.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, ServerError> {
        let mut removed = 0;
        for statement in [
            "DELETE FROM palisade_login_requests WHERE expires_at < $1",
            "DELETE FROM palisade_codes WHERE expires_at < $1",
            "DELETE FROM palisade_sessions WHERE expires_at < $1",
            "DELETE FROM palisade_refresh_tokens WHERE expires_at < $1",
            "DELETE FROM palisade_access_tokens WHERE expires_at < $1",
            "DELETE FROM palisade_assertion_ids WHERE expires_at < $1",
        ] {
            removed += sqlx::query(statement)
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }
}

/// A JSON array of strings stored as TEXT.
pub(crate) fn to_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings serialize")
}

/// Reads a JSON array of strings; a malformed value reads as empty (it grants nothing).
pub(crate) fn from_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// A column as text, `None` for NULL.
pub(crate) fn opt_text(
    row: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<String>, sqlx::Error> {
    row.try_get::<Option<String>, _>(column)
}
