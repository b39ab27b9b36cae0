//! Policies from the control plane: a `BundleSource` against a bundle server over real HTTP (a client-credentials token, `ETag`, an Ed25519 signature). Swapped under load without a failed or mixed request; tampered, invalid, foreign and older bundles refused with the last good one kept; the control plane down during operation and at start-up (the kept bundle); a tenant's policies deciding only its own principals; shadow sets audited as flips, never enforced.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use palisade_runtime::audit::{AuditEmitter, EmitterConfig, MemorySink, Outcome, event_type};
use palisade_runtime::authn::Authenticator;
use palisade_runtime::authz::{
    Authz, BundleConfig, BundleSigner, BundleSource, BundleSourceError, Refreshed, Resource,
    SIGNATURE_HEADER,
};
use palisade_runtime::secrets::Secret;
use palisade_runtime::stack::SecurityStack;
use palisade_runtime::testing::TestAuthority;
use palisade_runtime::{Problem, TenantId};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{AUDIENCE, ISSUER, SCHEMA};

const SERVICE: &str = "notes-service";
const SECRET: &str = "bundle client secret";

/// What the bundle server serves, and how.
struct Served {
    body: Vec<u8>,
    signature: String,
    version: u64,
    /// Serve a body changed after it was signed.
    tamper: bool,
    not_modified: u64,
}

#[derive(Clone)]
struct Server {
    signer: Arc<BundleSigner>,
    served: Arc<Mutex<Served>>,
    fetches: Arc<AtomicU64>,
}

impl Server {
    fn publish(&self, version: u64, base: &str, tenants: Value) {
        let body = bundle(SERVICE, version, base, tenants);
        let mut served = self.served.lock().unwrap();
        served.signature = self.signer.sign(&body);
        served.body = body;
        served.version = version;
    }
}

fn bundle(service: &str, version: u64, base: &str, tenants: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "format": 1,
        "service": service,
        "version": version,
        "schema": { "name": "schema.cedarschema", "text": SCHEMA },
        "base": [{ "name": "base.cedar", "text": base }],
        "tenants": tenants,
    }))
    .unwrap()
}

async fn token(headers: HeaderMap) -> Response {
    let expected = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{SERVICE}:{SECRET}")
        )
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(json!({ "access_token": "bundle-token", "expires_in": 300 })).into_response()
}

