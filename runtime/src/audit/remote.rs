//! `ControlPlaneSink`: ships a service's audit entries to the control plane's `POST /audit/ingest` with its client-credentials token. A batch is acknowledged only once it is appended and fsynced to a bounded local spool; a task drains the spool in order, retrying with backoff while the control plane is unreachable, and records how far it got (also fsynced), so an acknowledged entry survives a restart, a crash or an outage. The control plane stores an entry once by id, so what is sent twice after a crash is harmless. A full spool refuses the batch: the emitter retries, then counts the loss.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{AuditEntry, AuditError, AuditSink};
use crate::secrets::Secret;

/// Where and how to ship entries.
#[derive(Debug, Clone)]
pub struct ControlPlaneConfig {
    /// The control plane's base URL (its issuer): `/token` and `/audit/ingest` are under it.
    pub url: String,
    /// This service's client, granted `audit:write` for the `palisade-audit` audience.
    pub client_id: String,
    /// Its secret.
    pub client_secret: Secret,
    /// The spool's folder (`spool.jsonl` and `spool.offset` in it); on a persistent volume.
    pub spool: PathBuf,
    /// The most bytes the spool holds unsent (default 64 MiB).
    pub max_spool_bytes: u64,
    /// Entries per request (default 1,000, the most the control plane takes).
    pub batch: usize,
}

impl ControlPlaneConfig {
    /// The defaults for a control plane at `url`, this client, and a spool folder.
    pub fn new(
        url: &str,
        client_id: &str,
        client_secret: Secret,
        spool: impl Into<PathBuf>,
    ) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            spool: spool.into(),
            max_spool_bytes: 64 * 1024 * 1024,
            batch: 1000,
        }
    }
}

/// The on-disk spool: entries appended as JSON lines, and the byte offset up to which the
/// control plane has acknowledged them.
struct Spool {
    data: std::fs::File,
    len: u64,
    offset: u64,
    offset_path: PathBuf,
}

impl Spool {
    fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let data_path = dir.join("spool.jsonl");
        let offset_path = dir.join("spool.offset");
        let mut data = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&data_path)?;
        let len = data.seek(SeekFrom::End(0))?;
        let offset = std::fs::read_to_string(&offset_path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
            .min(len);
        Ok(Self {
            data,
            len,
            offset,
            offset_path,
        })
    }

    /// Records the acknowledged offset (a temporary file, fsynced, renamed over the old one);
    /// when everything is acknowledged, empties the spool.
    fn acknowledge(&mut self, offset: u64) -> std::io::Result<()> {
        self.offset = offset;
        if self.offset == self.len {
            self.data.set_len(0)?;
            self.data.sync_all()?;
            self.len = 0;
            self.offset = 0;
        }
        let temporary = self.offset_path.with_extension("offset.tmp");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(self.offset.to_string().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.offset_path)
    }
}

struct Shared {
    config: ControlPlaneConfig,
    spool: Mutex<Spool>,
    wake: tokio::sync::Notify,
    http: reqwest::Client,
    token: crate::client_credentials::TokenCache,
    sent: AtomicU64,
    lost: AtomicU64,
}

/// Ships audit entries to the control plane through a local spool (see the module docs).
#[derive(Clone)]
pub struct ControlPlaneSink {
    shared: Arc<Shared>,
    drainer: Arc<tokio::task::AbortHandle>,
}

impl std::fmt::Debug for ControlPlaneSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlaneSink")
            .field("url", &self.shared.config.url)
            .field("client_id", &self.shared.config.client_id)
            .finish_non_exhaustive()
    }
}

impl ControlPlaneSink {
    /// Opens (or resumes) the spool and starts draining it to the control plane.
    pub fn start(config: ControlPlaneConfig) -> Result<Self, AuditError> {
        let spool = Spool::open(&config.spool)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| AuditError::Io(std::io::Error::other(e)))?;
        let token = crate::client_credentials::TokenCache::new(
            http.clone(),
            &config.url,
            &config.client_id,
            config.client_secret.clone(),
            super::AUDIT_WRITE_SCOPE,
            super::AUDIT_AUDIENCE,
        );
        let shared = Arc::new(Shared {
            config,
            spool: Mutex::new(spool),
            wake: tokio::sync::Notify::new(),
            http,
            token,
            sent: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        });
        let drainer = tokio::spawn(drain(shared.clone())).abort_handle();
        Ok(Self {
            shared,
            drainer: Arc::new(drainer),
        })
    }

    /// Entries the control plane has stored (or already had) since start-up.
    pub fn sent(&self) -> u64 {
        self.shared.sent.load(Ordering::Relaxed)
    }

    /// Entries lost since start-up: refused by the control plane, or by a full spool.
    pub fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    /// Bytes in the spool not yet acknowledged by the control plane.
    pub fn pending_bytes(&self) -> u64 {
        self.shared
            .spool
            .lock()
            .map_or(0, |spool| spool.len - spool.offset)
    }

    /// Stops draining (the spool stays on disk for the next start).
    pub fn stop(&self) {
        self.drainer.abort();
    }
}

