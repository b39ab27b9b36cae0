//! The audit emitter: a bounded queue in front of a batching writer task that never drops an entry silently.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{AuditEntry, AuditSink, Outcome};

/// How the emitter queues and writes.
#[derive(Clone, Copy, Debug)]
pub struct EmitterConfig {
    /// Entries held in memory before [`AuditEmitter::emit`] waits (back-pressure).
    pub capacity: usize,
    /// Most entries handed to the sink at once.
    pub batch_size: usize,
    /// How long a failed batch waits before it is retried.
    pub retry_delay: Duration,
    /// How often a batch is retried before it is counted as lost (and reported).
    pub max_retries: u32,
    /// How long the writer lets entries gather after a batch smaller than `batch_size` before
    /// it looks again (default 2 ms): emitting then only queues an entry, instead of waking the
    /// writer for each one. A flush is answered after at most this delay; zero writes at once.
    pub linger: Duration,
}

impl Default for EmitterConfig {
    fn default() -> Self {
        Self {
            capacity: 8192,
            batch_size: 512,
            retry_delay: Duration::from_millis(200),
            max_retries: 10,
            linger: Duration::from_millis(2),
        }
    }
}

enum Message {
    Entry(Box<AuditEntry>),
    Flush(oneshot::Sender<()>),
}

/// A cheap, cloneable handle that queues entries for the writer task.
///
/// [`emit`](Self::emit) applies back-pressure when the queue is full; [`try_emit`](Self::try_emit)
/// never waits and counts what it could not queue. Both losses (a full queue under `try_emit`, a
/// batch the sink refused after every retry) are counted in [`lost`](Self::lost) and logged at
/// error level: nothing is dropped silently.
#[derive(Clone)]
pub struct AuditEmitter {
    tx: mpsc::Sender<Message>,
    source: Arc<str>,
    lost: Arc<AtomicU64>,
}

/// An entry could not be queued without waiting; it was counted as lost.
#[derive(Debug, thiserror::Error)]
#[error("audit queue is full; the entry was counted as lost")]
pub struct QueueFull;

impl AuditEmitter {
    /// Starts the writer task on the current tokio runtime and returns its handle.
    /// `source` is the CloudEvents `source` of every entry built with [`entry`](Self::entry).
    pub fn spawn(source: &str, sink: Arc<dyn AuditSink>, config: EmitterConfig) -> Self {
        let (tx, rx) = mpsc::channel(config.capacity.max(1));
        let lost = Arc::new(AtomicU64::new(0));
        tokio::spawn(run_writer(rx, sink, config, lost.clone()));
        Self {
            tx,
            source: Arc::from(source),
            lost,
        }
    }

    /// A new entry with this emitter's source.
    pub fn entry(&self, event_type: &str, action: &str, outcome: Outcome) -> AuditEntry {
        AuditEntry::new(&self.source, event_type, action, outcome)
    }

    /// Queues an entry, waiting for room when the queue is full.
    pub async fn emit(&self, entry: AuditEntry) {
        if self.tx.send(Message::Entry(Box::new(entry))).await.is_err() {
            self.count_lost(1, "audit writer has stopped");
        }
    }

    /// Queues an entry without waiting; a full queue counts the entry as lost and says so.
    pub fn try_emit(&self, entry: AuditEntry) -> Result<(), QueueFull> {
        self.tx
            .try_send(Message::Entry(Box::new(entry)))
            .map_err(|_| {
                self.count_lost(1, "audit queue is full");
                QueueFull
            })
    }

    /// Waits until everything queued before this call has been handed to the sink.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// How many entries have been lost since start-up (for metrics and health checks).
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// How many entries are queued for the writer now.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Sets the audit gauges through the `metrics` facade: `palisade_audit_queue_depth` and
    /// `palisade_audit_lost` (entries lost since start-up). Call it before each scrape.
    pub fn record_metrics(&self) {
        metrics::gauge!("palisade_audit_queue_depth").set(self.queued() as f64);
        metrics::gauge!("palisade_audit_lost").set(self.lost() as f64);
    }

    fn count_lost(&self, n: u64, why: &str) {
        let total = self.lost.fetch_add(n, Ordering::Relaxed) + n;
        tracing::error!(lost = n, total, "{why}");
    }
}

async fn run_writer(
    mut rx: mpsc::Receiver<Message>,
    sink: Arc<dyn AuditSink>,
    config: EmitterConfig,
    lost: Arc<AtomicU64>,
) {
    let mut inbox = Vec::with_capacity(config.batch_size);
    let mut batch = Vec::with_capacity(config.batch_size);
    while rx.recv_many(&mut inbox, config.batch_size).await > 0 {
        let full = inbox.len() >= config.batch_size;
        let mut flushes = Vec::new();
        for message in inbox.drain(..) {
            match message {
                Message::Entry(entry) => batch.push(*entry),
                Message::Flush(done) => flushes.push(done),
            }
        }
        if !batch.is_empty() {
            write_with_retry(sink.as_ref(), &batch, &config, &lost).await;
            batch.clear();
        }
        let flushed = !flushes.is_empty();
        for done in flushes {
            let _ = done.send(());
        }
        if !full && !flushed && !config.linger.is_zero() {
            tokio::time::sleep(config.linger).await;
        }
    }
}

async fn write_with_retry(
    sink: &dyn AuditSink,
    batch: &[AuditEntry],
    config: &EmitterConfig,
    lost: &AtomicU64,
) {
    let mut attempt = 0;
    loop {
        match sink.write(batch).await {
            Ok(()) => return,
            Err(error) if attempt < config.max_retries => {
                attempt += 1;
                tracing::warn!(%error, attempt, "audit sink write failed; retrying");
                tokio::time::sleep(config.retry_delay).await;
            }
            Err(error) => {
                let n = batch.len() as u64;
                let total = lost.fetch_add(n, Ordering::Relaxed) + n;
                tracing::error!(%error, lost = n, total, "audit sink refused a batch after every retry");
                return;
            }
        }
    }
}
