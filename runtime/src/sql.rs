//! One way to open a sqlx `Any` pool for SQLite or PostgreSQL: WAL mode, a busy timeout and a 32 MiB page cache on SQLite, exactly one connection to an in-memory database.

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// Connects to `url` (`sqlite://path?mode=rwc`, `sqlite::memory:`, `postgres://...`); the flag
/// tells whether it is PostgreSQL.
pub(crate) async fn connect(url: &str) -> Result<(AnyPool, bool), sqlx::Error> {
    sqlx::any::install_default_drivers();
    let postgres = url.starts_with("postgres");
    let mut options = AnyPoolOptions::new().after_connect(|conn, _meta| {
        Box::pin(async move {
            if conn.backend_name() == "SQLite" {
                sqlx::raw_sql(
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; PRAGMA cache_size=-32768;",
                )
                .execute(&mut *conn)
                .await?;
            }
            Ok(())
        })
    });
    if url.contains(":memory:") || url.contains("mode=memory") {
        // Each connection to an in-memory SQLite database is a new database: keep exactly one.
        options = options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
    }
    Ok((options.connect(url).await?, postgres))
}
