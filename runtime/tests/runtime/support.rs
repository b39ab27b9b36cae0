//! Shared test helpers: external-resource gating, local HTTP(S) servers and the sample application.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::routing::{get, put};
use palisade_runtime::audit::{AuditEmitter, EmitterConfig, MemorySink};
use palisade_runtime::authn::{Authenticator, AuthnConfig, FailureAuditPolicy};
use palisade_runtime::authz::{Authz, PolicyEngine, PolicySource, Resource, UndecidedSuccess};
use palisade_runtime::stack::SecurityStack;
use palisade_runtime::tenant::TenantGuardConfig;
use palisade_runtime::{Principal, Problem, TenantId};

/// Whether CI demands every external resource (set by `.ci/run`).
fn required() -> bool {
    std::env::var_os("PALISADE_REQUIRE_ALL").is_some_and(|v| v == "1")
}

/// Reports a test that cannot run here. In CI (`PALISADE_REQUIRE_ALL=1`) that is a failure.
pub(crate) fn skip(test: &str, why: &str) {
    assert!(
        !required(),
        "{test}: {why}, and PALISADE_REQUIRE_ALL=1 forbids skipping"
    );
    // Written to the real stderr, not through the test harness's capture, so a user sees it.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Prints a line that must be visible in CI logs even when the test passes.
pub(crate) fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Serves `router` on an ephemeral loopback port.
pub(crate) async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    addr
}

pub(crate) const ISSUER: &str = "https://issuer.test";
pub(crate) const AUDIENCE: &str = "notes-api";

pub(crate) const SCHEMA: &str = r#"
namespace App {
  entity Note { tenant: String, owner: String };
  action "read", "write", "delete", "update" appliesTo {
    principal: [Palisade::Principal],
    resource: [Note],
  };
}
"#;

pub(crate) const POLICIES: &str = r#"
@id("reader-reads")
permit (principal in Palisade::Role::"reader", action == App::Action::"read", resource);

@id("writer-writes")
permit (principal in Palisade::Role::"writer", action in [App::Action::"read", App::Action::"write"], resource)
when { principal.scopes.contains("notes:write") };

@id("owner-updates")
permit (principal in Palisade::Role::"writer", action == App::Action::"update", resource)
when { resource.owner == principal.subject };
"#;

pub(crate) fn engine() -> Arc<PolicyEngine> {
    let engine = PolicyEngine::load(
        "App",
        &PolicySource::new("schema.cedarschema", SCHEMA),
        &[PolicySource::new("notes.cedar", POLICIES)],
    )
    .expect("sample policies load");
    Arc::new(engine)
}

/// The notes every test app knows: `n1` in `acme` owned by alice, `x1` in `globex`.
fn note(id: &str) -> Option<(TenantId, &'static str)> {
    match id {
        "n1" => Some((TenantId::new("acme").unwrap(), "alice")),
        "x1" => Some((TenantId::new("globex").unwrap(), "gina")),
        _ => None,
    }
}

fn note_resource(id: &str) -> Result<Resource, Problem> {
    let (tenant, owner) =
        note(id).ok_or_else(|| Problem::new(http::StatusCode::NOT_FOUND, "not found"))?;
    Ok(Resource::new("App::Note", id, &tenant).attr("owner", owner))
}

/// A sample application behind the canonical stack, with its audit sink.
pub(crate) struct App {
    pub(crate) router: Router,
    pub(crate) sink: MemorySink,
    pub(crate) audit: AuditEmitter,
}

pub(crate) fn app(config: AuthnConfig) -> App {
    app_with_guard(
        config,
        TenantGuardConfig {
            subdomain_of: Some("example.com".into()),
            ..TenantGuardConfig::default()
        },
    )
}

/// The security stack of the sample application with `tenant` as its guard, and its audit sink.
pub(crate) fn stack(
    config: AuthnConfig,
    tenant: TenantGuardConfig,
) -> (SecurityStack, MemorySink, AuditEmitter) {
    let sink = MemorySink::new();
    let audit = AuditEmitter::spawn(
        "urn:palisade:test",
        Arc::new(sink.clone()),
        EmitterConfig::default(),
    );
    let authenticator = Arc::new(Authenticator::new(config).expect("valid authn config"));
    // The sample routes test authentication and the tenant guard; `/whoami` and the bare
    // services answer without an authorization decision on purpose, so such successes are only
    // logged here (stack.rs tests the failing default).
    let stack = SecurityStack::new(authenticator, engine(), audit.clone())
        .with_tenant_guard(tenant)
        .with_undecided_success(UndecidedSuccess::Log)
        // The negative suites expect every failure audited on its own, however many they send.
        .with_failure_audit(FailureAuditPolicy {
            individual_per_window: u32::MAX,
            ..FailureAuditPolicy::default()
        });
    (stack, sink, audit)
}

/// The sample application with `tenant` as its guard's configuration.
pub(crate) fn app_with_guard(config: AuthnConfig, tenant: TenantGuardConfig) -> App {
    let (stack, sink, audit) = stack(config, tenant);
    let routes = Router::new()
        .route("/whoami", get(|p: Principal| async move { Json(p) }))
        .route(
            "/tenants/{tenant}/notes/{id}",
            get(
                |authz: Authz, Path((_t, id)): Path<(String, String)>| async move {
                    authz.require("read", &note_resource(&id)?).await?;
                    Ok::<_, Problem>(id)
                },
            ),
        )
        .route(
            "/tenants/{tenant}/notes",
            axum::routing::post(|authz: Authz, tenant: TenantId| async move {
                authz
                    .require(
                        "write",
                        &Resource::new("App::Note", "new", &tenant)
                            .attr("owner", authz.principal().subject.as_str()),
                    )
                    .await?;
                Ok::<_, Problem>("created")
            }),
        )
        .route(
            "/notes/{id}",
            get(|authz: Authz, Path(id): Path<String>| async move {
                authz.require("read", &note_resource(&id)?).await?;
                Ok::<_, Problem>(id)
            })
            .merge(put(|authz: Authz, Path(id): Path<String>| async move {
                authz.require("update", &note_resource(&id)?).await?;
                Ok::<_, Problem>(id)
            })),
        );
    App {
        router: stack.apply(routes),
        sink,
        audit,
    }
}
