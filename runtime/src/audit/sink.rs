//! Audit sinks: the trait, JSON lines to a writer (stdout by default), and an in-memory sink for tests.

use std::io::Write;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use super::{AuditEntry, AuditError};

/// Where batches of audit entries are written. A sink either stores a whole batch or returns an error.
pub trait AuditSink: Send + Sync + 'static {
    /// Writes one batch, in order.
    fn write<'a>(&'a self, batch: &'a [AuditEntry]) -> BoxFuture<'a, Result<(), AuditError>>;
}

/// Writes each entry as one JSON line, flushing after every batch.
pub struct JsonLinesSink<W> {
    out: Mutex<W>,
}

impl JsonLinesSink<std::io::Stdout> {
    /// JSON lines on standard output, for log collectors.
    pub fn stdout() -> Self {
        Self::new(std::io::stdout())
    }
}

impl<W: Write + Send + 'static> JsonLinesSink<W> {
    /// JSON lines on any writer.
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }
}

impl<W: Write + Send + 'static> AuditSink for JsonLinesSink<W> {
    fn write<'a>(&'a self, batch: &'a [AuditEntry]) -> BoxFuture<'a, Result<(), AuditError>> {
        Box::pin(async move {
            let mut buf = Vec::with_capacity(batch.len() * 512);
            for entry in batch {
                serde_json::to_writer(&mut buf, entry)?;
                buf.push(b'\n');
            }
            let mut out = self.out.lock().map_err(|_| AuditError::Poisoned)?;
            out.write_all(&buf)?;
            out.flush()?;
            Ok(())
        })
    }
}

/// Keeps entries in memory: for tests that assert what was audited.
#[derive(Clone, Default)]
pub struct MemorySink {
    entries: Arc<Mutex<Vec<AuditEntry>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far.
    pub fn entries(&self) -> Vec<AuditEntry> {
        self.entries
            .lock()
            .expect("memory sink lock poisoned")
            .clone()
    }
}

impl AuditSink for MemorySink {
    fn write<'a>(&'a self, batch: &'a [AuditEntry]) -> BoxFuture<'a, Result<(), AuditError>> {
        Box::pin(async move {
            self.entries
                .lock()
                .map_err(|_| AuditError::Poisoned)?
                .extend_from_slice(batch);
            Ok(())
        })
    }
}
