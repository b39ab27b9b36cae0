//! Logs and metrics: JSON log lines on stderr, filtered by `RUST_LOG` (default `info`), and the
//! Prometheus metrics served on their own listener. Audit entries go to their own sink, never to
//! these logs.

use std::sync::OnceLock;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};
use palisade_runtime::access::LATENCY_BUCKETS;
use palisade_runtime::audit::AuditEmitter;
use tracing_subscriber::EnvFilter;

use crate::store::Store;

/// Installs the global log subscriber. Every request's lines carry its trace id (from the
/// runtime's access and trace layers).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_current_span(true)
        .init();
}

/// Installs the process's Prometheus recorder (once; later calls return the same handle), so the
/// runtime's metrics are recorded.
pub fn install_metrics() -> Result<PrometheusHandle, BuildError> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)?
        .install_recorder()?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// `GET /metrics`: the request, authentication, authorization, audit and pool metrics, in the
/// Prometheus text format. Serve it on its own listener, never on the API's.
pub fn metrics_router(handle: PrometheusHandle, audit: AuditEmitter, store: Store) -> Router {
    let render = move || {
        audit.record_metrics();
        store.record_metrics();
        let text = handle.render();
        async move { text }
    };
    Router::new().route("/metrics", get(render))
}
