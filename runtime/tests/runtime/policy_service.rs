//! The policy service over real HTTP, on SQLite and on PostgreSQL (`PALISADE_TEST_DATABASE_URL`): schemas and sets changed only by the right admins, validated with file and line before they are accepted, `If-Match` against lost updates, history and rollback, every change audited; and a service's `BundleSource` fetching its signed bundle from it, tenant sets deciding only their own principals, shadows and rollbacks reaching it on refresh.

use palisade_runtime::audit::{Outcome, event_type};
use palisade_runtime::authz::{
    BundleConfig, BundleSigner, BundleSource, POLICY_AUDIENCE, POLICY_READ_SCOPE, Refreshed,
    Resource,
};
use palisade_runtime::server::{ClientSpec, POLICY_KEY_PATH, PolicyService};
use palisade_runtime::{Principal, PrincipalKind, TenantId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::server::{Harness, start};
use crate::support::{SCHEMA, report, skip};

const BASE: &str = "@id(\"readers-read\") permit (principal in Palisade::Role::\"reader\", action == App::Action::\"read\", resource);";
const WRITERS: &str = "@id(\"acme-writers\") permit (principal in Palisade::Role::\"writer\", action == App::Action::\"write\", resource);";

async fn send(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    token: &str,
    if_match: Option<&str>,
    body: Value,
) -> (StatusCode, Value, Option<String>) {
    let mut request = h
        .http
        .request(method, format!("{}{path}", h.issuer))
        .bearer_auth(token)
        .json(&body);
    if let Some(tag) = if_match {
        request = request.header("if-match", tag);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        etag,
    )
}

fn files(name: &str, text: &str) -> Value {
    json!({ "files": [{ "name": name, "text": text }] })
}

fn principal(tenant: &str, role: &str) -> Principal {
    Principal {
        tenant: TenantId::new(tenant).unwrap(),
        subject: "someone".into(),
        kind: PrincipalKind::User,
        roles: vec![role.into()],
        scopes: vec![],
        client_id: None,
    }
}

fn allowed(source: &BundleSource, tenant: &str, role: &str, action: &str) -> bool {
    let p = principal(tenant, role);
    let note = Resource::new("App::Note", "n1", &p.tenant).attr("owner", "x");
    source
        .policies()
        .engines()
        .for_tenant(&p.tenant)
        .authorize(&p, action, &note, &Value::Null)
        .unwrap()
        .allowed
}

async fn suite(database: &str) {
    use reqwest::Method;
    let h = start(database).await;
    let (_, key) = BundleSigner::generate().unwrap();
    h.server
        .serve_policies(PolicyService::new(&key).unwrap())
        .unwrap();
    let other = format!("globex-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    h.server
        .identities()
        .create_tenant(&other, "Globex")
        .await
        .unwrap();
    let service = h
        .server
        .identities()
        .create_client(ClientSpec {
            tenant: h.platform.clone(),
            name: "notes service".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec![POLICY_READ_SCOPE.into()],
            audiences: vec![POLICY_AUDIENCE.into()],
            ..ClientSpec::default()
        })
        .await
        .unwrap();
    let name = service.client_id.clone();
    let platform = h.admin_token(&h.platform, &["platform-admin"]).await;
    let acme_admin = h.admin_token(&h.tenant, &["admin"]).await;
    let globex_admin = h.admin_token(&other, &["admin"]).await;
    let root = format!("/policies/{name}");

    // The schema: platform admins only; an unknown service is 404.
    let schema = json!({ "schema": SCHEMA });
    assert_eq!(
        send(
            &h,
            Method::PUT,
            &format!("{root}/schema"),
            &acme_admin,
            None,
            schema.clone()
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(
            &h,
            Method::PUT,
            "/policies/nobody/schema",
            &platform,
            None,
            schema.clone()
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (status, body, _) = send(
        &h,
        Method::PUT,
        &format!("{root}/schema"),
        &platform,
        None,
        schema,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // The base set: If-Match required; an invalid policy is 422 with its file and line.
    let base = format!("{root}/base");
    assert_eq!(
        send(
            &h,
            Method::PUT,
            &base,
            &platform,
            None,
            files("base.cedar", BASE)
        )
        .await
        .0,
        StatusCode::PRECONDITION_REQUIRED
    );
    let (status, body, _) = send(
        &h,
        Method::PUT,
        &base,
        &platform,
        Some("\"v0\""),
        files(
            "base.cedar",
            "permit (principal, action == App::Action::\"fly\", resource);",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["detail"].as_str().unwrap().contains("base.cedar:1:"),
        "{body}"
    );
    assert_eq!(
        send(
            &h,
            Method::PUT,
            &base,
            &acme_admin,
            Some("\"v0\""),
            files("base.cedar", BASE)
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (status, _, tag) = send(
        &h,
        Method::PUT,
        &base,
        &platform,
        Some("\"v0\""),
        files("base.cedar", BASE),
    )
    .await;
    assert_eq!(
        (status, tag.as_deref()),
        (StatusCode::CREATED, Some("\"v2\""))
    );

    // acme's set: its admin only; another tenant's admin is 403; a lost update is 412; the
    // reserved isolation id is refused.
    let acme = format!("{root}/tenants/{}", h.tenant);
    assert_eq!(
        send(
            &h,
            Method::PUT,
            &acme,
            &globex_admin,
            Some("\"v0\""),
            files("acme.cedar", WRITERS)
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (status, body, _) = send(
        &h,
        Method::PUT,
        &acme,
        &acme_admin,
        Some("\"v0\""),
        files(
            "acme.cedar",
            "@id(\"palisade::tenant-isolation\") permit (principal, action, resource);",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body, _) = send(
        &h,
        Method::PUT,
        &acme,
        &acme_admin,
        Some("\"v0\""),
        files("acme.cedar", WRITERS),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 3);
    assert_eq!(
        send(
            &h,
            Method::PUT,
            &acme,
            &acme_admin,
            Some("\"v0\""),
            files("acme.cedar", BASE)
        )
        .await
        .0,
        StatusCode::PRECONDITION_FAILED
    );

    // The service fetches its bundle, verified with the published key.
    let verifying = h
        .http
        .get(format!("{}{POLICY_KEY_PATH}", h.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let kept =
        std::env::temp_dir().join(format!("palisade-policy-bundle-{}", uuid::Uuid::new_v4()));
    let mut config = BundleConfig::new(
        &h.issuer,
        &name,
        service.client_secret.clone().unwrap(),
        verifying.trim(),
        &kept,
        "App",
    );
    config.refresh = std::time::Duration::from_secs(3600);
    let source = BundleSource::start(config).await.unwrap();
    assert_eq!(source.version(), 3);
    assert!(
        allowed(&source, &h.tenant, "writer", "write"),
        "acme's own set"
    );
    assert!(
        !allowed(&source, &other, "writer", "write"),
        "acme's set decides only acme's principals"
    );
    assert!(
        allowed(&source, &other, "reader", "read"),
        "the base set, for every tenant"
    );
    assert_eq!(source.refresh().await.unwrap(), Refreshed::Current);

    // A shadow set, then its promotion's opposite: a rollback to an earlier version.
    let (status, _, _) = send(&h, Method::PUT, &acme, &acme_admin, Some("\"v3\""), json!({ "files": [{ "name": "acme.cedar", "text": BASE.replace("readers-read", "acme-readers") }], "mode": "shadow" })).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(source.refresh().await.unwrap(), Refreshed::Swapped(4));
    let engines = source.policies().engines();
    assert!(
        engines
            .shadow_for(&TenantId::new(h.tenant.as_str()).unwrap())
            .is_some()
    );
    assert!(
        allowed(&source, &h.tenant, "writer", "write"),
        "a shadow is never enforced"
    );
    let (status, body, _) = send(
        &h,
        Method::PUT,
        &acme,
        &acme_admin,
        Some("\"v4\""),
        files("acme.cedar", ""),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(source.refresh().await.unwrap(), Refreshed::Swapped(5));
    assert!(!allowed(&source, &h.tenant, "writer", "write"));
    let (status, body, _) = send(
        &h,
        Method::POST,
        &format!("{acme}/rollback"),
        &acme_admin,
        Some("\"v5\""),
        json!({ "version": 3 }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(source.refresh().await.unwrap(), Refreshed::Swapped(6));
    assert!(
        allowed(&source, &h.tenant, "writer", "write"),
        "rolled back to version 3's policies"
    );

    // History, newest first; every change audited with its actor.
    let (status, body, _) = send(
        &h,
        Method::GET,
        &format!("{acme}/history"),
        &acme_admin,
        None,
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let versions: Vec<i64> = body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![6, 5, 4, 3]);
    assert_eq!(body["versions"][2]["mode"], "shadow");
    h.emitter.flush().await;
    let policy_entries: Vec<_> = h
        .audit
        .entries()
        .into_iter()
        .filter(|e| {
            e.event_type == event_type::ADMIN_CHANGE && e.data.action.starts_with("policy.")
        })
        .collect();
    let done: Vec<_> = policy_entries
        .iter()
        .filter(|e| e.data.outcome == Outcome::Success)
        .collect();
    assert_eq!(
        done.len(),
        6,
        "schema, base, acme v3, its shadow v4, v5 and the rollback v6"
    );
    // Review finding (session 8, 5): a change to acme's set is in acme's chain, and refused
    // changes are recorded too.
    let in_acme = |e: &palisade_runtime::audit::AuditEntry| {
        e.data.tenant.as_ref().map(|t| t.as_str()) == Some(h.tenant.as_str())
    };
    assert_eq!(done.iter().filter(|e| in_acme(e)).count(), 4, "{done:?}");
    let refused: Vec<_> = policy_entries
        .iter()
        .filter(|e| e.data.outcome == Outcome::Denied)
        .collect();
    assert!(
        refused.iter().any(|e| in_acme(e)
            && e.data
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("412"))),
        "the lost update, in acme's chain: {refused:?}"
    );
    assert!(
        refused
            .iter()
            .any(|e| e.data.tenant.as_ref().map(|t| t.as_str()) == Some(other.as_str())),
        "globex's admin reaching for acme's set, in globex's chain: {refused:?}"
    );
    assert!(
        refused.iter().any(|e| e
            .data
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("422") && r.contains("base.cedar:1:"))),
        "{refused:?}"
    );
    let _ = std::fs::remove_file(kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_service_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("palisade-policies-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    suite(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("auth.db").display()
    ))
    .await;
    report("policy service suite passed on SQLite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_service_on_postgres() {
    let Ok(url) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        skip(
            "the_policy_service_on_postgres",
            "PALISADE_TEST_DATABASE_URL is not set",
        );
        return;
    };
    suite(&url).await;
    report("policy service suite passed on PostgreSQL");
}
