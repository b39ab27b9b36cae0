//! `TenantGuardLayer`: a tenant named by path parameter, header or subdomain must equal the principal's, else 403 and an audit entry.

use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, RawPathParams};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::{HeaderName, Request, header};
use tower_layer::Layer;
use tower_service::Service;

use crate::audit::{AuditEmitter, Outcome, event_type};
use crate::principal::Principal;
use crate::problem::Problem;
use crate::trace::TraceContext;

/// Where a request may name a tenant. Every place that is set is checked.
#[derive(Clone, Debug)]
pub struct TenantGuardConfig {
    /// The route parameter holding a tenant, e.g. `tenant` for `/tenants/{tenant}/notes`.
    pub path_param: Option<String>,
    /// The header holding a tenant, `x-tenant-id` by default.
    pub header: Option<HeaderName>,
    /// The parent domain of tenant subdomains: with `example.com`, `acme.example.com` names `acme`.
    pub subdomain_of: Option<String>,
}

impl Default for TenantGuardConfig {
    fn default() -> Self {
        Self {
            path_param: Some("tenant".to_owned()),
            header: Some(HeaderName::from_static("x-tenant-id")),
            subdomain_of: None,
        }
    }
}

/// Enforces that the request's tenant is the principal's. Must run after authentication.
#[derive(Clone)]
pub struct TenantGuardLayer {
    config: std::sync::Arc<TenantGuardConfig>,
    audit: AuditEmitter,
}

impl TenantGuardLayer {
    /// A guard with `config`, auditing mismatches to `audit`.
    pub fn new(config: TenantGuardConfig, audit: AuditEmitter) -> Self {
        Self {
            config: std::sync::Arc::new(config),
            audit,
        }
    }
}

impl<S> Layer<S> for TenantGuardLayer {
    type Service = TenantGuard<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TenantGuard {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`TenantGuardLayer`].
#[derive(Clone)]
pub struct TenantGuard<S> {
    inner: S,
    layer: TenantGuardLayer,
}

impl<S, B> Service<Request<B>> for TenantGuard<S>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let Some(principal) = parts.extensions.get::<Principal>().cloned() else {
                return Ok(Problem::missing_layer().into_response());
            };
            let named = named_tenants(&layer.config, &mut parts).await;
            let foreign = named
                .iter()
                .find(|(_, t)| t.as_str() != principal.tenant.as_str());
            if let Some((place, named_tenant)) = foreign {
                let entry = layer
                    .audit
                    .entry(
                        event_type::TENANT_MISMATCH,
                        "tenant.access",
                        Outcome::Denied,
                    )
                    .principal(&principal)
                    .resource(parts.uri.path())
                    .reason(&format!("{place} names tenant {named_tenant:?}"))
                    .trace(parts.extensions.get::<TraceContext>());
                layer.audit.emit(entry).await;
                return Ok(Problem::forbidden()
                    .with_detail("the request names another tenant")
                    .into_response());
            }
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

/// Every tenant the request names, with where it named it.
async fn named_tenants(
    config: &TenantGuardConfig,
    parts: &mut http::request::Parts,
) -> Vec<(&'static str, String)> {
    let mut named = Vec::new();
    if let Some(param) = &config.path_param
        && let Ok(params) = RawPathParams::from_request_parts(parts, &()).await
    {
        for (key, value) in &params {
            if key == param {
                named.push(("path parameter", value.to_owned()));
            }
        }
    }
    if let Some(name) = &config.header {
        for value in parts.headers.get_all(name) {
            // A header that is not text cannot equal the tenant, so it is a mismatch, not a pass.
            named.push(("header", value.to_str().unwrap_or("\u{FFFD}").to_owned()));
        }
    }
    if let Some(parent) = &config.subdomain_of {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or(parts.uri.host());
        if let Some(host) = host {
            let host = host.rsplit_once(':').map_or(host, |(h, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    host
                }
            });
            let host = host.to_ascii_lowercase();
            if let Some(label) = host
                .strip_suffix(parent.as_str())
                .and_then(|h| h.strip_suffix('.'))
                && !label.is_empty()
            {
                named.push(("subdomain", label.to_owned()));
            }
        }
    }
    named
}
