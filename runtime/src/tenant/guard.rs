//! `TenantGuardLayer`: a tenant named by path parameter, header or subdomain must equal the principal's, else 403 and an audit entry; what the guard cannot see, it refuses.

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::{HeaderName, Request, StatusCode, header};

use crate::audit::{AuditEmitter, Outcome, event_type};
use crate::check::{AsyncCheck, CheckLayer, Checked};
use crate::principal::Principal;
use crate::problem::Problem;
use crate::trace::TraceContext;

/// Where a request may name a tenant. Every place that is set is checked, and a guard that cannot
/// see a place it is configured to check refuses the request with 500 instead of passing it.
#[derive(Clone, Debug)]
pub struct TenantGuardConfig {
    /// The route parameter holding a tenant, e.g. `tenant` for `/tenants/{tenant}/notes`.
    /// Only a router knows the route a request matched, so with a path parameter set the guard
    /// must run inside one ([`SecurityStack::apply`](crate::stack::SecurityStack::apply)).
    pub path_param: Option<String>,
    /// The header holding a tenant, `x-tenant-id` by default.
    pub header: Option<HeaderName>,
    /// The parent domain of tenant subdomains: with `example.com`, `acme.example.com` names `acme`.
    /// Hosts and this domain are compared as ASCII lowercase, without port or trailing dot.
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
    /// A fault of the configuration itself, found at start-up: every request is refused.
    fault: Option<Arc<Misconfiguration>>,
    audit: AuditEmitter,
}

impl TenantGuardLayer {
    /// A guard with `config`, auditing mismatches to `audit`. A configuration that can never be
    /// checked is logged here, at start-up, and refuses every request.
    pub fn guard(mut config: TenantGuardConfig, audit: AuditEmitter) -> Self {
        let fault = Misconfiguration::of(&config);
        if let Some(fault) = &fault {
            tracing::error!(%fault, "tenant guard misconfigured; it will refuse every request");
        }
        config.subdomain_of = config.subdomain_of.as_deref().map(parent_domain);
        CheckLayer::new(TenantCheck {
            config: Arc::new(config),
            fault: fault.map(Arc::new),
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
            let named = match &this.fault {
                Some(fault) => Err(Misconfiguration::clone(fault)),
                None => named_tenants(&this.config, &mut parts).await,
            };
            let named = match named {
                Ok(named) => named,
                Err(fault) => {
                    tracing::error!(
                        %fault,
                        path = parts.uri.path(),
                        "tenant guard cannot check the request; refusing it"
                    );
                    return Err(Problem::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "tenant guard misconfigured",
                    )
                    .into_response());
                }
            };
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

/// Why the guard cannot check what it is configured to check. It is a wiring fault, never the
/// caller's, and the request is refused with 500: passing it unchecked would fail open.
#[derive(Clone, Debug, thiserror::Error)]
enum Misconfiguration {
    /// The request reached the guard without a matched route, so no route parameter is visible.
    #[error(
        "tenant guard checks path parameter {0:?} but the request has no matched route (the stack \
         runs outside a router, before routing, behind nest_service or for the router's fallback); \
         apply it with SecurityStack::apply to the router holding the routes, or set path_param to None"
    )]
    NoMatchedPath(String),
    /// A path parameter without a name can never be matched.
    #[error("tenant guard path_param is empty")]
    EmptyPathParam,
    /// A parent domain that no host can end in.
    #[error("tenant guard subdomain_of {0:?} is not a domain name")]
    ParentDomain(String),
}

impl Misconfiguration {
    /// The fault of `config` itself, whatever the requests.
    fn of(config: &TenantGuardConfig) -> Option<Self> {
        if config.path_param.as_deref() == Some("") {
            return Some(Self::EmptyPathParam);
        }
        let parent = config.subdomain_of.as_deref()?;
        let normalised = parent_domain(parent);
        let is_label = |l: &str| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        (!normalised.split('.').all(is_label)).then(|| Self::ParentDomain(parent.to_owned()))
    }
}

/// Every tenant the request names, with where it named it; an error if the guard cannot see a
/// place it is configured to check.
async fn named_tenants(
    config: &TenantGuardConfig,
    parts: &mut http::request::Parts,
) -> Result<Vec<(&'static str, String)>, Misconfiguration> {
    let mut named = Vec::new();
    if let Some(param) = &config.path_param {
        // Only the router knows which segments of a path are parameters. Without the route it
        // matched, the guard cannot tell whether the path names another tenant.
        let Some(route) = parts
            .extensions
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_owned())
        else {
            return Err(Misconfiguration::NoMatchedPath(param.clone()));
        };
        match RawPathParams::from_request_parts(parts, &()).await {
            Ok(params) => {
                for (key, value) in &params {
                    if key == param {
                        named.push(("path parameter", value.to_owned()));
                    }
                }
            }
            // Parameters that do not decode (e.g. `%FF`) cannot be checked, so they cannot pass.
            Err(_) if route.contains(&format!("{{{param}}}")) => {
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
        // Every host the request carries is checked: each `Host` header, and the authority of an
        // absolute-form target or HTTP/2 request, since a proxy or handler may read any of them.
        let headers = parts
            .headers
            .get_all(header::HOST)
            .iter()
            .map(|h| h.to_str().ok());
        for host in headers.chain(parts.uri.host().map(Some)) {
            match host.map(normalise_host) {
                // As for the header: a host that is not text cannot equal the tenant.
                None => named.push(("host", "\u{FFFD}".to_owned())),
                // A dot left after removing the one that ends a fully qualified name is no host
                // name, so what it names cannot be checked.
                Some(host) if host.ends_with('.') => named.push(("host", "\u{FFFD}".to_owned())),
                Some(host) => {
                    if let Some(label) = subdomain(&host, parent) {
                        named.push(("subdomain", label.to_owned()));
                    }
                }
            }
        }
    }
    Ok(named)
}

/// A host as the guard compares it: port removed, ASCII lowercase, and one trailing dot (the DNS
/// root of a fully qualified name) removed, so `ACME.example.com.:443` is `acme.example.com`.
fn normalise_host(host: &str) -> String {
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let mut host = host.to_ascii_lowercase();
    if host.ends_with('.') {
        host.pop();
    }
    host
}

/// The configured parent domain, normalised like a host; a leading dot (`.example.com`) is allowed.
fn parent_domain(parent: &str) -> String {
    let parent = normalise_host(parent);
    match parent.strip_prefix('.') {
        Some(rest) => rest.to_owned(),
        None => parent,
    }
}

/// What `host` names under `parent`: `acme` for `acme.example.com` under `example.com`.
fn subdomain<'h>(host: &'h str, parent: &str) -> Option<&'h str> {
    host.strip_suffix(parent)?
        .strip_suffix('.')
        .filter(|label| !label.is_empty())
}
