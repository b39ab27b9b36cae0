//! `AuthnLayer`: turns `Authorization: Bearer` into a `Principal` in request extensions, or a 401 with an audit entry.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::Request;

use super::{Authenticator, AuthnError};
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
    audit: AuditEmitter,
}

impl AuthnLayer {
    /// A layer validating with `authenticator` and auditing failures to `audit`.
    pub fn authenticate(authenticator: Arc<Authenticator>, audit: AuditEmitter) -> Self {
        CheckLayer::new(AuthnCheck {
            authenticator,
            audit,
        })
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
                    req.extensions_mut().insert(principal);
                    Ok(req)
                }
                Err(error) => {
                    let entry = this
                        .audit
                        .entry(event_type::AUTHN_FAILURE, "authenticate", Outcome::Failure)
                        .resource(req.uri().path())
                        .reason(&error.to_string())
                        .trace(req.extensions().get::<TraceContext>());
                    this.audit.emit(entry).await;
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
