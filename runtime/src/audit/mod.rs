//! Audit: the `AuditEntry` envelope, the non-blocking emitter, sinks, and the hash-chained SQL store with its verification.

#[cfg(feature = "audit-checkpoints")]
mod checkpoints;
mod emitter;
mod entry;
mod kind;
mod sink;
#[cfg(feature = "sql")]
mod store;

pub use emitter::{AuditEmitter, EmitterConfig, QueueFull};
pub use entry::{Actor, AuditData, AuditEntry, MAX_FIELD_LEN, Outcome, event_type};
pub use kind::SinkKind;
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
    /// The `database` sink was asked for without a database (or without the `sql` feature).
    #[error("audit sink \"database\" needs a database URL and the runtime's sql feature")]
    NoDatabase,
    /// A checkpoint could not be signed.
    #[cfg(feature = "audit-checkpoints")]
    #[error("audit checkpoint: {0}")]
    Checkpoint(String),
    /// A lock was poisoned by a panicking writer.
    #[error("audit sink lock poisoned")]
    Poisoned,
}