impl AuditSink for ControlPlaneSink {
    fn write<'a>(&'a self, batch: &'a [AuditEntry]) -> BoxFuture<'a, Result<(), AuditError>> {
        Box::pin(async move {
            let mut lines = Vec::with_capacity(batch.len() * 512);
            for entry in batch {
                serde_json::to_writer(&mut lines, entry)?;
                lines.push(b'\n');
            }
            let shared = self.shared.clone();
            let n = batch.len() as u64;
            tokio::task::spawn_blocking(move || {
                let mut spool = shared.spool.lock().map_err(|_| AuditError::Poisoned)?;
                let pending = spool.len - spool.offset;
                if pending + lines.len() as u64 > shared.config.max_spool_bytes {
                    return Err(AuditError::SpoolFull {
                        entries: n,
                        bytes: shared.config.max_spool_bytes,
                    });
                }
                spool.data.write_all(&lines)?;
                spool.data.sync_data()?;
                spool.len += lines.len() as u64;
                drop(spool);
                shared.wake.notify_one();
                Ok(())
            })
            .await
            .map_err(|e| AuditError::Io(std::io::Error::other(e)))?
        })
    }
}

/// The next unsent lines: up to `batch` complete lines from the acknowledged offset, and the
/// offset after them.
fn next_lines(shared: &Shared) -> std::io::Result<Option<(Vec<u8>, u64, usize)>> {
    let (start, end, mut file) = {
        let spool = shared
            .spool
            .lock()
            .map_err(|_| std::io::Error::other("spool lock poisoned"))?;
        if spool.offset == spool.len {
            return Ok(None);
        }
        (spool.offset, spool.len, spool.data.try_clone()?)
    };
    let want = (end - start).min(4 * 1024 * 1024);
    let mut buffer = vec![0; usize::try_from(want).unwrap_or(0)];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut buffer)?;
    let mut taken = 0;
    let mut count = 0;
    for (i, byte) in buffer.iter().enumerate() {
        if *byte == b'\n' {
            taken = i + 1;
            count += 1;
            if count == shared.config.batch {
                break;
            }
        }
    }
    if count == 0 {
        return Ok(None);
    }
    buffer.truncate(taken);
    Ok(Some((buffer, start + taken as u64, count)))
}

/// Why a send did not go through.
enum SendError {
    /// Worth retrying: unreachable, 5xx, 429, 401 with a stale token.
    Retry(String),
    /// The control plane refused the batch for good (400, 403, 413, 422).
    Refused(String),
}

async fn drain(shared: Arc<Shared>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let next = {
            let shared = shared.clone();
            tokio::task::spawn_blocking(move || next_lines(&shared)).await
        };
        let (lines, end, count) = match next {
            Ok(Ok(Some(next))) => next,
            Ok(Ok(None)) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), shared.wake.notified()).await;
                continue;
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "reading the audit spool failed");
                tokio::time::sleep(backoff).await;
                continue;
            }
            Err(_) => return,
        };
        match send(&shared, &lines).await {
            Ok(refused) => {
                backoff = Duration::from_millis(250);
                shared
                    .sent
                    .fetch_add((count - refused) as u64, Ordering::Relaxed);
                if refused > 0 {
                    let total =
                        shared.lost.fetch_add(refused as u64, Ordering::Relaxed) + refused as u64;
                    tracing::error!(
                        lost = refused,
                        total,
                        "the control plane refused audit entries"
                    );
                }
                acknowledge(&shared, end).await;
            }
            Err(SendError::Refused(why)) => {
                let total = shared.lost.fetch_add(count as u64, Ordering::Relaxed) + count as u64;
                tracing::error!(
                    lost = count,
                    total,
                    why,
                    "the control plane refused an audit batch"
                );
                acknowledge(&shared, end).await;
            }
            Err(SendError::Retry(why)) => {
                tracing::warn!(why, retry_in = ?backoff, "shipping audit entries failed; they stay in the spool");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn acknowledge(shared: &Arc<Shared>, end: u64) {
    let shared = shared.clone();
    let done = tokio::task::spawn_blocking(move || {
        shared
            .spool
            .lock()
            .map_err(|_| std::io::Error::other("spool lock poisoned"))?
            .acknowledge(end)
    })
    .await;
    if !matches!(done, Ok(Ok(()))) {
        tracing::error!(
            "recording the audit spool's offset failed; entries may be sent again (stored once)"
        );
    }
}

/// Sends JSON lines as one ingest request; the number of entries refused one by one.
async fn send(shared: &Shared, lines: &[u8]) -> Result<usize, SendError> {
    let mut body = Vec::with_capacity(lines.len() + 16);
    body.extend_from_slice(b"{\"entries\":[");
    for (i, line) in lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(line);
    }
    body.extend_from_slice(b"]}");
    let token = shared.token.get().await.map_err(SendError::Retry)?;
    let response = shared
        .http
        .post(format!("{}/audit/ingest", shared.config.url))
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| SendError::Retry(e.to_string()))?;
    let status = response.status();
    if status.is_success() {
        let answer: serde_json::Value = response
            .json()
            .await
            .map_err(|e| SendError::Retry(e.to_string()))?;
        return Ok(answer["refused"].as_array().map_or(0, Vec::len));
    }
    if status == reqwest::StatusCode::UNAUTHORIZED {
        shared.token.forget().await;
        return Err(SendError::Retry("401: the token is renewed".to_owned()));
    }
    if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        return Err(SendError::Retry(format!("HTTP {status}")));
    }
    Err(SendError::Refused(format!("HTTP {status}")))
}
