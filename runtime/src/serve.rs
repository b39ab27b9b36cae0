//! Serving a router on a network listener (feature `serve`): HTTP or HTTPS through rustls, with a TLS handshake timeout, a header read timeout, a request timeout, a connection limit, an in-flight request limit, backed-off accept errors and a graceful shutdown that first fails readiness, then drains open connections.
//!
//! Invariant: this module knows sockets and HTTP connections, not security decisions; what runs
//! for a request is the router it is given (the security stack included).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::problem::Problem;
use crate::secrets::Secret;

/// Whether the process wants new traffic: true until a shutdown begins. Serve it from the
/// readiness route, so load balancers stop sending requests before the listener closes.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<AtomicBool>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl Readiness {
    /// Ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// False once a shutdown has begun.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Marks the process as shutting down.
    pub fn set_draining(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// How connections are served. [`ServeConfig::default`] holds the strict defaults.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// HTTPS when set; plain HTTP otherwise (behind a TLS-terminating proxy, or in development).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// A client that has not finished the TLS handshake by then is dropped (default 10 s).
    pub handshake_timeout: Duration,
    /// A client that has not sent a request's headers by then is dropped (default 10 s).
    pub header_read_timeout: Duration,
    /// A request that is not answered by then gets 408 (default 30 s).
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the listener's backlog (default 10,000).
    pub max_connections: usize,
    /// Requests handled at once; more are answered 503 at once rather than queued (default 1,024).
    pub max_in_flight: usize,
    /// Set to not ready when a shutdown begins.
    pub readiness: Readiness,
    /// How long the listener keeps serving, with readiness failing, after a shutdown begins: the
    /// time a load balancer takes to notice (default 5 s).
    pub unready_grace: Duration,
    /// How long a shutdown then waits for open connections to finish (default 30 s).
    pub drain_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            tls: None,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_in_flight: 1_024,
            readiness: Readiness::new(),
            unready_grace: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// The TLS material is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate chain is not PEM certificates.
    #[error("tls certificate chain: {0}")]
    Certificate(String),
    /// The private key is not a PEM private key.
    #[error("tls private key: {0}")]
    PrivateKey(String),
    /// rustls refused the pair (a key that does not match the certificate, for one).
    #[error("tls: {0}")]
    Config(#[from] rustls::Error),
}

/// A rustls configuration from a PEM certificate chain and private key (aws-lc-rs, TLS 1.2 and
/// 1.3 with rustls's safe defaults, HTTP/2 and HTTP/1.1 by ALPN).
pub fn tls_config(chain: &Secret, key: &Secret) -> Result<rustls::ServerConfig, TlsError> {
    let chain = CertificateDer::pem_slice_iter(chain.expose().as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Certificate(
            "no certificate in the PEM text".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key.expose().as_bytes())
        .map_err(|e| TlsError::PrivateKey(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// Serves `router` on `listener` until `shutdown` completes; then marks the readiness as
/// draining, keeps serving for the unready grace period, stops accepting and waits up to the drain
/// timeout for open connections. Handlers see the peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) {
    let in_flight = Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1)));
    let request_timeout = config.request_timeout;
    let router = router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let permit = in_flight.clone().try_acquire_owned();
            async move {
                let Ok(_permit) = permit else {
                    return Problem::new(http::StatusCode::SERVICE_UNAVAILABLE, "overloaded")
                        .with_detail("too many requests in flight; retry")
                        .into_response();
                };
                match tokio::time::timeout(request_timeout, next.run(request)).await {
                    Ok(response) => response,
                    Err(_) => Problem::new(http::StatusCode::REQUEST_TIMEOUT, "request timeout")
                        .with_detail("the request was not answered in time")
                        .into_response(),
                }
            }
        },
    ));
    let readiness = config.readiness.clone();
    let grace = config.unready_grace;
    let shutdown = async move {
        shutdown.await;
        readiness.set_draining();
        tracing::info!(
            ?grace,
            "shutting down: readiness fails, serving until the grace ends"
        );
        tokio::time::sleep(grace).await;
    };
    let acceptor = config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut backoff = Duration::ZERO;
    tokio::pin!(shutdown);
    loop {
        // A free slot first: past the limit, connections wait in the kernel's backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff = Duration::ZERO;
                    pair
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    tracing::warn!(%error, ?backoff, "accept failed");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = router
            .clone()
            .map_request(move |mut request: http::Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let config = config.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(config.header_read_timeout);
            let service = TowerToHyperService::new(service);
            match acceptor {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(config.handshake_timeout, acceptor.accept(stream));
                    let Ok(Ok(stream)) = handshake.await else {
                        return;
                    };
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection).await;
                }
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    let _ = watcher.watch(connection).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(config.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout = ?config.drain_timeout,
            "connections still open after the drain timeout"
        );
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM: what a container runtime sends to stop a process.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// The peer address type handlers extract.
pub type PeerAddress = ConnectInfo<SocketAddr>;
