//! Audit: the `AuditEntry` envelope, the non-blocking emitter, sinks, and the hash-chained SQL store with its verification.

mod emitter;
mod entry;
mod sink;
#[cfg(feature = "sql")]
mod store;

pub use emitter::{AuditEmitter, EmitterConfig, QueueFull};
pub use entry::{Actor, AuditData, AuditEntry, MAX_FIELD_LEN, Outcome, event_type};
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
    /// A lock was poisoned by a panicking writer.
    #[error("audit sink lock poisoned")]
    Poisoned,
}
