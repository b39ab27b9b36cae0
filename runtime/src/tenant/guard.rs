//! `TenantGuardLayer`: a tenant named by path parameter, header or subdomain must equal the principal's, else 403 and an audit entry.

use std::sync::Arc;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::{HeaderName, Request, header};

use crate::audit::{AuditEmitter, Outcome, event_type};
use crate::check::{AsyncCheck, CheckLayer, Checked};
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
pub type TenantGuardLayer = CheckLayer<TenantCheck>;

/// The service built by [`TenantGuardLayer`].
pub type TenantGuard<S> = Checked<S, TenantCheck>;

/// The tenant check: compares every tenant the request names with the principal's.
#[derive(Clone)]
pub struct TenantCheck {
    config: Arc<TenantGuardConfig>,
    audit: AuditEmitter,
}

impl TenantGuardLayer {
    /// A guard with `config`, auditing mismatches to `audit`.
    pub fn guard(config: TenantGuardConfig, audit: AuditEmitter) -> Self {
        CheckLayer::new(TenantCheck {
            config: Arc::new(config),
            audit,
        })
    }
}

impl<B: Send + 'static> AsyncCheck<B> for TenantCheck {
    fn check(&self, req: Request<B>) -> BoxFuture<'static, Result<Request<B>, Response>> {
        let this = self.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            let Some(principal) = parts.extensions.get::<Principal>().cloned() else {
                return Err(Problem::missing_layer().into_response());
            };
            let named = named_tenants(&this.config, &mut parts).await;
            let foreign = named
                .iter()
                .find(|(_, t)| t.as_str() != principal.tenant.as_str());
            if let Some((place, named_tenant)) = foreign {
                let entry = this
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
                this.audit.emit(entry).await;
                return Err(Problem::forbidden()
                    .with_detail("the request names another tenant")
                    .into_response());
            }
            Ok(Request::from_parts(parts, body))
        })
    }
}

/// Every tenant the request names, with where it named it.
async fn named_tenants(
    config: &TenantGuardConfig,
    parts: &mut http::request::Parts,
) -> Vec<(&'static str, String)> {
    let mut named = Vec::new();
    if let Some(param) = &config.path_param {
        match RawPathParams::from_request_parts(parts, &()).await {
            Ok(params) => {
                for (key, value) in &params {
                    if key == param {
                        named.push(("path parameter", value.to_owned()));
                    }
                }
            }
            // Parameters that do not decode (e.g. `%FF`) cannot be checked, so they cannot pass.
            Err(_)
                if parts
                    .extensions
                    .get::<axum::extract::MatchedPath>()
                    .is_some_and(|m| m.as_str().contains(&format!("{{{param}}}"))) =>
            {
                named.push(("path parameter", "\u{FFFD}".to_owned()));
            }
            Err(_) => {}
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
