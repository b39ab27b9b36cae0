//! `AuthnLayer`: turns `Authorization: Bearer` into a `Principal` in request extensions, or a 401 with an audit entry.

use std::sync::{Arc, Weak};
use std::time::Instant;

use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::Request;

use super::failures::{FailureAudit, FailureAuditPolicy};
use super::{Authenticator, AuthnError};
use crate::access::CallerNote;
use crate::audit::{AuditEmitter, Outcome, event_type};
use crate::check::{AsyncCheck, CheckLayer, Checked};
use crate::problem::Problem;
use crate::trace::TraceContext;

/// Authenticates every request. Requests without a valid token never reach the inner service.
pub type AuthnLayer = CheckLayer<AuthnCheck>;

/// The service built by [`AuthnLayer`].
pub type Authn<S> = Checked<S, AuthnCheck>;

/// The authentication check: validates the bearer token and stores the principal.
#[derive(Clone)]
pub struct AuthnCheck {
    authenticator: Arc<Authenticator>,
    failures: Arc<Failures>,
}

/// Failure auditing: the emitter and the flood counter.
struct Failures {
    audit: AuditEmitter,
    counter: FailureAudit,
}

impl Failures {
    async fn report_counted(&self, count: u64) {
        let policy = self.counter.policy();
        let entry = self
            .audit
            .entry(
                event_type::AUTHN_FAILURES_COUNTED,
                "authenticate",
                Outcome::Failure,
            )
            .resource("authentication failures")
            .reason(&format!(
                "{count} authentication failures over {} per {:?} were counted, not audited one by one",
                policy.individual_per_window, policy.window
            ));
        self.audit.emit(entry).await;
        tracing::warn!(count, "authentication failures over the audit rate");
    }
}

impl AuthnLayer {
    /// A layer validating with `authenticator` and auditing failures to `audit`, one by one up
    /// to the default [`FailureAuditPolicy`] and counted above it.
    pub fn authenticate(authenticator: Arc<Authenticator>, audit: AuditEmitter) -> Self {
        Self::authenticate_with(authenticator, audit, FailureAuditPolicy::default())
    }

    /// [`authenticate`](Self::authenticate) with another failure audit policy.
    pub fn authenticate_with(
        authenticator: Arc<Authenticator>,
        audit: AuditEmitter,
        policy: FailureAuditPolicy,
    ) -> Self {
        let failures = Arc::new(Failures {
            audit,
            counter: FailureAudit::new(policy),
        });
        // Reports the last window of a flood without waiting for another failure; it stops when
        // the layer and every service built from it are gone.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(report_counted_failures(Arc::downgrade(&failures), policy));
        }
        CheckLayer::new(AuthnCheck {
            authenticator,
            failures,
        })
    }
}

async fn report_counted_failures(failures: Weak<Failures>, policy: FailureAuditPolicy) {
    let mut ticks = tokio::time::interval(policy.window.max(std::time::Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(failures) = failures.upgrade() else {
            return;
        };
        if let Some(count) = failures.counter.close_expired(Instant::now()) {
            failures.report_counted(count).await;
        }
    }
}

impl<B: Send + 'static> AsyncCheck<B> for AuthnCheck {
    fn check(&self, mut req: Request<B>) -> BoxFuture<'static, Result<Request<B>, Response>> {
        let this = self.clone();
        Box::pin(async move {
            let result = match super::bearer_token(req.headers()) {
                Ok(token) => this.authenticator.authenticate(token).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(principal) => {
                    if let Some(note) = req.extensions().get::<CallerNote>() {
                        note.note(&principal);
                    }
                    req.extensions_mut().insert(principal);
                    Ok(req)
                }
                Err(error) => {
                    metrics::counter!("palisade_authn_failures_total", "reason" => error.kind())
                        .increment(1);
                    let failures = &this.failures;
                    let admission = failures.counter.admit(Instant::now());
                    if let Some(count) = admission.aggregate {
                        failures.report_counted(count).await;
                    }
                    if admission.individual {
                        let entry = failures
                            .audit
                            .entry(event_type::AUTHN_FAILURE, "authenticate", Outcome::Failure)
                            .resource(req.uri().path())
                            .reason(&error.to_string())
                            .trace(req.extensions().get::<TraceContext>());
                        failures.audit.emit(entry).await;
                    }
                    tracing::info!(%error, "request refused by authentication");
                    Err(rejection(&error).into_response())
                }
            }
        })
    }
}

fn rejection(error: &AuthnError) -> Problem {
    match error {
        AuthnError::Missing => Problem::missing_token(),
        e if e.is_unavailable() => Problem::unavailable(),
        _ => Problem::invalid_token(),
    }
}