async fn serve_bundle(State(server): State<Server>, headers: HeaderMap) -> Response {
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some("Bearer bundle-token")
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    server.fetches.fetch_add(1, Ordering::Relaxed);
    let mut served = server.served.lock().unwrap();
    let etag = format!("\"v{}\"", served.version);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(&etag)
    {
        served.not_modified += 1;
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut body = served.body.clone();
    if served.tamper {
        let text = String::from_utf8(body)
            .unwrap()
            .replacen("forbid", "permit", 1);
        body = text.into_bytes();
    }
    (
        [
            (header::ETAG, etag),
            (
                header::HeaderName::from_static(SIGNATURE_HEADER),
                served.signature.clone(),
            ),
        ],
        body,
    )
        .into_response()
}

/// A bundle server on a loopback port, and the task serving it (abort it: the control plane is
/// down).
async fn start_server() -> (Server, String, tokio::task::AbortHandle) {
    let (signer, _) = BundleSigner::generate().unwrap();
    let server = Server {
        signer: Arc::new(signer),
        served: Arc::new(Mutex::new(Served {
            body: Vec::new(),
            signature: String::new(),
            version: 0,
            tamper: false,
            not_modified: 0,
        })),
        fetches: Arc::new(AtomicU64::new(0)),
    };
    let router = Router::new()
        .route("/token", post(token))
        .route("/policies/bundle", get(serve_bundle))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (server, url, task.abort_handle())
}

fn config(server: &Server, url: &str, cache: &std::path::Path) -> BundleConfig {
    let mut config = BundleConfig::new(
        url,
        SERVICE,
        Secret::new(SECRET),
        &server.signer.verifying_key(),
        cache,
        "App",
    );
    // The tests refresh by hand.
    config.refresh = std::time::Duration::from_secs(3600);
    config
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("palisade-bundles-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("bundle.kept")
}

const READERS_READ: &str = "@id(\"readers-read\") permit (principal in Palisade::Role::\"reader\", action == App::Action::\"read\", resource);";
const READERS_WRITE: &str = "@id(\"readers-write\") permit (principal in Palisade::Role::\"reader\", action == App::Action::\"write\", resource);";

/// A service whose one route asks for `read` and `write` on a note of the path's tenant and
/// answers which one was allowed: under one bundle exactly one is.
fn app(source: &BundleSource, authority: &TestAuthority) -> (Router, MemorySink, AuditEmitter) {
    let sink = MemorySink::new();
    let audit = AuditEmitter::spawn(
        "urn:palisade:test",
        Arc::new(sink.clone()),
        EmitterConfig::default(),
    );
    let stack = SecurityStack::new(
        Arc::new(Authenticator::new(authority.authn_config()).unwrap()),
        source.policies(),
        audit.clone(),
    )
    // The load test sends thousands of requests from one client.
    .with_rate_limits(palisade_runtime::limit::RateLimits::off());
    let routes = Router::new()
        .route(
            "/tenants/{tenant}/which",
            get(|authz: Authz, tenant: TenantId| async move {
                let note = Resource::new("App::Note", "n1", &tenant).attr("owner", "x");
                match (authz.check("read", &note), authz.check("write", &note)) {
                    (true, false) => Ok("read"),
                    (false, true) => Ok("write"),
                    _ => Err(Problem::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "a mixed bundle",
                    )),
                }
            }),
        )
        .route(
            "/tenants/{tenant}/notes/{id}",
            get(|authz: Authz, tenant: TenantId| async move {
                let note = Resource::new("App::Note", "n1", &tenant).attr("owner", "x");
                authz.require("read", &note).await?;
                Ok::<_, Problem>("read")
            }),
        );
    (stack.apply(routes), sink, audit)
}

async fn call(router: &Router, token: &str, path: &str) -> (StatusCode, String) {
    let request = axum::http::Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_bundle_swaps_under_load_without_a_failed_or_mixed_request() {
    let (server, url, _task) = start_server().await;
    server.publish(1, READERS_READ, json!({}));
    let source = BundleSource::start(config(&server, &url, &scratch("load")))
        .await
        .unwrap();
    assert_eq!(source.version(), 1);
    // Unchanged: the control plane answers 304.
    assert_eq!(source.refresh().await.unwrap(), Refreshed::Current);
    assert_eq!(server.served.lock().unwrap().not_modified, 1);

    let authority = TestAuthority::new(ISSUER, AUDIENCE);
    let (router, _, _) = app(&source, &authority);
    let token = authority.token("acme", "alice").roles(&["reader"]).sign();
    let swapper = {
        let (server, source) = (server.clone(), source.clone());
        tokio::spawn(async move {
            for version in 2..=40u64 {
                let base = if version % 2 == 0 {
                    READERS_WRITE
                } else {
                    READERS_READ
                };
                server.publish(version, base, json!({}));
                assert_eq!(source.refresh().await.unwrap(), Refreshed::Swapped(version));
                tokio::task::yield_now().await;
            }
        })
    };
    let mut seen = std::collections::BTreeMap::new();
    let mut requests = 0;
    while !swapper.is_finished() || requests < 2000 {
        let calls: Vec<_> = (0..50)
            .map(|_| {
                let (router, token) = (router.clone(), token.clone());
                tokio::spawn(async move { call(&router, &token, "/tenants/acme/which").await })
            })
            .collect();
        for call in calls {
            let (status, body) = call.await.unwrap();
            assert_eq!(
                status,
                StatusCode::OK,
                "no request fails or sees a mix: {body}"
            );
            *seen.entry(body).or_insert(0) += 1;
            requests += 1;
        }
    }
    swapper.await.unwrap();
    assert_eq!(source.version(), 40);
    assert_eq!(seen.len(), 2, "both bundles served requests: {seen:?}");
}

#[tokio::test]
async fn tampered_invalid_foreign_and_older_bundles_are_refused_and_the_last_good_one_stays() {
    let (server, url, _task) = start_server().await;
    let forbid_writes = format!(
        "{READERS_READ}\n@id(\"no-writes\") forbid (principal, action == App::Action::\"write\", resource);"
    );
    server.publish(5, &forbid_writes, json!({}));
    let source = BundleSource::start(config(&server, &url, &scratch("refused")))
        .await
        .unwrap();
    let refused = |result: Result<Refreshed, BundleSourceError>| match result {
        Err(error) => error,
        Ok(what) => panic!("expected a refusal, got {what:?}"),
    };

    // Signed, then changed on the way (a forbid turned into a permit).
    server.publish(6, &forbid_writes, json!({}));
    server.served.lock().unwrap().tamper = true;
    let error = refused(source.refresh().await);
    assert!(matches!(error, BundleSourceError::Signature), "{error}");
    server.served.lock().unwrap().tamper = false;
    // Signed, but a policy that does not validate: named with its file and line.
    server.publish(
        7,
        "permit (principal, action == App::Action::\"fly\", resource);",
        json!({}),
    );
    let error = refused(source.refresh().await);
    assert!(error.to_string().contains("base.cedar:1:"), "{error}");
    // Another service's bundle, and an older one.
    let body = bundle("billing", 8, READERS_READ, json!({}));
    {
        let mut served = server.served.lock().unwrap();
        served.signature = server.signer.sign(&body);
        served.body = body;
        served.version = 8;
    }
    assert!(
        refused(source.refresh().await)
            .to_string()
            .contains("billing")
    );
    server.publish(4, READERS_READ, json!({}));
    assert!(
        refused(source.refresh().await)
            .to_string()
            .contains("older")
    );
    assert_eq!(source.version(), 5, "the last good bundle stays in force");

    // A bundle signed with another key.
    let (other, _) = BundleSigner::generate().unwrap();
    server.publish(9, READERS_READ, json!({}));
    server.served.lock().unwrap().signature =
        other.sign(&bundle(SERVICE, 9, READERS_READ, json!({})));
    assert!(matches!(
        refused(source.refresh().await),
        BundleSourceError::Signature
    ));
    assert_eq!(source.version(), 5);
}

#[tokio::test]
async fn the_control_plane_down_keeps_the_last_good_bundle_and_a_restart_uses_the_kept_one() {
    let (server, url, task) = start_server().await;
    server.publish(3, READERS_READ, json!({}));
    let kept = scratch("down");
    let source = BundleSource::start(config(&server, &url, &kept))
        .await
        .unwrap();
    assert!(source.staleness() < std::time::Duration::from_secs(5));
    // Down during operation: the refresh fails, the bundle stays.
    task.abort();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let error = source.refresh().await.unwrap_err();
    assert!(matches!(error, BundleSourceError::Fetch(_)), "{error}");
    assert_eq!(source.version(), 3);
    // Down at start-up: the kept bundle, verified again.
    let restarted = BundleSource::start(config(&server, &url, &kept))
        .await
        .unwrap();
    assert_eq!(restarted.version(), 3);
    let authority = TestAuthority::new(ISSUER, AUDIENCE);
    let (router, _, _) = app(&restarted, &authority);
    let token = authority.token("acme", "alice").roles(&["reader"]).sign();
    assert_eq!(call(&router, &token, "/tenants/acme/which").await.1, "read");
    // A kept bundle changed on disk is refused; with nothing else, start-up fails and says why.
    let text = std::fs::read_to_string(&kept)
        .unwrap()
        .replace("reader", "nobody");
    std::fs::write(&kept, text).unwrap();
    let error = BundleSource::start(config(&server, &url, &kept))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, BundleSourceError::Unavailable { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("signature"), "{error}");
}

/// Review finding (session 8, 3): a service starting installed whatever signed bundle it fetched,
/// an older one included (a control plane restored from a backup), and overwrote the newer kept
/// copy with it.
#[tokio::test]
async fn a_restart_never_goes_back_to_a_bundle_older_than_the_kept_one() {
    let (server, url, _task) = start_server().await;
    server.publish(12, READERS_WRITE, json!({}));
    let kept = scratch("older");
    let source = BundleSource::start(config(&server, &url, &kept))
        .await
        .unwrap();
    assert_eq!(source.version(), 12);
    source.stop();
    server.publish(9, READERS_READ, json!({}));
    let restarted = BundleSource::start(config(&server, &url, &kept))
        .await
        .unwrap();
    assert_eq!(
        restarted.version(),
        12,
        "the kept bundle, not the older one served"
    );
    let again = BundleSource::start(config(&server, &url, &kept))
        .await
        .unwrap();
    assert_eq!(again.version(), 12, "the kept copy was not overwritten");
    // Concurrent refreshes end on the newest bundle, and its copy is kept whole.
    server.publish(13, READERS_READ, json!({}));
    let refreshes: Vec<_> = (0..8)
        .map(|_| {
            let source = again.clone();
            tokio::spawn(async move { source.refresh().await })
        })
        .collect();
    for refresh in refreshes {
        refresh.await.unwrap().unwrap();
    }
    assert_eq!(again.version(), 13);
    assert_eq!(
        BundleSource::start(config(&server, &url, &kept))
            .await
            .unwrap()
            .version(),
        13
    );
}

#[tokio::test]
async fn a_tenants_policies_decide_only_its_own_principals_and_shadows_are_audited_not_enforced() {
    let (server, url, _task) = start_server().await;
    // acme's own policy permits everything; globex has a shadow set that allows no reads.
    server.publish(
        1,
        READERS_READ,
        json!({
            "acme": { "version": 1, "active": [{ "name": "acme.cedar", "text": "@id(\"acme-all\") permit (principal, action, resource);" }] },
            "globex": { "version": 2, "active": [], "shadow": [{ "name": "shadow.cedar", "text": "@id(\"no-reads\") forbid (principal, action == App::Action::\"read\", resource);" }] },
        }),
    );
    let source = BundleSource::start(config(&server, &url, &scratch("tenants")))
        .await
        .unwrap();
    let authority = TestAuthority::new(ISSUER, AUDIENCE);
    let (router, sink, audit) = app(&source, &authority);
    let anyone = |tenant| authority.token(tenant, "alice").roles(&["guest"]).sign();
    // acme's principals get acme's policy; globex's do not, and acme's never reach globex.
    assert_eq!(
        call(&router, &anyone("acme"), "/tenants/acme/notes/n1")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&router, &anyone("globex"), "/tenants/globex/notes/n1")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let reader = authority.token("acme", "alice").roles(&["reader"]).sign();
    assert_eq!(
        call(&router, &reader, "/tenants/globex/notes/n1").await.0,
        StatusCode::FORBIDDEN
    );

    // globex's reader reads (the active set), the shadow set would deny: a flip, audited.
    let globex_reader = authority.token("globex", "gina").roles(&["reader"]).sign();
    assert_eq!(
        call(&router, &globex_reader, "/tenants/globex/notes/n1")
            .await
            .0,
        StatusCode::OK
    );
    audit.flush().await;
    let flips: Vec<_> = sink
        .entries()
        .into_iter()
        .filter(|e| e.event_type == event_type::AUTHZ_SHADOW_FLIP)
        .collect();
    assert_eq!(flips.len(), 1, "{flips:?}");
    assert_eq!(flips[0].data.outcome, Outcome::Denied);
    assert_eq!(flips[0].data.policies, vec!["no-reads".to_owned()]);
    assert!(
        flips[0]
            .data
            .reason
            .as_deref()
            .unwrap()
            .contains("readers-read"),
        "{:?}",
        flips[0].data.reason
    );
}
