//! The security stack under load and misuse, over real HTTP through `serve`: rate limits per address and per client answer 429 with `Retry-After`, an unauthenticated flood is audited in aggregate without stalling authenticated requests, the in-flight limit sheds with 503, a shutdown fails readiness before it stops accepting, and a handler that answers success without an authorization decision is caught.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use http::{Request, StatusCode, header};
use palisade_runtime::audit::{AuditEmitter, EmitterConfig, MemorySink, event_type};
use palisade_runtime::authn::{Authenticator, FailureAuditPolicy};
use palisade_runtime::authz::{Authz, Resource, UndecidedSuccess};
use palisade_runtime::limit::{RateLimit, RateLimits};
use palisade_runtime::serve::{Readiness, ServeConfig, serve};
use palisade_runtime::stack::SecurityStack;
use palisade_runtime::testing::TestAuthority;
use palisade_runtime::{Problem, TenantId};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::support::{AUDIENCE, ISSUER, engine};

struct Served {
    base: String,
    sink: MemorySink,
    audit: AuditEmitter,
    authority: TestAuthority,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// A route that decides (`/tenants/{tenant}/notes`), one that forgets to (`/forgot`), and one
/// that answers 404 without deciding (`/tenants/{tenant}/missing`).
fn routes() -> Router {
    Router::new()
        .route(
            "/tenants/{tenant}/notes",
            get(|authz: Authz, tenant: TenantId| async move {
                authz
                    .require(
                        "read",
                        &Resource::new("App::Note", "n1", &tenant).attr("owner", "alice"),
                    )
                    .await?;
                Ok::<_, Problem>("notes")
            }),
        )
        .route(
            "/tenants/{tenant}/forgot",
            get(|_authz: Authz| async { "leaked" }),
        )
        .route(
            "/tenants/{tenant}/missing/{id}",
            get(|Path((_, _id)): Path<(String, String)>| async { StatusCode::NOT_FOUND }),
        )
}

fn stack(
    limits: RateLimits,
    failures: FailureAuditPolicy,
) -> (SecurityStack, MemorySink, AuditEmitter, TestAuthority) {
    let authority = TestAuthority::new(ISSUER, AUDIENCE);
    let sink = MemorySink::new();
    let audit = AuditEmitter::spawn(
        "urn:palisade:test",
        Arc::new(sink.clone()),
        EmitterConfig::default(),
    );
    let authenticator = Arc::new(Authenticator::new(authority.authn_config()).unwrap());
    let stack = SecurityStack::new(authenticator, engine(), audit.clone())
        .with_rate_limits(limits)
        .with_failure_audit(failures);
    (stack, sink, audit, authority)
}

async fn start(limits: RateLimits, failures: FailureAuditPolicy, config: ServeConfig) -> Served {
    let (stack, sink, audit, authority) = stack(limits, failures);
    let router = stack.apply(routes());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router, config, async {
        let _ = stopped.await;
    }));
    Served {
        base,
        sink,
        audit,
        authority,
        stop: Some(stop),
        task,
    }
}

