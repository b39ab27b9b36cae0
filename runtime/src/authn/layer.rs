//! `AuthnLayer`: turns `Authorization: Bearer` into a `Principal` in request extensions, or a 401 with an audit entry.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::{Request, header};
use tower_layer::Layer;
use tower_service::Service;

use super::{Authenticator, AuthnError};
use crate::audit::{AuditEmitter, Outcome, event_type};
use crate::problem::Problem;
use crate::trace::TraceContext;

/// Authenticates every request. Requests without a valid token never reach the inner service.
#[derive(Clone)]
pub struct AuthnLayer {
    authenticator: Arc<Authenticator>,
    audit: AuditEmitter,
}

impl AuthnLayer {
    /// A layer validating with `authenticator` and auditing failures to `audit`.
    pub fn new(authenticator: Arc<Authenticator>, audit: AuditEmitter) -> Self {
        Self {
            authenticator,
            audit,
        }
    }
}

impl<S> Layer<S> for AuthnLayer {
    type Service = Authn<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Authn {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service built by [`AuthnLayer`].
#[derive(Clone)]
pub struct Authn<S> {
    inner: S,
    layer: AuthnLayer,
}

impl<S, B> Service<Request<B>> for Authn<S>
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

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone is ready-polled later by whoever drives it; swap so `self` keeps the polled one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let result = match bearer_token(&req) {
                Ok(token) => layer.authenticator.authenticate(token).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(principal) => {
                    req.extensions_mut().insert(principal);
                    inner.call(req).await
                }
                Err(error) => {
                    let trace = req.extensions().get::<TraceContext>();
                    let entry = layer
                        .audit
                        .entry(event_type::AUTHN_FAILURE, "authenticate", Outcome::Failure)
                        .resource(req.uri().path())
                        .reason(&error.to_string())
                        .trace(trace);
                    layer.audit.emit(entry).await;
                    tracing::info!(%error, "request refused by authentication");
                    Ok(rejection(&error).into_response())
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

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 9110).
fn bearer_token<B>(req: &Request<B>) -> Result<&str, AuthnError> {
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(if req.headers().contains_key(header::AUTHORIZATION) {
            AuthnError::Malformed("more than one authorization header")
        } else {
            AuthnError::Missing
        });
    };
    let value = value
        .to_str()
        .map_err(|_| AuthnError::Malformed("authorization header is not ASCII"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(AuthnError::Malformed("authorization header has no scheme"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthnError::Missing);
    }
    Ok(token)
}
