//! The outermost layers of a service: every error answer is a problem carrying the trace id (axum's own rejections included), one access-log line per request names its route, status, tenant and client, and the request, authentication and authorization metrics are recorded.

use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{Request, StatusCode, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use palisade_runtime::access::AccessLayer;
use palisade_runtime::authz::{Authz, Resource};
use palisade_runtime::limit::RateLimits;
use palisade_runtime::problem::as_problems;
use palisade_runtime::testing::TestAuthority;
use palisade_runtime::trace::TraceContext;
use palisade_runtime::{Problem, TenantId};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::{AUDIENCE, ISSUER, stack};

/// The Prometheus recorder, installed once for this test process.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets(palisade_runtime::access::LATENCY_BUCKETS)
            .unwrap()
            .install_recorder()
            .unwrap()
    })
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Input {
    title: String,
}

/// A decided read, a create taking JSON, behind the stack; the outer layers as a service uses them.
fn app(authority: &TestAuthority) -> Router {
    let (stack, _sink, _audit) = stack(authority.authn_config(), Default::default());
    let routes = Router::new()
        .route(
            "/tenants/{tenant}/notes",
            get(|authz: Authz, tenant: TenantId| async move {
                let note = Resource::new("App::Note", "n1", &tenant).attr("owner", "alice");
                authz.require("read", &note).await?;
                Ok::<_, Problem>("notes")
            }),
        )
        .route(
            "/tenants/{tenant}/notes/new",
            post(
                |authz: Authz, tenant: TenantId, Json(_): Json<Input>| async move {
                    let note = Resource::new("App::Note", "new", &tenant).attr("owner", "alice");
                    authz.require("write", &note).await?;
                    Ok::<_, Problem>(StatusCode::CREATED)
                },
            ),
        )
        .layer(axum::extract::DefaultBodyLimit::max(64));
    stack
        .with_rate_limits(RateLimits::off())
        .apply(routes)
        .layer(axum::middleware::from_fn(as_problems))
        .layer(AccessLayer)
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, http::HeaderMap, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (
        parts.status,
        parts.headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn every_error_answer_is_a_problem_with_the_trace_id() {
    let authority = TestAuthority::new(ISSUER, AUDIENCE);
    let router = app(&authority);
    let writer = authority.token("acme", "alice").roles(&["writer"]).sign();
    let bearer = format!("Bearer {writer}");
    let post = |body: &'static str, content_type: &'static str| {
        Request::post("/tenants/acme/notes/new")
            .header(header::AUTHORIZATION, bearer.clone())
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let cases: Vec<(&str, Request<Body>, StatusCode)> = vec![
        (
            "unknown route",
            Request::get("/nowhere").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
        ),
        (
            "wrong method",
            Request::delete("/tenants/acme/notes")
                .header(header::AUTHORIZATION, bearer.clone())
                .body(Body::empty())
                .unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            "no token",
            Request::get("/tenants/acme/notes")
                .body(Body::empty())
                .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "malformed JSON",
            post("{", "application/json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "JSON of the wrong shape",
            post(r#"{"title": 5}"#, "application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "not JSON",
            post("title=x", "application/x-www-form-urlencoded"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "body over the limit",
            post(
                r#"{"title": "an overly long title that does not fit the limit at all"}"#,
                "application/json",
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (name, request, expected) in cases {
        let (status, headers, body) = send(&router, request).await;
        assert_eq!(status, expected, "{name}: {body}");
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "application/problem+json",
            "{name}"
        );
        assert_eq!(body["status"], expected.as_u16(), "{name}: {body}");
        assert!(body["title"].is_string(), "{name}: {body}");
        let traceparent = headers[TRACEPARENT_HEADER].to_str().unwrap();
        let trace = TraceContext::parse(traceparent).unwrap();
        assert_eq!(
            body["trace_id"],
            trace.trace_id().to_string(),
            "{name}: {body}"
        );
    }
    let (_, headers, _) = send(
        &router,
        Request::delete("/tenants/acme/notes")
            .header(header::AUTHORIZATION, bearer.clone())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        headers.contains_key(header::ALLOW),
        "405 keeps its Allow header"
    );
    let (_, _, body) = send(&router, post(r#"{"title": 5}"#, "application/json")).await;
    assert!(
        body["detail"].as_str().unwrap().contains("title"),
        "the rejection's text is the detail: {body}"
    );

    // An incoming trace is continued: the problem names its trace id.
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let request = Request::get("/tenants/acme/notes")
        .header(TRACEPARENT_HEADER, incoming)
        .body(Body::empty())
        .unwrap();
    let (_, _, body) = send(&router, request).await;
    assert_eq!(body["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

const TRACEPARENT_HEADER: &str = palisade_runtime::trace::TRACEPARENT;

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The log lines of this test process, captured by a global subscriber installed once (a scoped
/// one misses events whose call site another test thread registered first).
fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
}

#[tokio::test]
async fn one_access_line_per_request_names_route_status_tenant_and_client() {
    let logs = logs();
    let authority = TestAuthority::new(ISSUER, AUDIENCE);
    let router = app(&authority);
    let reader = authority.token("acme", "rita").roles(&["reader"]).sign();
    let request = Request::get("/tenants/acme/notes")
        .header(header::AUTHORIZATION, format!("Bearer {reader}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&router, request).await;
    assert_eq!(status, StatusCode::OK);
    let trace = TraceContext::parse(headers[TRACEPARENT_HEADER].to_str().unwrap()).unwrap();
    let trace_id = trace.trace_id().to_string();
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "access")
        .filter(|l| l["fields"]["trace_id"] == trace_id.as_str())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    let fields = &lines[0]["fields"];
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["route"], "/tenants/{tenant}/notes");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["tenant"], "acme");
    assert_eq!(fields["client_id"], "test-client");
    assert_eq!(fields["trace_id"], trace_id.as_str());
    assert!(
        fields["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{fields}"
    );
}

#[tokio::test]
async fn requests_refusals_and_denials_are_counted() {
    let metrics = prometheus();
    let authority = TestAuthority::new(ISSUER, AUDIENCE);
    let router = app(&authority);
    let nobody = authority.token("acme", "nina").sign();
    for token in [None, Some("not.a.jwt"), Some(nobody.as_str())] {
        let mut request = Request::get("/tenants/acme/notes");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        send(&router, request.body(Body::empty()).unwrap()).await;
    }
    let text = metrics.render();
    for expected in [
        r#"palisade_http_requests_total{method="GET",route="/tenants/{tenant}/notes",status="401"}"#,
        r#"palisade_http_requests_total{method="GET",route="/tenants/{tenant}/notes",status="403"}"#,
        r#"palisade_authn_failures_total{reason="missing"}"#,
        r#"palisade_authn_failures_total{reason="malformed"}"#,
        r#"palisade_authz_denials_total{action="read"}"#,
        "palisade_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
}
