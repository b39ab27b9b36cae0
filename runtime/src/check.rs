//! The shared shape of the runtime's asynchronous request checks: a policy that passes a request on
//! (possibly enriched) or answers it, wrapped as a tower `Layer` and `Service`.

use std::task::{Context, Poll};

use axum::response::Response;
use futures_util::future::BoxFuture;
use http::Request;
use tower_layer::Layer;
use tower_service::Service;

/// Decides whether a request goes on to the inner service. Closures returning a boxed future
/// satisfy it too, so application glue needs no new type.
pub trait AsyncCheck<B>: Clone + Send + Sync + 'static {
    /// Returns the request to pass on, or the response to answer with instead.
    fn check(&self, request: Request<B>) -> BoxFuture<'static, Result<Request<B>, Response>>;
}

impl<B, F> AsyncCheck<B> for F
where
    F: Fn(Request<B>) -> BoxFuture<'static, Result<Request<B>, Response>>
        + Clone
        + Send
        + Sync
        + 'static,
{
    fn check(&self, request: Request<B>) -> BoxFuture<'static, Result<Request<B>, Response>> {
        self(request)
    }
}

/// A layer applying an [`AsyncCheck`] before the inner service.
#[derive(Clone, Debug)]
pub struct CheckLayer<C> {
    check: C,
}

impl<C> CheckLayer<C> {
    /// A layer running `check` on every request.
    pub fn new(check: C) -> Self {
        Self { check }
    }

    /// The check this layer runs.
    pub fn check(&self) -> &C {
        &self.check
    }
}

impl<S, C: Clone> Layer<S> for CheckLayer<C> {
    type Service = Checked<S, C>;
    fn layer(&self, inner: S) -> Self::Service {
        Checked {
            inner,
            check: self.check.clone(),
        }
    }
}

/// The service built by [`CheckLayer`].
#[derive(Clone, Debug)]
pub struct Checked<S, C> {
    inner: S,
    check: C,
}

impl<S, C, B> Service<Request<B>> for Checked<S, C>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    C: AsyncCheck<B>,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The service that was polled ready is the one that must be called; keep a fresh clone here.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let decision = self.check.check(request);
        Box::pin(async move {
            match decision.await {
                Ok(request) => inner.call(request).await,
                Err(response) => Ok(response),
            }
        })
    }
}
