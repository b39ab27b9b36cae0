//! The data-driven negative suite: hostile and broken requests through the real layer stack (tower `oneshot`), and where the stack is wired.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderValue, Method, Request, StatusCode, header};
use jsonwebtoken::Algorithm;
use palisade_runtime::audit::{AuditEntry, event_type};
use palisade_runtime::stack::SecurityStack;
use palisade_runtime::tenant::TenantGuardConfig;
use palisade_runtime::testing::{ES256_KID, RS256_KID, TestAuthority};
use serde_json::{Value, json};
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};

use crate::support::{AUDIENCE, ISSUER, app, app_with_guard};

/// One request and what must come of it.
struct Case {
    name: &'static str,
    method: Method,
    path: &'static str,
    token: Token,
    headers: &'static [(&'static str, &'static str)],
    status: StatusCode,
    /// The event type of the one audit entry the request must produce, if any.
    audit: Option<&'static str>,
}

enum Token {
    None,
    Raw(String),
    Header(&'static str),
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(a: &TestAuthority) -> Value {
    let n = now();
    json!({ "iss": a.issuer(), "aud": a.audience(), "sub": "alice", "tenant_id": "acme", "iat": n, "nbf": n,
            "exp": n + 300, "jti": "j1", "roles": ["reader", "writer"], "scope": "notes:write" })
}

fn es_header() -> Value {
    json!({ "alg": "ES256", "typ": "at+jwt", "kid": ES256_KID })
}

fn b64(v: &str) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

/// Replaces the character at `index` of segment `segment` with another base64url character.
fn flip(token: &str, segment: usize, index: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = parts[segment].clone().into_bytes();
    bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
    parts[segment] = String::from_utf8(bytes).unwrap();
    parts.join(".")
}

async fn check(a: &TestAuthority, app: &crate::support::App, case: Case) {
    let before = app.sink.entries().len();
    let mut req = Request::builder()
        .method(case.method.clone())
        .uri(case.path);
    match &case.token {
        Token::None => {}
        Token::Raw(t) => req = req.header(header::AUTHORIZATION, format!("Bearer {t}")),
        Token::Header(h) => req = req.header(header::AUTHORIZATION, *h),
    }
    for (k, v) in case.headers {
        req = req.header(*k, *v);
    }
    let response = app
        .router
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), case.status, "case {:?}", case.name);
    if case.status == StatusCode::UNAUTHORIZED {
        let challenge = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .expect("401 carries a challenge");
        // RFC 6750 section 3: a request without bearer credentials gets a challenge without an error code.
        let bearer_sent = match &case.token {
            Token::None => false,
            Token::Raw(_) => true,
            Token::Header(h) => h.starts_with("Bearer"),
        };
        let expected = if bearer_sent {
            r#"Bearer error="invalid_token""#
        } else {
            "Bearer"
        };
        assert_eq!(challenge, expected, "case {:?}", case.name);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
    app.audit.flush().await;
    let entries = app.sink.entries();
    let new: Vec<&AuditEntry> = entries[before..].iter().collect();
    match case.audit {
        Some(ty) => {
            assert_eq!(
                new.len(),
                1,
                "case {:?}: one audit entry expected, got {new:?}",
                case.name
            );
            assert_eq!(new[0].event_type, ty, "case {:?}", case.name);
        }
        None => assert!(
            new.is_empty(),
            "case {:?}: no audit entry expected, got {new:?}",
            case.name
        ),
    }
    let _ = a;
}

fn ok(name: &'static str, path: &'static str, token: String) -> Case {
    Case {
        name,
        method: Method::GET,
        path,
        token: Token::Raw(token),
        headers: &[],
        status: StatusCode::OK,
        audit: None,
    }
}

fn unauthorized(name: &'static str, token: String) -> Case {
    Case {
        name,
        method: Method::GET,
        path: "/whoami",
        token: Token::Raw(token),
        headers: &[],
        status: StatusCode::UNAUTHORIZED,
        audit: Some(event_type::AUTHN_FAILURE),
    }
}

#[tokio::test]
async fn negative_suite_through_the_stack() {
    let a = TestAuthority::new(ISSUER, AUDIENCE);
    let app = app(a.authn_config());
    let good = || {
        a.token("acme", "alice")
            .roles(&["reader", "writer"])
            .scope("notes:write")
    };
    let valid = good().sign();
    let n = now();

    let mut cases = vec![
        ok("valid token", "/whoami", valid.clone()),
        Case {
            token: Token::None,
            ..unauthorized("no token", String::new())
        },
        Case {
            token: Token::Header("Basic YWxpY2U6cGFzcw=="),
            ..unauthorized("basic scheme", String::new())
        },
        Case {
            token: Token::Header("Bearer "),
            ..unauthorized("empty bearer", String::new())
        },
        // Algorithm attacks.
        unauthorized(
            "alg none",
            format!(
                "{}.{}.",
                b64(r#"{"alg":"none","typ":"at+jwt"}"#),
                b64(&claims(&a).to_string())
            ),
        ),
        unauthorized(
            "HS256 keyed with the RSA public key",
            a.sign_raw(
                &json!({"alg":"HS256","typ":"at+jwt","kid":RS256_KID}),
                &claims(&a),
                Algorithm::HS256,
                Some(a.rsa_public_pem().as_bytes()),
            ),
        ),
        unauthorized(
            "alg not allowed (RS384)",
            a.sign_raw(
                &json!({"alg":"RS384","typ":"at+jwt","kid":RS256_KID}),
                &claims(&a),
                Algorithm::RS384,
                None,
            ),
        ),
        unauthorized(
            "alg/key mismatch (RS256 header, EC kid)",
            a.sign_raw(
                &json!({"alg":"RS256","typ":"at+jwt","kid":ES256_KID}),
                &claims(&a),
                Algorithm::RS256,
                None,
            ),
        ),
        unauthorized(
            "unknown kid",
            good().header("kid", json!("no-such-key")).sign(),
        ),
        unauthorized(
            "kid with ../",
            good().header("kid", json!("../../etc/passwd")).sign(),
        ),
        unauthorized(
            "kid with quotes",
            good().header("kid", json!("x' OR '1'='1")).sign(),
        ),
        unauthorized(
            "kid with NUL",
            good().header("kid", json!("test-es256\u{0}")).sign(),
        ),
        unauthorized(
            "jku header",
            good().header("jku", json!("https://evil.test/jwks")).sign(),
        ),
        unauthorized(
            "x5u header",
            good()
                .header("x5u", json!("https://evil.test/cert.pem"))
                .sign(),
        ),
        unauthorized(
            "embedded jwk header",
            good()
                .header("jwk", a.jwks_json()["keys"][0].clone())
                .sign(),
        ),
        unauthorized(
            "unknown crit",
            good()
                .header("crit", json!(["exp"]))
                .header("exp", json!(1))
                .sign(),
        ),
        // Token type and claims.
        unauthorized(
            "ID token (typ JWT) as access token",
            good().header("typ", json!("JWT")).sign(),
        ),
        unauthorized("no typ", good().without_header("typ").sign()),
        unauthorized(
            "wrong iss",
            good().claim("iss", json!("https://evil.test")).sign(),
        ),
        unauthorized(
            "iss with trailing slash",
            good().claim("iss", json!(format!("{ISSUER}/"))).sign(),
        ),
        unauthorized("missing aud", good().without_claim("aud").sign()),
        unauthorized(
            "foreign aud",
            good().claim("aud", json!(["other-api"])).sign(),
        ),
        unauthorized("expired beyond leeway", good().expires_in(-120).sign()),
        ok(
            "expired within leeway",
            "/whoami",
            good().expires_in(-10).sign(),
        ),
        unauthorized(
            "nbf in the future",
            good().claim("nbf", json!(n + 600)).sign(),
        ),
        unauthorized(
            "iat in the future",
            good().claim("iat", json!(n + 600)).sign(),
        ),
        unauthorized("exp missing", good().without_claim("exp").sign()),
        unauthorized(
            "exp a string",
            good().claim("exp", json!((n + 300).to_string())).sign(),
        ),
        unauthorized("sub missing", good().without_claim("sub").sign()),
        unauthorized("tenant missing", good().without_claim("tenant_id").sign()),
        unauthorized("jti missing", good().without_claim("jti").sign()),
        // Structure and encoding.
        unauthorized("flipped byte in header", flip(&valid, 0, 5)),
        unauthorized("flipped byte in payload", flip(&valid, 1, 10)),
        unauthorized("flipped byte in signature", flip(&valid, 2, 10)),
        unauthorized("two segments", valid.rsplit_once('.').unwrap().0.to_owned()),
        unauthorized("four segments", format!("{valid}.e30")),
        unauthorized("padded base64", {
            let (h, rest) = valid.split_once('.').unwrap();
            format!("{h}=.{rest}")
        }),
        unauthorized(
            "standard base64 with + and /",
            a.sign_segments(
                STANDARD
                    .encode(r#"{"alg":"ES256","typ":"at+jwt","kid":"test-es256","x":"???~~~"}"#)
                    .trim_end_matches('='),
                &b64(&claims(&a).to_string()),
                Algorithm::ES256,
                None,
            ),
        ),
        unauthorized(
            "duplicate claim",
            a.sign_segments(
                &b64(&es_header().to_string()),
                &b64(&claims(&a)
                    .to_string()
                    .replacen('{', r#"{"sub":"mallory","#, 1)),
                Algorithm::ES256,
                None,
            ),
        ),
        unauthorized(
            "duplicate header member",
            a.sign_segments(
                &b64(r#"{"alg":"ES256","alg":"ES256","typ":"at+jwt","kid":"test-es256"}"#),
                &b64(&claims(&a).to_string()),
                Algorithm::ES256,
                None,
            ),
        ),
        unauthorized(
            "token over 8 KiB",
            good().claim("pad", json!("x".repeat(9000))).sign(),
        ),
        unauthorized(
            "not JSON claims",
            a.sign_segments(
                &b64(&es_header().to_string()),
                &b64("not json"),
                Algorithm::ES256,
                None,
            ),
        ),
        unauthorized(
            "opaque token without introspection",
            "pal_0123456789abcdef".to_owned(),
        ),
        // Tenant guard.
        Case {
            name: "tenant mismatch by path",
            method: Method::GET,
            path: "/tenants/globex/notes/n1",
            token: Token::Raw(valid.clone()),
            headers: &[],
            status: StatusCode::FORBIDDEN,
            audit: Some(event_type::TENANT_MISMATCH),
        },
        Case {
            name: "undecodable tenant in the path",
            method: Method::GET,
            path: "/tenants/%FF/notes/n1",
            token: Token::Raw(valid.clone()),
            headers: &[],
            status: StatusCode::FORBIDDEN,
            audit: Some(event_type::TENANT_MISMATCH),
        },
        Case {
            name: "tenant mismatch by header",
            method: Method::GET,
            path: "/whoami",
            token: Token::Raw(valid.clone()),
            headers: &[("x-tenant-id", "globex")],
            status: StatusCode::FORBIDDEN,
            audit: Some(event_type::TENANT_MISMATCH),
        },
        Case {
            name: "tenant mismatch by subdomain",
            method: Method::GET,
            path: "/whoami",
            token: Token::Raw(valid.clone()),
            headers: &[("host", "globex.example.com")],
            status: StatusCode::FORBIDDEN,
            audit: Some(event_type::TENANT_MISMATCH),
        },
        Case {
            name: "matching subdomain and header",
            headers: &[("host", "acme.example.com:8443"), ("x-tenant-id", "acme")],
            ..ok("", "/whoami", valid.clone())
        },
        // Authorization.
        Case {
            name: "reader reads own tenant's note",
            path: "/tenants/acme/notes/n1",
            audit: Some(event_type::AUTHZ_DECISION),
            ..ok("", "", a.token("acme", "rita").roles(&["reader"]).sign())
        },
        Case {
            name: "missing role",
            method: Method::GET,
            path: "/tenants/acme/notes/n1",
            token: Token::Raw(a.token("acme", "nobody").sign()),
            headers: &[],
            status: StatusCode::FORBIDDEN,
            audit: Some(event_type::AUTHZ_DECISION),
        },
        Case {
            name: "missing scope",
            method: Method::POST,
            path: "/tenants/acme/notes",
            token: Token::Raw(a.token("acme", "wes").roles(&["writer"]).sign()),
            headers: &[],
            status: StatusCode::FORBIDDEN,
            audit: Some(event_type::AUTHZ_DECISION),
        },
        Case {
            name: "writer with scope writes",
            method: Method::POST,
            path: "/tenants/acme/notes",
            audit: Some(event_type::AUTHZ_DECISION),
            ..ok("", "", good().sign())
        },
        Case {
            name: "cross-tenant resource (ABAC tenant isolation)",
            method: Method::GET,
            path: "/notes/x1",
            token: Token::Raw(valid.clone()),
            headers: &[],
            status: StatusCode::FORBIDDEN,
            audit: Some(event_type::AUTHZ_DECISION),
        },
        Case {
            name: "owner updates own note",
            method: Method::PUT,
            path: "/notes/n1",
            audit: Some(event_type::AUTHZ_DECISION),
            ..ok("", "", valid.clone())
        },
        Case {
            name: "non-owner update refused",
            method: Method::PUT,
            path: "/notes/n1",
            token: Token::Raw(
                a.token("acme", "bob")
                    .roles(&["writer"])
                    .scope("notes:write")
                    .sign(),
            ),
            headers: &[],
            status: StatusCode::FORBIDDEN,
            audit: Some(event_type::AUTHZ_DECISION),
        },
    ];
    let total = cases.len();
    for case in cases.drain(..) {
        check(&a, &app, case).await;
    }
    crate::support::report(&format!("negative suite: {total} cases through the stack"));
}

#[tokio::test]
async fn cross_tenant_denial_names_the_isolation_policy() {
    let a = TestAuthority::new(ISSUER, AUDIENCE);
    let app = app(a.authn_config());
    let token = a.token("acme", "alice").roles(&["reader"]).sign();
    let req = Request::get("/notes/x1")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    app.audit.flush().await;
    let entry = app.sink.entries().pop().expect("denial audited");
    assert_eq!(
        entry.data.policies,
        vec!["palisade::tenant-isolation".to_owned()]
    );
    assert_eq!(entry.data.tenant.as_ref().map(|t| t.as_str()), Some("acme"));
    assert_eq!(
        entry.data.actor.as_ref().map(|a| a.subject.as_str()),
        Some("alice")
    );
    assert!(
        entry.traceparent.is_some(),
        "the trace context reaches the audit entry"
    );
}

#[tokio::test]
async fn authentication_failure_reveals_nothing_and_audits_why() {
    let a = TestAuthority::new(ISSUER, AUDIENCE);
    let app = app(a.authn_config());
    let token = a.token("acme", "alice").expires_in(-3600).sign();
    let req = Request::get("/whoami")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["traceparent"],
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "the incoming trace is propagated"
    );
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(
        !body.contains("expired"),
        "the caller is not told why: {body}"
    );
    app.audit.flush().await;
    let entry = app.sink.entries().pop().unwrap();
    assert_eq!(entry.data.reason.as_deref(), Some("expired"));
    assert_eq!(
        entry.traceparent.as_deref(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    assert!(
        !serde_json::to_string(&entry).unwrap().contains(&token),
        "the token never reaches the audit log"
    );
}

/// Where a row of [`tenant_guard_fails_closed_without_a_matched_path`] puts the stack.
#[derive(Clone, Copy, Debug)]
enum Wiring {
    /// `SecurityStack::layer()` around a service that is not a router.
    BareService,
    /// `SecurityStack::layer()` around a whole router, so the stack runs before routing.
    AroundRouter,
    /// The stack around an inner router, mounted with `nest_service` under `/api`.
    NestedService,
    /// `SecurityStack::apply`: every route is matched before the stack runs.
    Applied,
    /// `SecurityStack::apply`, then a fallback, which answers unrouted paths outside the stack.
    AppliedThenFallback,
}

fn wire(
    stack: &SecurityStack,
    wiring: Wiring,
) -> BoxCloneSyncService<Request<Body>, Response, Infallible> {
    let routes = Router::new().route("/tenants/{tenant}/notes", get(|| async { "handled" }));
    let bare = tower::service_fn(|_: Request<Body>| async { Ok::<_, Infallible>("handled") });
    match wiring {
        Wiring::BareService => BoxCloneSyncService::new(stack.layer().layer(bare)),
        Wiring::AroundRouter => BoxCloneSyncService::new(stack.layer().layer(routes)),
        Wiring::NestedService => BoxCloneSyncService::new(
            Router::new().nest_service("/api", stack.layer().layer(routes)),
        ),
        Wiring::Applied => BoxCloneSyncService::new(stack.apply(routes)),
        Wiring::AppliedThenFallback => BoxCloneSyncService::new(
            stack
                .apply(routes)
                .fallback(|| async { StatusCode::NOT_FOUND }),
        ),
    }
}

/// Issue 10, finding 8: a guard checking a path parameter let every request through when the
/// stack ran where no route had been matched, since it could not see the parameter there. Now
/// it refuses them: it cannot tell whether the path names another tenant.
#[tokio::test]
async fn tenant_guard_fails_closed_without_a_matched_path() {
    let a = TestAuthority::new(ISSUER, AUDIENCE);
    let token = a.token("acme", "alice").roles(&["reader"]).sign();
    let header_only = TenantGuardConfig {
        path_param: None,
        ..TenantGuardConfig::default()
    };
    let path = TenantGuardConfig::default();
    // Configurations no request can satisfy are found at start-up and refuse every request.
    let unnamed_param = TenantGuardConfig {
        path_param: Some(String::new()),
        ..TenantGuardConfig::default()
    };
    let not_a_domain = TenantGuardConfig {
        subdomain_of: Some("example.com/tenants".into()),
        ..TenantGuardConfig::default()
    };
    let rows = [
        (
            Wiring::BareService,
            &path,
            "/tenants/globex/notes",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            Wiring::BareService,
            &path,
            "/tenants/acme/notes",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            Wiring::AroundRouter,
            &path,
            "/tenants/globex/notes",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            Wiring::NestedService,
            &path,
            "/api/tenants/globex/notes",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        // A guard that checks no path parameter sees everything it checks, wherever it runs.
        (
            Wiring::BareService,
            &header_only,
            "/tenants/globex/notes",
            StatusCode::OK,
        ),
        // Inside the router the path parameter is seen and checked.
        (
            Wiring::Applied,
            &path,
            "/tenants/globex/notes",
            StatusCode::FORBIDDEN,
        ),
        (
            Wiring::Applied,
            &path,
            "/tenants/acme/notes",
            StatusCode::OK,
        ),
        // `apply` wraps matched routes only: an unrouted path gets the router's fallback (404),
        // no handler runs and nothing is decided.
        (
            Wiring::Applied,
            &path,
            "/tenants/globex/nowhere",
            StatusCode::NOT_FOUND,
        ),
        (
            Wiring::AppliedThenFallback,
            &path,
            "/tenants/globex/nowhere",
            StatusCode::NOT_FOUND,
        ),
        (
            Wiring::AppliedThenFallback,
            &path,
            "/tenants/globex/notes",
            StatusCode::FORBIDDEN,
        ),
        (
            Wiring::Applied,
            &unnamed_param,
            "/tenants/acme/notes",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        (
            Wiring::Applied,
            &not_a_domain,
            "/tenants/acme/notes",
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ];
    let mut failures = Vec::new();
    for (wiring, guard, uri, expected) in rows {
        let (stack, _sink, _audit) = crate::support::stack(a.authn_config(), guard.clone());
        let request = Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = wire(&stack, wiring).oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let row = format!(
            "{wiring:?} with path_param {:?} and subdomain_of {:?}, GET {uri}",
            guard.path_param, guard.subdomain_of
        );
        if status != expected {
            failures.push(format!("{row}: {status}, expected {expected}"));
        } else if status.is_server_error()
            && content_type
                .as_ref()
                .is_none_or(|c| c != "application/problem+json")
        {
            failures.push(format!(
                "{row}: {status} as {content_type:?}, not a problem"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// One host spelling: the guard's parent domain, the request's URI and `Host` headers, and the answer.
struct HostRow {
    parent: &'static str,
    uri: &'static str,
    hosts: &'static [&'static [u8]],
    status: StatusCode,
}

const fn host(parent: &'static str, host: &'static [&'static [u8]], status: StatusCode) -> HostRow {
    HostRow {
        parent,
        uri: "/whoami",
        hosts: host,
        status,
    }
}

/// Issue 10, finding 8: a `Host` spelled with a trailing dot (or a parent domain configured in
/// another spelling) did not match the parent domain, so the subdomain's tenant went unchecked.
/// Hosts and the parent are compared as ASCII lowercase, without port and one trailing dot, and
/// every host the request carries is checked.
#[tokio::test]
async fn tenant_guard_normalises_hosts_before_matching() {
    use StatusCode as S;
    const P: &str = "example.com";
    let rows = [
        host(P, &[b"acme.example.com"], S::OK),
        host(P, &[b"ACME.Example.COM"], S::OK),
        host(P, &[b"acme.example.com."], S::OK),
        host(P, &[b"ACME.EXAMPLE.COM.:8443"], S::OK),
        host(P, &[b"example.com"], S::OK),
        host(P, &[b"api.other.test"], S::OK),
        host(P, &[b"globex.example.com"], S::FORBIDDEN),
        host(P, &[b"GLOBEX.example.com"], S::FORBIDDEN),
        host(P, &[b"globex.example.com."], S::FORBIDDEN),
        host(P, &[b"Globex.Example.Com.:443"], S::FORBIDDEN),
        host(P, &[b"globex.example.com:"], S::FORBIDDEN),
        // Not a host name after one trailing dot is removed: it cannot be checked, so it cannot pass.
        host(P, &[b"globex.example.com.."], S::FORBIDDEN),
        // A host that is not text cannot equal the tenant, as for the tenant header.
        host(P, &[b"globex.example.com\xff"], S::FORBIDDEN),
        // Every place a host is carried is checked, not only the first `Host` header.
        host(
            P,
            &[b"acme.example.com", b"globex.example.com"],
            S::FORBIDDEN,
        ),
        HostRow {
            uri: "http://globex.example.com/whoami",
            ..host(P, &[b"acme.example.com"], S::FORBIDDEN)
        },
        HostRow {
            uri: "http://GLOBEX.example.com./whoami",
            ..host(P, &[], S::FORBIDDEN)
        },
        // The configured parent is normalised the same way.
        host("Example.COM.", &[b"globex.example.com"], S::FORBIDDEN),
        host("Example.COM.", &[b"acme.example.com"], S::OK),
        host(".example.com", &[b"globex.example.com"], S::FORBIDDEN),
    ];
    let a = TestAuthority::new(ISSUER, AUDIENCE);
    let token = a.token("acme", "alice").sign();
    let mut failures = Vec::new();
    for row in &rows {
        let app = app_with_guard(
            a.authn_config(),
            TenantGuardConfig {
                subdomain_of: Some(row.parent.to_owned()),
                ..TenantGuardConfig::default()
            },
        );
        let mut request = Request::get(row.uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        for host in row.hosts {
            request
                .headers_mut()
                .append(header::HOST, HeaderValue::from_bytes(host).unwrap());
        }
        let status = app.router.oneshot(request).await.unwrap().status();
        if status != row.status {
            let hosts: Vec<String> = row
                .hosts
                .iter()
                .map(|h| h.escape_ascii().to_string())
                .collect();
            failures.push(format!(
                "parent {:?}, GET {} with Host {hosts:?}: {status}, expected {}",
                row.parent, row.uri, row.status
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
