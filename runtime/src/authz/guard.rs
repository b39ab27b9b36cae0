//! `AuthzLayer` and the `Authz` extractor: a handler states the action it needs in one line, every decision is audited, and a success answered without any decision is caught.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, MatchedPath};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{Request, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use super::decision::Decision;
use super::engine::Resource;
use super::policies::{Engines, Policies};
use crate::audit::{AuditEmitter, Outcome, event_type};
use crate::principal::Principal;
use crate::problem::Problem;
use crate::trace::TraceContext;

#[derive(Clone)]
struct Shared {
    policies: Policies,
    audit: AuditEmitter,
}

/// Set when a handler asks for a decision on the request it serves.
#[derive(Clone, Default)]
struct DecisionMark(Arc<AtomicBool>);

/// What [`AuthzLayer`] does with a 2xx answer from a handler that took no authorization decision
/// on that request: a handler that forgot `authz.require(..)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UndecidedSuccess {
    /// Replace the answer with a 500 problem naming the route, and log an error (the default in
    /// debug builds, so the service's own tests catch the bug).
    Fail,
    /// Pass the answer on and log an error (the default in release builds).
    Log,
}

impl Default for UndecidedSuccess {
    fn default() -> Self {
        if cfg!(debug_assertions) {
            Self::Fail
        } else {
            Self::Log
        }
    }
}

/// Makes the policy engine available to handlers through [`Authz`]. The decision itself is taken
/// in the handler, because only the handler knows the resource (and its attributes) it acts on;
/// the layer checks that it was taken before any success leaves.
#[derive(Clone)]
pub struct AuthzLayer {
    shared: Shared,
    undecided: UndecidedSuccess,
}

impl AuthzLayer {
    /// A layer deciding with `policies` (an engine, or [`Policies`] that a bundle source swaps)
    /// and auditing decisions to `audit`.
    pub fn new(policies: impl Into<Policies>, audit: AuditEmitter) -> Self {
        Self {
            shared: Shared {
                policies: policies.into(),
                audit,
            },
            undecided: UndecidedSuccess::default(),
        }
    }

    /// Sets what happens to a success answered without a decision.
    pub fn undecided_success(mut self, undecided: UndecidedSuccess) -> Self {
        self.undecided = undecided;
        self
    }
}

impl<S> Layer<S> for AuthzLayer {
    type Service = AuthzService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthzService {
            inner,
            shared: self.shared.clone(),
            undecided: self.undecided,
        }
    }
}

/// The service built by [`AuthzLayer`]: it attaches the engine to each request and checks that a
/// success carries a decision.
#[derive(Clone)]
pub struct AuthzService<S> {
    inner: S,
    shared: Shared,
    undecided: UndecidedSuccess,
}

impl<S, B> Service<Request<B>> for AuthzService<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Decided<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let mark = DecisionMark::default();
        // Kept for the error message only: a matched path is a shared string, cheap to clone.
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        req.extensions_mut().insert(self.shared.clone());
        req.extensions_mut().insert(mark.clone());
        Decided {
            inner: self.inner.call(req),
            check: Some((mark, self.undecided, method, route)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`AuthzService`].
    pub struct Decided<F> {
        #[pin]
        inner: F,
        check: Option<(DecisionMark, UndecidedSuccess, http::Method, Option<MatchedPath>)>,
    }
}

impl<F, E> Future for Decided<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.inner.poll(cx) {
            Poll::Ready(Ok(response)) => response,
            other => return other,
        };
        let Some((mark, undecided, method, route)) = this.check.take() else {
            return Poll::Ready(Ok(response));
        };
        if !response.status().is_success() || mark.0.load(Ordering::Acquire) {
            return Poll::Ready(Ok(response));
        }
        let route = route
            .as_ref()
            .map_or("an unmatched route", MatchedPath::as_str);
        tracing::error!(
            %method,
            route,
            status = response.status().as_u16(),
            "a handler answered success without an authorization decision"
        );
        Poll::Ready(Ok(match undecided {
            UndecidedSuccess::Log => response,
            UndecidedSuccess::Fail => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "no authorization decision",
            )
            .with_detail(format!(
                "{method} {route} answered success without calling Authz::require or Authz::check"
            ))
            .into_response(),
        }))
    }
}

/// The handler's view of authorization: `authz.require("update", &note).await?` allows or answers 403.
pub struct Authz {
    principal: Principal,
    shared: Shared,
    /// The engines of one bundle, taken when the request reached the handler: every decision of
    /// a request is made with the same policies.
    engines: Arc<Engines>,
    trace: Option<TraceContext>,
    mark: Option<DecisionMark>,
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
        self.mark_decided();
        let tenant = &self.principal.tenant;
        let decision = match self.engines.for_tenant(tenant).authorize(
            &self.principal,
            action,
            resource,
            context,
        ) {
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
            .decision_input(crate::audit::DecisionInput::new(
                &self.principal,
                resource,
                context,
            ))
            .trace(self.trace.as_ref());
        if !decision.allowed {
            metrics::counter!("palisade_authz_denials_total", "action" => action.to_owned())
                .increment(1);
            entry = entry.reason(if decision.policies.is_empty() {
                "no policy permits"
            } else {
                "forbidden by policy"
            });
        }
        self.shared.audit.emit(entry).await;
        if let Some(shadow) = self.engines.shadow_for(tenant) {
            self.shadow(shadow, action, resource, context, &decision)
                .await;
        }
        if decision.allowed {
            Ok(decision)
        } else {
            Err(Problem::forbidden())
        }
    }

    /// Decides again with the tenant's shadow set and audits a different answer as a flip
    /// (`palisade.authz.shadow_flip`: what the shadow decided, the policies of both, and the
    /// enforced decision in the reason). Never enforced.
    async fn shadow(
        &self,
        shadow: &super::PolicyEngine,
        action: &str,
        resource: &Resource,
        context: &serde_json::Value,
        enforced: &Decision,
    ) {
        let Ok(shadowed) = shadow.authorize(&self.principal, action, resource, context) else {
            return;
        };
        if shadowed.allowed == enforced.allowed {
            return;
        }
        let outcome = if shadowed.allowed {
            Outcome::Success
        } else {
            Outcome::Denied
        };
        let entry = self
            .shared
            .audit
            .entry(event_type::AUTHZ_SHADOW_FLIP, action, outcome)
            .principal(&self.principal)
            .resource(&resource.display_name())
            .policies(&shadowed.policies)
            .reason(&format!(
                "shadow set {} where the active set {} (by {})",
                if shadowed.allowed { "allows" } else { "denies" },
                if enforced.allowed { "allows" } else { "denies" },
                if enforced.policies.is_empty() {
                    "no policy".to_owned()
                } else {
                    enforced.policies.join(", ")
                }
            ))
            .trace(self.trace.as_ref());
        metrics::counter!("palisade_authz_shadow_flips_total", "action" => action.to_owned())
            .increment(1);
        self.shared.audit.emit(entry).await;
    }

    fn mark_decided(&self) {
        if let Some(mark) = &self.mark {
            mark.0.store(true, Ordering::Release);
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
        self.mark_decided();
        self.engines
            .for_tenant(&self.principal.tenant)
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
        let mark = parts.extensions.get::<DecisionMark>().cloned();
        let engines = shared.policies.engines();
        Ok(Self {
            principal,
            engines,
            shared,
            trace,
            mark,
        })
    }
}
