//! The authorization server's versioned migrations: a database from before them is adopted as it is, and a database migrated by a newer runtime is refused by name.

use palisade_runtime::server::{Store, StoreError};

use crate::support::report;

fn sqlite_file() -> String {
    let dir = std::env::temp_dir().join(format!("palisade-migrations-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}?mode=rwc", dir.join("auth.db").display())
}

/// The tables as control-plane 0.1.0 created them (`CREATE TABLE IF NOT EXISTS`, no migration
/// table), with a client in them.
const BEFORE_MIGRATIONS: &str = "
CREATE TABLE palisade_clients (
    client_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL, secret_hash TEXT,
    jwks TEXT, grant_types TEXT NOT NULL, scopes TEXT NOT NULL, roles TEXT NOT NULL,
    audiences TEXT NOT NULL, redirect_uris TEXT NOT NULL, post_logout_redirect_uris TEXT NOT NULL,
    disabled BIGINT NOT NULL, created_at BIGINT NOT NULL
);
INSERT INTO palisade_clients VALUES ('acme-1', 'acme', 'old', NULL, NULL, '[\"client_credentials\"]',
    '[]', '[]', '[\"api\"]', '[]', '[]', 0, 1);
";

#[tokio::test]
async fn a_database_from_before_versioned_migrations_is_adopted() {
    let url = sqlite_file();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::raw_sql(BEFORE_MIGRATIONS)
        .execute(&pool)
        .await
        .unwrap();
    Store::connect(&url).await.unwrap();
    let (name, may_introspect): (String, i64) = sqlx::query_as(
        "SELECT name, may_introspect FROM palisade_clients WHERE client_id = 'acme-1'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (name.as_str(), may_introspect),
        ("old", 0),
        "the row is kept, the new column defaulted"
    );
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM palisade_server_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(applied, [1, 2, 3]);
    // Opening again applies nothing and changes nothing.
    Store::connect(&url).await.unwrap();
    report("a 0.1.0 database adopted by versioned migrations 1 to 3");
}

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused() {
    let url = sqlite_file();
    Store::connect(&url).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO palisade_server_migrations (version, description, installed_on, success, checksum, execution_time) VALUES (99, 'from the future', CURRENT_TIMESTAMP, 1, X'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let error = Store::connect(&url).await.unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(
            error,
            palisade_runtime::server::ServerError::Store(StoreError::NewerDatabase { version: 99 })
        ),
        "{text}"
    );
    assert!(
        text.contains("migration 99") && text.contains("newer"),
        "{text}"
    );
}
