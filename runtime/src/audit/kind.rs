//! Which sink a configuration names (`stdout`, `database` or `control_plane`), and opening it: the one piece of audit wiring every generated product would otherwise write itself.

use std::sync::Arc;

use serde::Deserialize;

use super::{AuditError, AuditSink, JsonLinesSink};

/// An audit sink named in configuration: `"stdout"` (JSON lines), `"database"` (the
/// hash-chained SQL store in the product's database) or `"control_plane"` (shipped to the control
/// plane's audit log through a local spool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SinkKind {
    /// One JSON line per entry on standard output, for a log collector.
    Stdout,
    /// The hash-chained SQL store (feature `sql`), tamper-evident and verifiable.
    Database,
    /// Shipped to the control plane (`ControlPlaneSink`): needs its settings, see
    /// [`SinkKind::open_with`].
    ControlPlane,
}

impl SinkKind {
    /// Opens the sink; `database` is the connection URL the `database` sink writes to. The
    /// `control_plane` sink needs [`SinkKind::open_with`].
    pub async fn open(self, database: Option<&str>) -> Result<Arc<dyn AuditSink>, AuditError> {
        self.open_with(database, None).await
    }

    /// Opens the sink with the control plane's settings for `control_plane`.
    pub async fn open_with(
        self,
        database: Option<&str>,
        control_plane: Option<super::ControlPlaneConfig>,
    ) -> Result<Arc<dyn AuditSink>, AuditError> {
        match self {
            Self::ControlPlane => {
                let config = control_plane.ok_or(AuditError::NoControlPlane)?;
                Ok(Arc::new(super::ControlPlaneSink::start(config)?))
            }
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
