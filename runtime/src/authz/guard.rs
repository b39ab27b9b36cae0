//! `AuthzLayer` and the `Authz` extractor: a handler states the action it needs in one line, and every decision is audited.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use http::Request;
use http::request::Parts;
use tower_layer::Layer;
use tower_service::Service;

use super::decision::Decision;
use super::engine::{PolicyEngine, Resource};
use crate::audit::{AuditEmitter, Outcome, event_type};
use crate::principal::Principal;
use crate::problem::Problem;
use crate::trace::TraceContext;

#[derive(Clone)]
struct Shared {
    engine: Arc<PolicyEngine>,
    audit: AuditEmitter,
}

/// Makes the policy engine available to handlers through [`Authz`]. The decision itself is taken
/// in the handler, because only the handler knows the resource (and its attributes) it acts on.
#[derive(Clone)]
pub struct AuthzLayer {
    shared: Shared,
}

impl AuthzLayer {
    /// A layer deciding with `engine` and auditing decisions to `audit`.
    pub fn new(engine: Arc<PolicyEngine>, audit: AuditEmitter) -> Self {
        Self {
            shared: Shared { engine, audit },
        }
    }
}

impl<S> Layer<S> for AuthzLayer {
    type Service = AuthzService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthzService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service built by [`AuthzLayer`]: it attaches the engine to each request.
#[derive(Clone)]
pub struct AuthzService<S> {
    inner: S,
    shared: Shared,
}

impl<S, B> Service<Request<B>> for AuthzService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(self.shared.clone());
        self.inner.call(req)
    }
}

/// The handler's view of authorization: `authz.require("update", &note).await?` allows or answers 403.
pub struct Authz {
    principal: Principal,
    shared: Shared,
    trace: Option<TraceContext>,
}

impl Authz {
    /// The authenticated principal.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Decides `action` on `resource`, audits the decision, and returns it when allowed or a 403 otherwise.
    pub async fn require(&self, action: &str, resource: &Resource) -> Result<Decision, Problem> {
        self.require_with(action, resource, &serde_json::Value::Null)
            .await
    }

    /// [`require`](Self::require) with a Cedar context (a JSON object matching the action's schema).
    pub async fn require_with(
        &self,
        action: &str,
        resource: &Resource,
        context: &serde_json::Value,
    ) -> Result<Decision, Problem> {
        let decision =
            match self
                .shared
                .engine
                .authorize(&self.principal, action, resource, context)
            {
                Ok(d) => d,
                Err(error) => {
                    tracing::error!(%error, action, "authorization request is malformed");
                    return Err(Problem::new(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "authorization failed",
                    ));
                }
            };
        let outcome = if decision.allowed {
            Outcome::Success
        } else {
            Outcome::Denied
        };
        let mut entry = self
            .shared
            .audit
            .entry(event_type::AUTHZ_DECISION, action, outcome)
            .principal(&self.principal)
            .resource(&resource.display_name())
            .policies(&decision.policies)
            .trace(self.trace.as_ref());
        if !decision.allowed {
            entry = entry.reason(if decision.policies.is_empty() {
                "no policy permits"
            } else {
                "forbidden by policy"
            });
        }
        self.shared.audit.emit(entry).await;
        if decision.allowed {
            Ok(decision)
        } else {
            Err(Problem::forbidden())
        }
    }

    /// Records a completed action (a write) in the audit log, with the principal and trace filled in.
    pub async fn record(&self, event_type: &str, action: &str, resource: &str) {
        let entry = self
            .shared
            .audit
            .entry(event_type, action, Outcome::Success)
            .principal(&self.principal)
            .resource(resource)
            .trace(self.trace.as_ref());
        self.shared.audit.emit(entry).await;
    }

    /// Decides without auditing or rejecting: for filtering lists, where each item is not a sensitive action.
    pub fn check(&self, action: &str, resource: &Resource) -> bool {
        self.shared
            .engine
            .authorize(&self.principal, action, resource, &serde_json::Value::Null)
            .is_ok_and(|d| d.allowed)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authz {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(Problem::missing_layer)?;
        let shared = parts
            .extensions
            .get::<Shared>()
            .cloned()
            .ok_or_else(Problem::missing_layer)?;
        let trace = parts.extensions.get::<TraceContext>().copied();
        Ok(Self {
            principal,
            shared,
            trace,
        })
    }
}
