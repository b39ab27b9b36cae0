//! The authorization server's persistence: every SQL statement the server runs, as typed functions over SQLite or PostgreSQL (sqlx `Any`). Handlers call these; nothing else in the server names a table.
//!
//! Invariant: this module knows rows, not OAuth. It never decides whether a token is valid, a
//! client may do something or a user is allowed in; it reads and writes what it is told, and
//! turns stored text into typed values (`TenantId`, `GrantType`, `KeyState`) on the way out.

mod grants;
mod identities;
mod keys;
mod policies;

use std::fmt;
use std::str::FromStr;

use sqlx::AnyPool;
use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};

pub(crate) use grants::{CodeRow, FamilyRow, LoginRequestRow, SessionRow};
pub(crate) use identities::{ClientRow, NewApiToken, UserRow};
pub(crate) use keys::NewKey;
pub(crate) use policies::{NewPolicySet, PolicySetRow, ServicePolicies};

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A row with the same key exists (a unique constraint held).
    #[error("a row with the same key already exists")]
    Duplicate,
    /// The schema could not be brought up to date.
    #[error("migrating the authorization server's tables: {0}")]
    Migrate(#[source] MigrateError),
    /// The database was migrated by a newer palisade-runtime than this one: refusing to run an
    /// older binary over a schema it does not know.
    #[error(
        "the database holds authorization-server migration {version}, which this palisade-runtime does not know: it was migrated by a newer version"
    )]
    NewerDatabase {
        /// The unknown migration.
        version: i64,
    },
    /// A stored value does not parse as what its column holds (written by something else).
    #[error("column {column} holds {value:?}, which is not valid")]
    Corrupt {
        /// The table and column.
        column: &'static str,
        /// What it holds.
        value: String,
    },
}

/// The grants a client may be given: exactly these, stored by their RFC 6749 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// `client_credentials`: a service's own tokens.
    ClientCredentials,
    /// `authorization_code`: a user's sign-in, with PKCE.
    AuthorizationCode,
    /// `refresh_token`: rotated on every use.
    RefreshToken,
}

impl GrantType {
    /// Every grant on offer.
    pub const ALL: [Self; 3] = [
        Self::ClientCredentials,
        Self::AuthorizationCode,
        Self::RefreshToken,
    ];

    /// The RFC 6749 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        Self::ALL
            .into_iter()
            .find(|g| g.as_str() == value)
            .ok_or(())
    }
}

/// The connection pool and which database it is.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    postgres: bool,
}

impl Store {
    /// Connects (`sqlite://path?mode=rwc`, `sqlite::memory:`, `postgres://...`) and creates the
    /// tables. SQLite runs in WAL mode; an in-memory database keeps exactly one connection.
    pub async fn connect(url: &str) -> Result<Self, super::ServerError> {
        Ok(Self::open(url).await?)
    }

    async fn open(url: &str) -> Result<Self, StoreError> {
        let (pool, postgres) = crate::sql::connect(url).await?;
        // sqlx's migrator takes a database lock on PostgreSQL, so replicas starting together
        // apply each migration once.
        migrator().run(&pool).await.map_err(|e| match e {
            MigrateError::VersionMissing(version) => StoreError::NewerDatabase { version },
            other => StoreError::Migrate(other),
        })?;
        Ok(Self { pool, postgres })
    }

    /// Whether the database answers.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes expired login requests, codes, sessions and refresh tokens, revocation rows of
    /// access tokens that have expired anyway, and grants with nothing left. Returns how many
    /// rows went.
    pub async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        for statement in [
            "DELETE FROM palisade_login_requests WHERE expires_at < $1",
            "DELETE FROM palisade_codes WHERE expires_at < $1",
            "DELETE FROM palisade_sessions WHERE expires_at < $1",
            "DELETE FROM palisade_refresh_tokens WHERE expires_at < $1",
            "DELETE FROM palisade_access_tokens WHERE expires_at < $1",
            "DELETE FROM palisade_assertion_ids WHERE expires_at < $1",
            "DELETE FROM palisade_login_attempts WHERE window_start < $1 - 3600",
            // A grant with no code, refresh token or access-token row left is over; only grants
            // started before now, so one being created cannot go.
            "DELETE FROM palisade_families WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM palisade_codes c WHERE c.family_id = palisade_families.id) AND NOT EXISTS (SELECT 1 FROM palisade_refresh_tokens r WHERE r.family_id = palisade_families.id) AND NOT EXISTS (SELECT 1 FROM palisade_access_tokens a WHERE a.family_id = palisade_families.id)",
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

/// The server's versioned migrations, embedded. Released migrations never change (sqlx checks
/// their checksums); a schema change is a new file. They keep their own table, so an audit store
/// or the application sharing the database keeps its own migrations apart.
fn migrator() -> Migrator {
    let migration = |version, description: &'static str, sql: &'static str| {
        Migration::new(
            version,
            description.into(),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        )
    };
    let mut migrator = Migrator::with_migrations(vec![
        migration(1, "initial", include_str!("migrations/0001_initial.sql")),
        migration(
            2,
            "hardening",
            include_str!("migrations/0002_hardening.sql"),
        ),
        migration(3, "policies", include_str!("migrations/0003_policies.sql")),
    ]);
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
}

/// Where the server's applied migrations are recorded.
pub const MIGRATIONS_TABLE: &str = "palisade_server_migrations";

/// A JSON array of strings stored as TEXT.
fn to_list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    serde_json::to_string(&items).expect("strings serialize")
}

/// Reads a JSON array of strings; a malformed value reads as empty (it grants nothing).
fn from_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// A unique-constraint violation becomes `Duplicate`; anything else stays a database error.
fn duplicate(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Duplicate,
        other => StoreError::Database(other),
    }
}

/// A stored tenant id, checked on the way out.
fn tenant(column: &'static str, value: String) -> Result<crate::principal::TenantId, StoreError> {
    crate::principal::TenantId::new(value.clone())
        .map_err(|_| StoreError::Corrupt { column, value })
}