impl Served {
    fn reader(&self, subject: &str) -> String {
        self.authority
            .token("acme", subject)
            .roles(&["reader"])
            .sign()
    }
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after_per_address_then_per_client() {
    let limits = RateLimits {
        per_address: RateLimit::new(1, 30),
        per_client: RateLimit::new(1, 5),
    };
    let served = start(
        limits,
        FailureAuditPolicy::default(),
        ServeConfig::default(),
    )
    .await;
    let http = reqwest::Client::new();
    let notes = format!("{}/tenants/acme/notes", served.base);

    // One client: its own burst of 5, then 429 with Retry-After.
    let alice = served.reader("alice");
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let response = http.get(&notes).bearer_auth(&alice).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = response.headers()[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&retry), "Retry-After {retry}");
            assert_eq!(
                response.headers()[header::CONTENT_TYPE],
                "application/problem+json"
            );
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429], "per client");

    // Another client from the same address is not limited by alice's rate...
    let bob = served.reader("bob");
    assert_eq!(
        http.get(&notes)
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // ...but the address is: 30 requests in all, authenticated or not, then 429 before authentication.
    let mut refused_anonymous = 0;
    for _ in 0..40 {
        let status = http.get(&notes).send().await.unwrap().status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused_anonymous += 1;
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    assert!(
        refused_anonymous >= 40 - 30 + 8,
        "{refused_anonymous} of 40 anonymous requests refused by the address limit"
    );
    let refused = http
        .get(&notes)
        .bearer_auth(served.reader("carol"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the address limit applies before authentication"
    );
}

#[tokio::test]
async fn an_unauthenticated_flood_is_audited_in_aggregate_and_does_not_stall_authenticated_requests()
 {
    let failures = FailureAuditPolicy {
        individual_per_window: 5,
        window: Duration::from_millis(500),
    };
    let served = start(RateLimits::off(), failures, ServeConfig::default()).await;
    let http = reqwest::Client::new();
    let notes = format!("{}/tenants/acme/notes", served.base);
    let flood: Vec<_> = (0..8)
        .map(|_| {
            let http = http.clone();
            let notes = notes.clone();
            tokio::spawn(async move {
                let mut refused = 0u64;
                for _ in 0..50 {
                    let response = http
                        .get(&notes)
                        .bearer_auth("not-a-token")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
                    refused += 1;
                }
                refused
            })
        })
        .collect();
    // Authenticated requests are served while the flood runs.
    let reader = served.reader("alice");
    for _ in 0..20 {
        let started = std::time::Instant::now();
        let response = http.get(&notes).bearer_auth(&reader).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "an authenticated request waited {:?}",
            started.elapsed()
        );
    }
    let mut total = 0;
    for task in flood {
        total += task.await.unwrap();
    }
    assert_eq!(total, 400);
    // The ticker closes the last window; then every failure is accounted for, most of them counted.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    served.audit.flush().await;
    let entries = served.sink.entries();
    let individual = entries
        .iter()
        .filter(|e| e.event_type == event_type::AUTHN_FAILURE)
        .count() as u64;
    let counted: u64 = entries
        .iter()
        .filter(|e| e.event_type == event_type::AUTHN_FAILURES_COUNTED)
        .map(|e| {
            let reason = e.data.reason.as_deref().unwrap();
            reason
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(
        individual + counted,
        total,
        "{individual} audited one by one, {counted} counted"
    );
    assert!(
        individual < total / 4,
        "{individual} of {total} failures were audited one by one"
    );
}

#[tokio::test]
async fn the_in_flight_limit_sheds_with_503() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "done"
        }),
    );
    let config = ServeConfig {
        max_in_flight: 1,
        ..ServeConfig::default()
    };
    tokio::spawn(serve(listener, router, config, std::future::pending()));
    let http = reqwest::Client::new();
    let first = tokio::spawn({
        let (http, url) = (http.clone(), format!("{base}/slow"));
        async move { http.get(url).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = http.get(format!("{base}/slow")).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        second.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(first.await.unwrap(), StatusCode::OK);
}

#[tokio::test]
async fn a_shutdown_fails_readiness_first_then_stops_accepting() {
    let readiness = Readiness::new();
    let config = ServeConfig {
        readiness: readiness.clone(),
        unready_grace: Duration::from_millis(700),
        drain_timeout: Duration::from_secs(2),
        ..ServeConfig::default()
    };
    let mut served = start(RateLimits::off(), FailureAuditPolicy::default(), config).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let notes = format!("{}/tenants/acme/notes", served.base);
    let reader = served.reader("alice");
    assert!(readiness.is_ready());
    served.stop.take().unwrap().send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        !readiness.is_ready(),
        "readiness fails as soon as the shutdown begins"
    );
    assert_eq!(
        http.get(&notes)
            .bearer_auth(&reader)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "new connections are still served during the grace period"
    );
    tokio::time::timeout(Duration::from_secs(5), &mut served.task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        http.get(&notes).bearer_auth(&reader).send().await.is_err(),
        "the listener is closed after the grace period"
    );
}

#[tokio::test]
async fn a_success_without_an_authorization_decision_fails_by_default_in_debug_builds() {
    let (stack, _sink, _audit, authority) = stack(RateLimits::off(), FailureAuditPolicy::default());
    let token = authority.token("acme", "alice").roles(&["reader"]).sign();
    let call = |router: Router, uri: &'static str| {
        let token = token.clone();
        async move {
            let request = Request::get(uri)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        }
    };
    // Tests build with debug assertions, where the default is UndecidedSuccess::Fail.
    let checked = stack.apply(routes());
    assert_eq!(
        call(checked.clone(), "/tenants/acme/notes").await,
        StatusCode::OK
    );
    assert_eq!(
        call(checked.clone(), "/tenants/acme/forgot").await,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        call(checked, "/tenants/acme/missing/1").await,
        StatusCode::NOT_FOUND,
        "a refusal needs no decision"
    );
    let logged = stack
        .with_undecided_success(UndecidedSuccess::Log)
        .apply(routes());
    assert_eq!(
        call(logged, "/tenants/acme/forgot").await,
        StatusCode::OK,
        "Log passes the answer on"
    );
}
