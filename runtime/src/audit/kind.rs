//! Which sink a configuration names (`stdout` or `database`), and opening it: the one piece of audit wiring every generated product would otherwise write itself.

use std::sync::Arc;

use serde::Deserialize;

use super::{AuditError, AuditSink, JsonLinesSink};

/// An audit sink named in configuration: `"stdout"` (JSON lines) or `"database"` (the
/// hash-chained SQL store in the product's database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SinkKind {
    /// One JSON line per entry on standard output, for a log collector.
    Stdout,
    /// The hash-chained SQL store (feature `sql`), tamper-evident and verifiable.
    Database,
}

impl SinkKind {
    /// Opens the sink; `database` is the connection URL the `database` sink writes to.
    pub async fn open(self, database: Option<&str>) -> Result<Arc<dyn AuditSink>, AuditError> {
        match self {
            Self::Stdout => Ok(Arc::new(JsonLinesSink::stdout())),
            #[cfg(feature = "sql")]
            Self::Database => {
                let url = database.ok_or(AuditError::NoDatabase)?;
                Ok(Arc::new(super::SqlAuditStore::connect(url).await?))
            }
            #[cfg(not(feature = "sql"))]
            Self::Database => {
                let _ = database;
                Err(AuditError::NoDatabase)
            }
        }
    }
}
