//! W3C Trace Context: `traceparent` parsing, replacement of bad values, propagation, and the trace layer.

use std::fmt;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;

/// The `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";

/// A parsed W3C trace context (version 00).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

impl TraceContext {
    /// Parses a `traceparent` value; `None` for anything malformed or all-zero.
    ///
    /// Future versions (not `00`, not `ff`) are accepted when their first four fields are well formed,
    /// as the specification asks.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let parent = parts.next()?;
        let flags = parts.next()?;
        let rest = parts.next();
        if version.len() != 2 || version == "ff" || !is_lower_hex(version) {
            return None;
        }
        if version == "00" && rest.is_some() {
            return None;
        }
        if trace.len() != 32 || parent.len() != 16 || flags.len() != 2 {
            return None;
        }
        if !is_lower_hex(trace) || !is_lower_hex(parent) || !is_lower_hex(flags) {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        let mut flag = [0u8; 1];
        hex::decode_to_slice(trace, &mut trace_id).ok()?;
        hex::decode_to_slice(parent, &mut parent_id).ok()?;
        hex::decode_to_slice(flags, &mut flag).ok()?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags: flag[0],
        })
    }

    /// A fresh, random trace context (sampled flag off).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        random(&mut bytes);
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        trace_id.copy_from_slice(&bytes[..16]);
        parent_id.copy_from_slice(&bytes[16..]);
        Self {
            trace_id,
            parent_id,
            flags: 0,
        }
    }

    /// Takes the incoming header when valid, else starts a new trace.
    pub fn from_header_or_new(value: Option<&HeaderValue>) -> Self {
        value
            .and_then(|v| v.to_str().ok())
            .and_then(Self::parse)
            .unwrap_or_else(Self::generate)
    }

    /// A child context: same trace, new span id, same flags, for an outbound call.
    pub fn child(&self) -> Self {
        let mut parent_id = [0u8; 8];
        random(&mut parent_id);
        Self { parent_id, ..*self }
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// The parent (span) id as 16 lowercase hex digits.
    pub fn parent_id(&self) -> String {
        hex::encode(self.parent_id)
    }

    /// Whether the caller sampled this trace (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The header value to send downstream.
    pub fn to_header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.to_string()).expect("hex and dashes are valid header bytes")
    }
}

/// Fills `bytes` from aws-lc's user-space CSPRNG (no system call per id, unlike `getrandom`).
pub(crate) fn random(bytes: &mut [u8]) {
    aws_lc_rs::rand::fill(bytes).expect("the system random generator is available");
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.parent_id),
            self.flags
        )
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceContext({self})")
    }
}

/// Puts a [`TraceContext`] in every request's extensions, opens a `tracing` span carrying the trace
/// id, and returns the `traceparent` on the response.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = Trace<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Trace { inner }
    }
}

/// The service built by [`TraceLayer`].
#[derive(Clone, Debug)]
pub struct Trace<S> {
    inner: S,
}

impl<S, B, ResB> Service<Request<B>> for Trace<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
    S::Future: Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = futures_util::future::BoxFuture<'static, Result<Response<ResB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The access layer, when it runs outside, has already taken the context: share it.
        let ctx = req
            .extensions()
            .get::<TraceContext>()
            .copied()
            .unwrap_or_else(|| TraceContext::from_header_or_new(req.headers().get(TRACEPARENT)));
        req.extensions_mut().insert(ctx);
        let span = tracing::info_span!("request", trace_id = %ctx.trace_id(), method = %req.method(), path = %req.uri().path());
        let fut = self.inner.call(req);
        Box::pin(
            async move {
                let mut res = fut.await?;
                res.headers_mut().insert(TRACEPARENT, ctx.to_header_value());
                Ok(res)
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, valid: bool) {
        assert_eq!(
            TraceContext::parse(input).is_some(),
            valid,
            "input {input:?}"
        );
    }

    #[test]
    fn traceparent_values() {
        check(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            true,
        );
        check(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            true,
        );
        check(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            false,
        );
        check(
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            false,
        );
        check(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            false,
        );
        check(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            false,
        );
        check(
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            false,
        );
        check(
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            false,
        );
        check("", false);
        check("garbage", false);
    }

    #[test]
    fn round_trip_and_child() {
        let v = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let ctx = TraceContext::parse(v).unwrap();
        assert_eq!(ctx.to_string(), v);
        assert_eq!(ctx.parent_id(), "00f067aa0ba902b7");
        assert!(ctx.sampled());
        assert!(!TraceContext::generate().sampled());
        let child = ctx.child();
        assert_eq!(child.trace_id(), ctx.trace_id());
        assert_ne!(child.to_string(), v);
    }

    #[test]
    fn malformed_header_is_replaced() {
        let bad =
            HeaderValue::from_static("00-00000000000000000000000000000000-0000000000000000-00");
        let ctx = TraceContext::from_header_or_new(Some(&bad));
        assert_ne!(ctx.trace_id(), "0".repeat(32));
        assert!(TraceContext::parse(&ctx.to_string()).is_some());
    }
}
