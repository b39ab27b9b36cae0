//! The outermost layer of a service: the trace context every inner layer shares, one access-log line per request (method, matched route, status, latency, trace id, tenant, client id) and the request metrics (count and latency by route and status).
//!
//! Metrics go through the `metrics` facade: they are recorded only when the application installs
//! a recorder (the generated service installs the Prometheus one and serves it on its own
//! listener). Names: `palisade_http_requests_total` and `palisade_http_request_duration_seconds`
//! (labels `method`, `route`, `status`); routes are the matched templates
//! (`/tenants/{tenant}/notes/{id}`), or `unmatched`, so labels stay few.

use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use futures_util::future::BoxFuture;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::principal::Principal;
use crate::trace::{TRACEPARENT, TraceContext};

/// Histogram buckets for `palisade_http_request_duration_seconds`, in seconds: from 1 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Who made a request, noted by authentication for the access log.
#[derive(Clone, Debug)]
struct Caller {
    tenant: String,
    client_id: Option<String>,
}

/// The slot authentication fills; in request extensions while [`AccessLayer`] runs.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallerNote(Arc<OnceLock<Caller>>);

impl CallerNote {
    /// Records the authenticated principal (the first one wins).
    pub(crate) fn note(&self, principal: &Principal) {
        let _ = self.0.set(Caller {
            tenant: principal.tenant.to_string(),
            client_id: principal.client_id.clone(),
        });
    }
}

/// Logs and measures every request. Apply it with `Router::layer` last, so it is outermost and
/// sees the matched route.
#[derive(Clone, Copy, Debug, Default)]
pub struct AccessLayer;

impl<S> Layer<S> for AccessLayer {
    type Service = Access<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Access { inner }
    }
}

/// The service built by [`AccessLayer`].
#[derive(Clone, Debug)]
pub struct Access<S> {
    inner: S,
}

impl<S, B, ResB> Service<Request<B>> for Access<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    S::Future: Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let trace = req
            .extensions()
            .get::<TraceContext>()
            .copied()
            .unwrap_or_else(|| TraceContext::from_header_or_new(req.headers().get(TRACEPARENT)));
        let caller = CallerNote::default();
        req.extensions_mut().insert(trace);
        req.extensions_mut().insert(caller.clone());
        let method = req.method().to_string();
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
        let started = Instant::now();
        let future = self.inner.call(req);
        Box::pin(async move {
            let mut response = future.await?;
            let elapsed = started.elapsed();
            if !response.headers().contains_key(TRACEPARENT) {
                response
                    .headers_mut()
                    .insert(TRACEPARENT, trace.to_header_value());
            }
            let status = response.status().as_u16();
            let who = caller.0.get();
            tracing::info!(
                target: "access",
                method,
                route,
                status,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                trace_id = %trace.trace_id(),
                tenant = who.map(|c| c.tenant.as_str()),
                client_id = who.and_then(|c| c.client_id.as_deref()),
                "request"
            );
            let labels = [
                ("method", method),
                ("route", route),
                ("status", status.to_string()),
            ];
            metrics::counter!("palisade_http_requests_total", &labels).increment(1);
            metrics::histogram!("palisade_http_request_duration_seconds", &labels)
                .record(elapsed.as_secs_f64());
            Ok(response)
        })
    }
}
