//! The policy service's change-safety check over real HTTP, on SQLite and PostgreSQL (`PALISADE_TEST_DATABASE_URL`): a tenant's proposed set diffed against its active one symbolically (cvc5) and by replaying the decisions its services recorded in the control plane's audit log, the flips exactly the hand-computed ones; refused when invalid or asked by another tenant, storing nothing; the operator's handle (`policy_admin`) as the control plane's command line uses it; the list.

use std::sync::Arc;

use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use palisade_runtime::TenantId;
use palisade_runtime::audit::{AuditEntry, SqlAuditStore, event_type};
use palisade_runtime::authz::{BundleSigner, POLICY_AUDIENCE, POLICY_READ_SCOPE};
use palisade_runtime::server::audit_api::AuditLog;
use palisade_runtime::server::{BundleFile, ClientSpec, PolicyMode, PolicyService, PolicySet};
use palisade_runtime::testing::TestAuthority;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::server::{Harness, start_with_sink};
use crate::support::{AUDIENCE, ISSUER, POLICIES, SCHEMA, app, report, skip};

/// Who (with roles and scope) asks what, and the status under the base policies.
type Asked = (
    &'static str,
    &'static [&'static str],
    &'static str,
    Method,
    &'static str,
    StatusCode,
);

/// Decisions made through the real stack (tenant `acme`, as the test app's notes are), moved to
/// `tenant`: (who, roles, scope, method, path, status).
async fn recorded_decisions(tenant: &str) -> Vec<AuditEntry> {
    let a = TestAuthority::new(ISSUER, AUDIENCE);
    let app = app(a.authn_config());
    let asked: [Asked; 4] = [
        (
            "alice",
            &["writer"],
            "notes:write",
            Method::PUT,
            "/notes/n1",
            StatusCode::OK,
        ),
        (
            "carol",
            &["reader"],
            "",
            Method::GET,
            "/notes/n1",
            StatusCode::OK,
        ),
        (
            "dave",
            &["writer"],
            "",
            Method::GET,
            "/notes/n1",
            StatusCode::FORBIDDEN,
        ),
        (
            "erin",
            &["viewer"],
            "",
            Method::GET,
            "/notes/x1",
            StatusCode::FORBIDDEN,
        ),
    ];
    for (who, roles, scope, method, path, status) in asked {
        let token = a.token("acme", who).roles(roles).scope(scope).sign();
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = app.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status, "{who} {method} {path}");
    }
    app.audit.flush().await;
    let tenant = TenantId::new(tenant).unwrap();
    (app.sink.entries().into_iter())
        .filter(|e| e.event_type == event_type::AUTHZ_DECISION)
        .map(|mut e| {
            e.data.tenant = Some(tenant.clone());
            if let Some(input) = e.data.request.as_mut()
                && input.resource_tenant == "acme"
            {
                input.resource_tenant = tenant.as_str().to_owned();
            }
            e
        })
        .collect()
}

