//! The one place that turns a rejection into an HTTP response: RFC 9457 `application/problem+json`.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

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
