//! Replay of recorded decisions: requests through the real stack record their decisions' inputs; stored in the hash-chained store (the actor's subject sealed) and read back, they are decided again under a changed policy set, and the flips are exactly the hand-computed ones.

use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use palisade_runtime::audit::{SqlAuditStore, event_type};
use palisade_runtime::authz::{PolicyEngine, PolicySource};
use palisade_runtime::testing::TestAuthority;
use tower::ServiceExt;

use crate::support::{AUDIENCE, ISSUER, POLICIES, SCHEMA, app};

/// Who (with roles and scopes) asks what, and the status under the current policies.
type Asked = (
    &'static str,
    &'static [&'static str],
    &'static str,
    Method,
    &'static str,
    StatusCode,
);

#[tokio::test]
async fn replay_reports_exactly_the_decisions_a_policy_change_flips() {
    let a = TestAuthority::new(ISSUER, AUDIENCE);
    let app = app(a.authn_config());
    let requests: [Asked; 6] = [
        (
            "alice",
            &["writer"],
            "notes:write",
            Method::PUT,
            "/notes/n1",
            StatusCode::OK,
        ),
        (
            "bob",
            &["writer"],
            "notes:write",
            Method::PUT,
            "/notes/n1",
            StatusCode::FORBIDDEN,
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
            &["writer"],
            "notes:write",
            Method::GET,
            "/notes/n1",
            StatusCode::OK,
        ),
        (
            "alice",
            &["reader"],
            "",
            Method::GET,
            "/notes/x1",
            StatusCode::FORBIDDEN,
        ),
    ];
    for (who, roles, scope, method, path, status) in &requests {
        let token = a.token("acme", who).roles(roles).scope(scope).sign();
        let request = Request::builder()
            .method(method.clone())
            .uri(*path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = app.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), *status, "{who} {method} {path}");
    }
    app.audit.flush().await;
    let recorded: Vec<_> = app
        .sink
        .entries()
        .into_iter()
        .filter(|e| e.event_type == event_type::AUTHZ_DECISION)
        .collect();
    assert_eq!(recorded.len(), 6);
    assert!(
        recorded
            .iter()
            .all(|e| e.data.request.as_ref().is_some_and(|r| r.complete))
    );

    // Through the store, as the control plane keeps them: sealed, then opened on reading.
    let store = SqlAuditStore::connect("sqlite::memory:").await.unwrap();
    store.append(&recorded).await.unwrap();
    let stored: Vec<_> = store
        .entries("acme", 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.entry)
        .collect();
    assert_eq!(stored, recorded);

    // The same policies: nothing flips.
    let same = load(POLICIES);
    let report = same.replay(&stored);
    assert_eq!((report.replayed, report.flips.len()), (6, 0), "{report:?}");

    // Writers no longer need the scope to read (dave's read now allowed), and owners no longer
    // update (alice's update now denied); the cross-tenant read stays denied whatever permits.
    let changed = POLICIES
        .replace(r#"when { principal.scopes.contains("notes:write") };"#, ";")
        .replace(
            r#"@id("owner-updates")
permit (principal in Palisade::Role::"writer", action == App::Action::"update", resource)
when { resource.owner == principal.subject };"#,
            "",
        )
        + "\n@id(\"everyone-reads\")\npermit (principal, action == App::Action::\"read\", resource);\n";
    let report = load(&changed).replay(&stored);
    assert_eq!(report.replayed, 6);
    assert!(report.failed.is_empty(), "{report:?}");
    let flips: Vec<(&str, bool)> = report
        .flips
        .iter()
        .map(|f| (f.action.as_str(), f.now_allowed))
        .collect();
    assert_eq!(flips, vec![("update", false), ("read", true)], "{report:?}");
    assert_eq!(
        report.flips[0].then_policies,
        vec!["owner-updates".to_owned()]
    );
    assert!(
        report.flips[1]
            .now_policies
            .contains(&"everyone-reads".to_owned())
    );
    let groups = report.groups();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(
        groups.get(&("update".to_owned(), false, "owner-updates".to_owned())),
        Some(&1)
    );

    // A decision recorded without its inputs (an older service) is counted, not replayed.
    let mut old = stored.clone();
    old[0].data.request = None;
    assert_eq!(same.replay(&old).not_replayable, 1);
    // Review finding (session 8, 11): entries as a redacted export holds them (the actor's
    // subject sealed) are not replayed as if the seal were the subject.
    let report = load(&changed).replay(&recorded_as_hashed(&store).await);
    assert_eq!(
        (report.replayed, report.not_replayable),
        (0, 6),
        "{report:?}"
    );
}

/// The entries as the chain hashed them: the actor's subject sealed.
async fn recorded_as_hashed(store: &SqlAuditStore) -> Vec<palisade_runtime::audit::AuditEntry> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT entry FROM palisade_audit_log WHERE chain = 'acme' ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .unwrap();
    rows.iter()
        .map(|(json,)| serde_json::from_str(json).unwrap())
        .collect()
}

fn load(policies: &str) -> PolicyEngine {
    PolicyEngine::load(
        "App",
        &PolicySource::new("schema.cedarschema", SCHEMA),
        &[PolicySource::new("notes.cedar", policies)],
    )
    .unwrap()
}