fn cvc5() -> bool {
    std::process::Command::new("cvc5")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn post(h: &Harness, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let response = h
        .http
        .post(format!("{}{path}", h.issuer))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn suite(database: &str) {
    let store = SqlAuditStore::connect(database).await.unwrap();
    let sink_store = store.clone();
    let h = start_with_sink(database, |_| {}, move |_| Arc::new(sink_store)).await;
    let private = AuditLog::generate_key(&h.issuer).unwrap();
    h.server
        .serve_audit_log(AuditLog::new(store.clone(), &private).unwrap())
        .unwrap();
    let (_, key) = BundleSigner::generate().unwrap();
    h.server
        .serve_policies(PolicyService::new(&key).unwrap())
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
    let name = service.client_id;

    // The operator's handle, as the control plane's command line uses it: the schema and the
    // base set (the service's repository's policies), then acme's empty set.
    let operator = h.server.policy_admin();
    let file = |name: &str, text: &str| BundleFile {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    assert_eq!(operator.put_schema(&name, SCHEMA).await.unwrap(), 1);
    operator
        .put(
            &name,
            &PolicySet::Base,
            vec![file("notes.cedar", POLICIES)],
            PolicyMode::Active,
            None,
        )
        .await
        .unwrap();
    let acme = PolicySet::Tenant(TenantId::new(h.tenant.as_str()).unwrap());
    let put = operator
        .put(&name, &acme, vec![], PolicyMode::Active, Some(0))
        .await
        .unwrap();
    assert_eq!(put.version, 3);
    let stale = operator
        .put(&name, &acme, vec![], PolicyMode::Active, Some(0))
        .await
        .unwrap_err();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED, "{stale}");
    let state = operator.get(&name, &acme).await.unwrap();
    assert_eq!((state.newest, state.active.unwrap().version), (3, 3));
    assert_eq!(
        operator
            .history(&name, &PolicySet::Base)
            .await
            .unwrap()
            .len(),
        1
    );

    // The decisions acme's services recorded, in acme's chain of the control plane's log.
    let recorded = recorded_decisions(&h.tenant).await;
    store.append(&recorded).await.unwrap();

    let acme_admin = h.admin_token(&h.tenant, &["admin"]).await;
    let diff = format!("/policies/{name}/tenants/{}/diff", h.tenant);
    // Everyone reads: a widening. Of the recorded decisions exactly dave's read of n1 flips;
    // erin's read of another tenant's note stays denied by the isolation forbid.
    let widening =
        "@id(\"everyone-reads\")\npermit (principal, action == App::Action::\"read\", resource);\n";
    let (status, body) = post(
        &h,
        &diff,
        &acme_admin,
        json!({ "files": [{ "name": "acme.cedar", "text": widening }], "days": 7 }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["against"], 3);
    assert_eq!(body["replay"]["status"], "replayed", "{body}");
    assert_eq!(body["replay"]["replayed"], 4, "{body}");
    let flips = body["replay"]["flips"].as_array().unwrap();
    assert_eq!(flips.len(), 1, "{body}");
    assert_eq!(
        (&flips[0]["action"], &flips[0]["now_allowed"]),
        (&json!("read"), &json!(true))
    );
    assert!(
        flips[0]["now_policies"]
            .as_array()
            .unwrap()
            .contains(&json!("everyone-reads")),
        "{body}"
    );
    assert_eq!(
        body["replay"]["groups"],
        json!([{ "action": "read", "now_allowed": true, "policies": "everyone-reads", "count": 1 }])
    );
    assert_eq!(body["widens"], true);
    let symbolic = &body["symbolic"];
    if cvc5() {
        assert_eq!(symbolic["status"], "checked", "{body}");
        let changes: Vec<&str> = (symbolic["findings"].as_array().unwrap().iter())
            .map(|f| f["change"].as_str().unwrap())
            .collect();
        assert!(changes.contains(&"widening"), "{body}");
        assert!(
            !changes.contains(&"cross_tenant"),
            "the isolation forbid still holds: {body}"
        );
    } else {
        assert_eq!(symbolic["status"], "unavailable", "{body}");
        assert!(
            (symbolic["reason"].as_str().unwrap()).contains("symbolic check unavailable"),
            "{body}"
        );
        skip(
            "the symbolic half of the policy diff",
            "cvc5 is not installed",
        );
    }

    // Owners no longer update: a narrowing only. alice's recorded update flips to denied.
    let narrowing =
        "@id(\"no-updates\")\nforbid (principal, action == App::Action::\"update\", resource);\n";
    let (status, body) = post(
        &h,
        &diff,
        &acme_admin,
        json!({ "files": [{ "name": "acme.cedar", "text": narrowing }] }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["widens"], false, "{body}");
    assert_eq!(
        body["replay"]["groups"],
        json!([{ "action": "update", "now_allowed": false, "policies": "owner-updates", "count": 1 }])
    );
    if cvc5() {
        let findings = body["symbolic"]["findings"].as_array().unwrap();
        assert!(
            !findings.is_empty() && findings.iter().all(|f| f["change"] == "narrowing"),
            "{body}"
        );
    }

    // A proposal that does not load is 422 with its file and line; another tenant's admin is
    // 403; nothing is stored by a diff.
    let (status, body) = post(
        &h,
        &diff,
        &acme_admin,
        json!({ "files": [{ "name": "acme.cedar", "text": "permit (principal, action == App::Action::\"fly\", resource);" }] }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("acme.cedar:1:"),
        "{body}"
    );
    let other = format!("globex-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    h.server
        .identities()
        .create_tenant(&other, "Globex")
        .await
        .unwrap();
    let globex_admin = h.admin_token(&other, &["admin"]).await;
    let (status, _) = post(
        &h,
        &diff,
        &globex_admin,
        json!({ "files": [{ "name": "acme.cedar", "text": widening }] }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(operator.history(&name, &acme).await.unwrap().len(), 1);

    // The list: a platform admin sees acme's set; globex's admin sees no tenant's.
    let platform = h.admin_token(&h.platform, &["platform-admin"]).await;
    let list = |token: String| {
        let (h, name) = (&h, &name);
        async move {
            let response = (h.http.get(format!("{}/policies", h.issuer)))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            (body["services"].as_array().unwrap().iter())
                .find(|s| s["service"] == name.as_str())
                .cloned()
                .unwrap()
        }
    };
    assert_eq!(list(platform).await["tenants"], json!([h.tenant]));
    assert_eq!(list(globex_admin).await["tenants"], json!([]));

    // The operator's changes are audited with the operator as actor.
    let changes: Vec<AuditEntry> = (store.entries(&h.tenant, 0, 1000).await.unwrap().into_iter())
        .map(|s| s.entry)
        .filter(|e| e.data.action == "policy.active.put")
        .collect();
    assert!(
        changes.iter().any(|e| e
            .data
            .actor
            .as_ref()
            .is_some_and(|a| a.subject.starts_with("operator:"))),
        "{changes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposed_tenant_set_is_diffed_symbolically_and_by_replay_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("palisade-policy-diff-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    suite(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("cp.db").display()
    ))
    .await;
    report("policy diff (symbolic and replay) passed on SQLite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposed_tenant_set_is_diffed_symbolically_and_by_replay_on_postgres() {
    let Ok(url) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        skip(
            "a_proposed_tenant_set_is_diffed_symbolically_and_by_replay_on_postgres",
            "PALISADE_TEST_DATABASE_URL is not set",
        );
        return;
    };
    suite(&url).await;
    report("policy diff (symbolic and replay) passed on PostgreSQL");
}
