//! Criterion benchmarks of the request path: token validation, a Cedar decision, the whole stack, and audit appends.

use std::hint::black_box;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::BoxFuture;
use http::Request;
use palisade_runtime::audit::{
    AuditEmitter, AuditEntry, AuditError, AuditSink, EmitterConfig, Outcome, SqlAuditStore,
};
use palisade_runtime::authn::Authenticator;
use palisade_runtime::authz::{Authz, PolicyEngine, PolicySource, Resource};
use palisade_runtime::limit::{RateLimit, RateLimits};
use palisade_runtime::stack::SecurityStack;
use palisade_runtime::testing::TestAuthority;
use palisade_runtime::{Principal, PrincipalKind, Problem, TenantId};
use tower::ServiceExt;

const SCHEMA: &str = r#"namespace App {
  entity Note { tenant: String, owner: String };
  action "read", "write" appliesTo { principal: [Palisade::Principal], resource: [Note] };
}"#;

/// 49 role permits plus an ABAC rule; with tenant isolation that makes 51 policies.
fn policies() -> String {
    let mut text = String::new();
    for i in 0..49 {
        text.push_str(&format!(
            "@id(\"role-{i}\")\npermit (principal in Palisade::Role::\"role-{i}\", action == App::Action::\"write\", resource);\n"
        ));
    }
    text.push_str("@id(\"owner-reads\")\npermit (principal, action == App::Action::\"read\", resource) when { resource.owner == principal.subject };\n");
    text
}

fn engine() -> Arc<PolicyEngine> {
    Arc::new(load())
}

fn load() -> PolicyEngine {
    PolicyEngine::load(
        "App",
        &PolicySource::new("schema", SCHEMA),
        &[PolicySource::new("bench.cedar", policies())],
    )
    .unwrap()
}

/// Discards entries: the stack benchmark measures the request path, not a sink.
struct NullSink;

impl AuditSink for NullSink {
    fn write<'a>(&'a self, _batch: &'a [AuditEntry]) -> BoxFuture<'a, Result<(), AuditError>> {
        Box::pin(async { Ok(()) })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn token_validation(c: &mut Criterion) {
    let rt = runtime();
    let authority = TestAuthority::new("https://issuer.bench", "bench");
    let token = authority.token("acme", "alice").roles(&["reader"]).sign();
    let mut cold_config = authority.authn_config();
    cold_config.cache_capacity = 0;
    let cold = Authenticator::new(cold_config).unwrap();
    let warm = Authenticator::new(authority.authn_config()).unwrap();
    rt.block_on(warm.authenticate(&token)).unwrap();
    let mut group = c.benchmark_group("token_validation");
    group.bench_function("es256_cold", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(cold.authenticate(&token).await.unwrap()) })
    });
    group.bench_function("cache_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(warm.authenticate(&token).await.unwrap()) })
    });
    group.finish();
}

fn cedar_decision(c: &mut Criterion) {
    let engine = engine();
    let uncached = load().decision_cache(0);
    assert_eq!(engine.policy_count(), 51);
    let principal = Principal {
        tenant: TenantId::new("acme").unwrap(),
        subject: "alice".into(),
        kind: PrincipalKind::User,
        roles: vec!["role-17".into(), "role-30".into()],
        scopes: vec!["notes:write".into()],
        client_id: Some("web".into()),
    }
    .normalized();
    let resource = Resource::new("App::Note", "n1", &principal.tenant).attr("owner", "bob");
    assert!(
        engine
            .authorize(&principal, "write", &resource, &serde_json::Value::Null)
            .unwrap()
            .allowed
    );
    c.bench_function("cedar_decision_51_policies", |b| {
        b.iter(|| {
            black_box(
                uncached
                    .authorize(&principal, "write", &resource, &serde_json::Value::Null)
                    .unwrap(),
            )
        })
    });
    c.bench_function("cedar_decision_51_policies_cached", |b| {
        b.iter(|| {
            black_box(
                engine
                    .authorize(&principal, "write", &resource, &serde_json::Value::Null)
                    .unwrap(),
            )
        })
    });
    // Filtering 1,000 retrieval candidates of both tenants: the decisions per second.
    let candidates: Vec<Resource> = (0..1000)
        .map(|i| {
            let tenant = TenantId::new(["acme", "globex"][i % 2]).unwrap();
            Resource::new("App::Note", format!("n{i}"), &tenant).attr("owner", "bob")
        })
        .collect();
    let allowed = uncached
        .authorize_batch(&principal, "write", &candidates, &serde_json::Value::Null)
        .unwrap()
        .iter()
        .filter(|d| d.allowed)
        .count();
    assert_eq!(allowed, 500, "only the principal's tenant");
    let mut group = c.benchmark_group("authorize_batch");
    group.throughput(Throughput::Elements(candidates.len() as u64));
    group.bench_function("1000_resources_51_policies", |b| {
        b.iter(|| {
            black_box(
                uncached
                    .authorize_batch(&principal, "write", &candidates, &serde_json::Value::Null)
                    .unwrap(),
            )
        })
    });
    group.finish();
}

