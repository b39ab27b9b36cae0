//! Audit: the `AuditEntry` envelope, the non-blocking emitter, sinks, and the hash-chained SQL store with its verification.

#[cfg(feature = "audit-log")]
mod checkpoints;
mod emitter;
mod entry;
#[cfg(feature = "audit-log")]
mod ingest;
mod kind;
#[cfg(feature = "sql")]
mod query;
mod remote;
#[cfg(feature = "audit-log")]
mod retention;
#[cfg(feature = "sql")]
mod seal;
mod sink;
#[cfg(feature = "sql")]
mod store;

#[cfg(feature = "audit-log")]
pub use checkpoints::Purged;
pub use emitter::{AuditEmitter, EmitterConfig, QueueFull};
pub use entry::{
    Actor, AuditData, AuditEntry, DecisionInput, MAX_DECISION_CONTEXT, MAX_DECISION_ITEMS,
    MAX_FIELD_LEN, Outcome, event_type,
};
#[cfg(feature = "audit-log")]
pub use ingest::Ingested;
pub use kind::SinkKind;
#[cfg(feature = "sql")]
pub use query::AuditQuery;
pub use remote::{ControlPlaneConfig, ControlPlaneSink};
#[cfg(feature = "audit-log")]
pub use retention::{Hold, Retention};
#[cfg(feature = "sql")]
pub use seal::SealedField;

/// The audience a service's token names to ship audit entries to the control plane.
pub const AUDIT_AUDIENCE: &str = "palisade-audit";
/// The scope that grants shipping audit entries.
pub const AUDIT_WRITE_SCOPE: &str = "audit:write";
pub use sink::{AuditSink, JsonLinesSink, MemorySink};
#[cfg(feature = "sql")]
pub use store::{ChainBreak, SqlAuditStore, StoredEntry, VerifyReport};

/// A sink could not store a batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// Writing to the output failed.
    #[error("audit output: {0}")]
    Io(#[from] std::io::Error),
    /// An entry did not serialize.
    #[error("audit entry serialization: {0}")]
    Json(#[from] serde_json::Error),
    /// The database refused the batch.
    #[cfg(feature = "sql")]
    #[error("audit store: {0}")]
    Sql(#[from] sqlx::Error),
    /// A stored entry's sealed value (the field's path) does not match the opening kept beside
    /// it: the opening was changed outside the store.
    #[cfg(feature = "sql")]
    #[error("audit store: the value kept for the sealed field {0} does not match its seal")]
    Sealed(String),
    /// The `control_plane` sink was asked for without its settings (`[audit.control_plane]`).
    #[error(
        "audit sink \"control_plane\" needs audit.control_plane (url, client_id, client_secret, spool)"
    )]
    NoControlPlane,
    /// The `database` sink was asked for without a database (or without the `sql` feature).
    #[error("audit sink \"database\" needs a database URL and the runtime's sql feature")]
    NoDatabase,
    /// A checkpoint could not be signed.
    #[cfg(feature = "audit-log")]
    #[error("audit checkpoint: {0}")]
    Checkpoint(String),
    /// The control-plane sink's spool is full: the control plane has been unreachable long enough
    /// to fill it.
    #[error("audit spool full ({bytes} bytes unsent): {entries} entries refused")]
    SpoolFull {
        /// Entries of the refused batch.
        entries: u64,
        /// The spool's bound.
        bytes: u64,
    },
    /// A lock was poisoned by a panicking writer.
    #[error("audit sink lock poisoned")]
    Poisoned,
}
