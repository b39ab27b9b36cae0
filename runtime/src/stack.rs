//! The one canonical security stack: trace → address rate limit → authentication → client rate limit → tenant guard → authorization → handler.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;
use tower_layer::Layer;
use tower_service::Service;

use crate::audit::AuditEmitter;
use crate::authn::{Authenticator, AuthnLayer, FailureAuditPolicy};
use crate::authz::{AuthzLayer, Policies, UndecidedSuccess};
use crate::limit::{ByAddress, ByClient, RateLimitLayer, RateLimits};
use crate::tenant::{TenantGuardConfig, TenantGuardLayer};
use crate::trace::TraceLayer;

/// Everything the security layers share. Build it once at start-up and apply it to the router
/// holding every route that needs authentication; health checks go on a router merged afterwards.
#[derive(Clone)]
pub struct SecurityStack {
    authenticator: Arc<Authenticator>,
    tenant: TenantGuardConfig,
    policies: Policies,
    audit: AuditEmitter,
    limits: RateLimits,
    failures: FailureAuditPolicy,
    undecided: UndecidedSuccess,
}

impl SecurityStack {
    /// A stack with the default tenant guard (path parameter `tenant`, header `x-tenant-id`), the
    /// default rate limits and failure audit policy, and a success without an authorization
    /// decision failing in debug builds. `policies` is an engine (policies from files), or
    /// [`Policies`] that a bundle source keeps current.
    pub fn new(
        authenticator: Arc<Authenticator>,
        policies: impl Into<Policies>,
        audit: AuditEmitter,
    ) -> Self {
        Self {
            authenticator,
            tenant: TenantGuardConfig::default(),
            policies: policies.into(),
            audit,
            limits: RateLimits::default(),
            failures: FailureAuditPolicy::default(),
            undecided: UndecidedSuccess::default(),
        }
    }

    /// Replaces the rate limits ([`RateLimits::off`] turns them off).
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces how authentication failures are audited under a flood.
    pub fn with_failure_audit(mut self, policy: FailureAuditPolicy) -> Self {
        self.failures = policy;
        self
    }

    /// Replaces what happens to a success answered without an authorization decision.
    pub fn with_undecided_success(mut self, undecided: UndecidedSuccess) -> Self {
        self.undecided = undecided;
        self
    }

    /// Replaces the tenant guard's configuration.
    pub fn with_tenant_guard(mut self, config: TenantGuardConfig) -> Self {
        self.tenant = config;
        self
    }

    /// The audit emitter the layers use.
    pub fn audit(&self) -> &AuditEmitter {
        &self.audit
    }

    /// Wraps every route of `router` in the stack, in the fixed order.
    ///
    /// Only matched routes are wrapped (`route_layer`): a path no route matches gets the router's
    /// fallback (404 by default) without authentication, as no handler and no decision is
    /// involved, and the tenant guard always sees the matched route it checks.
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        router.route_layer(self.build())
    }

    /// The stack as one tower layer, outermost first, for use outside axum's `Router`.
    ///
    /// Outside a router no route is matched, so a tenant guard that checks a path parameter
    /// cannot see it and refuses every request; this is logged here, at start-up. Configure the
    /// guard with `path_param: None` to use the stack this way.
    pub fn layer(&self) -> StackLayer {
        if let Some(param) = &self.tenant.path_param {
            tracing::error!(
                path_param = %param,
                "SecurityStack::layer() is for use outside a router, where the tenant guard cannot \
                 see path parameters: it will refuse every request without a matched route; use \
                 SecurityStack::apply on the router, or set path_param to None"
            );
        }
        self.build()
    }

    /// The layers, built once: the rate limiters and the failure counter are shared by every
    /// route the stack wraps.
    fn build(&self) -> StackLayer {
        StackLayer {
            stack: self.clone(),
            by_address: RateLimitLayer::limit(ByAddress, self.limits.per_address),
            authn: AuthnLayer::authenticate_with(
                self.authenticator.clone(),
                self.audit.clone(),
                self.failures,
            ),
            by_client: RateLimitLayer::limit(ByClient, self.limits.per_client),
        }
    }
}

/// The canonical stack as a single [`Layer`].
#[derive(Clone)]
pub struct StackLayer {
    stack: SecurityStack,
    by_address: RateLimitLayer<ByAddress>,
    authn: AuthnLayer,
    by_client: RateLimitLayer<ByClient>,
}

impl<S> Layer<S> for StackLayer
where
    S: Service<Request, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Response: IntoResponse + 'static,
    S::Future: Send + 'static,
{
    type Service = BoxCloneSyncService<Request, axum::response::Response, Infallible>;

    fn layer(&self, inner: S) -> Self::Service {
        let s = &self.stack;
        let inner = tower::util::MapResponseLayer::new(IntoResponse::into_response).layer(inner);
        let service = ServiceBuilder::new()
            .layer(TraceLayer)
            .layer(self.by_address.clone())
            .layer(self.authn.clone())
            .layer(self.by_client.clone())
            .layer(TenantGuardLayer::guard(s.tenant.clone(), s.audit.clone()))
            .layer(
                AuthzLayer::new(s.policies.clone(), s.audit.clone()).undecided_success(s.undecided),
            )
            .service(inner);
        BoxCloneSyncService::new(service)
    }
}