fn whole_stack(c: &mut Criterion) {
    let rt = runtime();
    let authority = TestAuthority::new("https://issuer.bench", "bench");
    let token = authority.token("acme", "alice").roles(&["role-3"]).sign();
    let handler = || async { "ok" };
    let bare: Router = Router::new().route("/tenants/{tenant}/notes", get(handler));
    let secured = |cache_capacity: u64, per_client: Option<RateLimit>| {
        let _guard = rt.enter();
        let mut config = authority.authn_config();
        config.cache_capacity = cache_capacity;
        let audit = AuditEmitter::spawn("urn:bench", Arc::new(NullSink), EmitterConfig::default());
        // Limits every request passes (one client sends them all): the limiter's cost is
        // measured, not its refusals.
        let stack = SecurityStack::new(
            Arc::new(Authenticator::new(config).unwrap()),
            engine(),
            audit,
        )
        .with_rate_limits(RateLimits {
            per_address: RateLimit::new(u32::MAX, u32::MAX),
            per_client,
        });
        stack.apply(Router::new().route(
            "/tenants/{tenant}/notes",
            get(|authz: Authz, tenant: TenantId| async move {
                authz
                    .require(
                        "write",
                        &Resource::new("App::Note", "n", &tenant).attr("owner", "x"),
                    )
                    .await?;
                Ok::<_, Problem>("ok")
            }),
        ))
    };
    let unlimited = RateLimit::new(u32::MAX, u32::MAX);
    let hit = secured(10_000, unlimited);
    let miss = secured(0, unlimited);
    // One request a second: after the first, every request is refused with 429.
    let limited = secured(10_000, RateLimit::new(1, 1));
    let request = |with_token: bool| {
        let mut r = Request::get("/tenants/acme/notes");
        if with_token {
            r = r.header("authorization", format!("Bearer {token}"));
        }
        r.body(Body::empty()).unwrap()
    };
    let status = rt
        .block_on(hit.clone().oneshot(request(true)))
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // Every measured request is admitted and allowed.
    let statuses = |router: &Router| {
        rt.block_on(async {
            let mut ok = 0;
            for _ in 0..1000 {
                ok += usize::from(
                    router
                        .clone()
                        .oneshot(request(true))
                        .await
                        .unwrap()
                        .status()
                        == 200,
                );
            }
            ok
        })
    };
    assert_eq!(statuses(&hit), 1000);
    let mut group = c.benchmark_group("stack");
    group.bench_function("bare_axum", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(bare.clone().oneshot(request(false)).await.unwrap()) })
    });
    group.bench_function("secured_cache_hit", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(hit.clone().oneshot(request(true)).await.unwrap()) })
    });
    group.bench_function("secured_refused_429", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(limited.clone().oneshot(request(true)).await.unwrap()) })
    });
    group.bench_function("secured_cache_miss", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(miss.clone().oneshot(request(true)).await.unwrap()) })
    });
    group.finish();
}

fn audit_sqlite(c: &mut Criterion) {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("palisade-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("audit.db").display());
    let store = rt.block_on(SqlAuditStore::connect(&url)).unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let batch: Vec<AuditEntry> = (0..512)
        .map(|i| {
            AuditEntry::new(
                "urn:bench",
                "palisade.bench",
                &format!("action-{i}"),
                Outcome::Success,
            )
            .tenant(&tenant)
            .resource("App::Note::\"n1\"")
        })
        .collect();
    let mut group = c.benchmark_group("audit_sqlite");
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("append_batch_512_hash_chained", |b| {
        b.to_async(&rt)
            .iter(|| async { store.append(&batch).await.unwrap() })
    });
    group.finish();
    // The chain the benchmark wrote must still verify (criterion may have filtered this benchmark out).
    rt.block_on(store.verify("acme"))
        .unwrap()
        .expect("the benchmark's chain verifies");
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(
    benches,
    token_validation,
    cedar_decision,
    whole_stack,
    audit_sqlite
);
criterion_main!(benches);
