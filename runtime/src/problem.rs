//! The one place that turns a rejection into an HTTP response: RFC 9457 `application/problem+json`, for the runtime's own refusals and, through [`as_problems`], every other error answer of a service.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::trace::TraceContext;

/// The largest error body [`as_problems`] reads to keep as the problem's detail.
const MAX_ERROR_BODY: usize = 16 * 1024;
/// The longest detail [`as_problems`] keeps.
const MAX_DETAIL: usize = 512;

/// An HTTP problem answer. Every rejection of the runtime's layers and extractors is one.
///
/// The `detail` is deliberately generic for authentication failures: the caller learns that the
/// token was refused, never why (that goes to the audit log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The HTTP status.
    #[serde(serialize_with = "serialize_status")]
    pub status: StatusCode,
    /// A short, stable summary of the problem type.
    pub title: &'static str,
    /// A human-readable explanation that leaks nothing sensitive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip)]
    www_authenticate: Option<&'static str>,
}

fn serialize_status<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl Problem {
    /// A problem with a status and title.
    pub fn new(status: StatusCode, title: &'static str) -> Self {
        Self {
            status,
            title,
            detail: None,
            www_authenticate: None,
        }
    }

    /// Adds a detail line.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// 401 for a request without credentials (RFC 6750 section 3: no error code).
    pub fn missing_token() -> Self {
        Self {
            www_authenticate: Some("Bearer"),
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized")
        }
    }

    /// 401 for a token that was refused, whatever the reason.
    pub fn invalid_token() -> Self {
        Self {
            www_authenticate: Some(r#"Bearer error="invalid_token""#),
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized")
        }
    }

    /// 403 for a request the caller may not make.
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden")
    }

    /// 500 for a handler that asked for what a layer should have provided: a wiring bug.
    pub fn missing_layer() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "security layer missing")
    }

    /// 503 for a dependency (key set, introspection, audit) that could not be reached.
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service unavailable")
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// Middleware (`axum::middleware::from_fn(as_problems)`) that makes every error answer (status
/// 400 and above) an `application/problem+json` body carrying the request's trace id
/// (`trace_id`): the runtime's problems get the trace id added, and other answers (axum's own
/// rejections: malformed JSON 400, wrong content type 415, invalid JSON data 422, body over the
/// limit 413, unknown route 404, method not allowed 405) become problems with their status, its
/// reason as the title and their short text as the detail. Headers such as `Allow`,
/// `Retry-After` and `WWW-Authenticate` are kept.
pub async fn as_problems(request: Request, next: Next) -> Response {
    let trace = request.extensions().get::<TraceContext>().copied();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let parsed = is_problem
        .then(|| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .flatten()
        .filter(serde_json::Value::is_object);
    let mut problem = match parsed {
        Some(problem) => problem,
        None => {
            let mut problem = serde_json::json!({
                "status": status.as_u16(),
                "title": status.canonical_reason().unwrap_or("error").to_ascii_lowercase(),
            });
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim();
            if !text.is_empty() {
                let detail: String = text.chars().take(MAX_DETAIL).collect();
                problem["detail"] = serde_json::Value::String(detail);
            }
            problem
        }
    };
    if let Some(trace) = trace {
        problem["trace_id"] = serde_json::Value::String(trace.trace_id().to_string());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(body))
}
