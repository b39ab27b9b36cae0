//! The one canonical security stack: trace → authentication → tenant guard → authorization → handler.

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
use crate::authn::{Authenticator, AuthnLayer};
use crate::authz::{AuthzLayer, PolicyEngine};
use crate::tenant::{TenantGuardConfig, TenantGuardLayer};
use crate::trace::TraceLayer;

/// Everything the security layers share. Build it once at start-up and apply it to the router
/// holding every route that needs authentication; health checks go on a router merged afterwards.
#[derive(Clone)]
pub struct SecurityStack {
    authenticator: Arc<Authenticator>,
    tenant: TenantGuardConfig,
    engine: Arc<PolicyEngine>,
    audit: AuditEmitter,
}

impl SecurityStack {
    /// A stack with the default tenant guard (path parameter `tenant`, header `x-tenant-id`).
    pub fn new(
        authenticator: Arc<Authenticator>,
        engine: Arc<PolicyEngine>,
        audit: AuditEmitter,
    ) -> Self {
        Self {
            authenticator,
            tenant: TenantGuardConfig::default(),
            engine,
            audit,
        }
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
    pub fn apply<S: Clone + Send + Sync + 'static>(&self, router: Router<S>) -> Router<S> {
        router.layer(self.layer())
    }

    /// The stack as one tower layer, outermost first, for use outside axum's `Router`.
    pub fn layer(&self) -> StackLayer {
        StackLayer {
            stack: self.clone(),
        }
    }
}

/// The canonical stack as a single [`Layer`].
#[derive(Clone)]
pub struct StackLayer {
    stack: SecurityStack,
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
            .layer(AuthnLayer::authenticate(
                s.authenticator.clone(),
                s.audit.clone(),
            ))
            .layer(TenantGuardLayer::guard(s.tenant.clone(), s.audit.clone()))
            .layer(AuthzLayer::new(s.engine.clone(), s.audit.clone()))
            .service(inner);
        BoxCloneSyncService::new(service)
    }
}
