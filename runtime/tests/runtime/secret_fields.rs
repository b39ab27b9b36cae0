//! The authorization server refuses a secret in a free-text admin field (a tenant's or client's name, a redirect URI, an API token's name, a username), over the admin API and in the store's commands alike, so no secret reaches its database or audit trail; the message names the field and the rule, never the value.

use http::StatusCode;
use palisade_runtime::secrets::Secret;
use palisade_runtime::server::{ApiTokenSpec, ClientSpec, NewUser, ServerError};
use serde_json::{Value, json};

use crate::server::start;

const TOKEN: &str = "ghp_R8tY2uI5oP9aS3dF7gH1jK4lZ6xC0vB2nM8q";

fn sqlite() -> String {
    let dir = std::env::temp_dir().join(format!("palisade-fields-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}?mode=rwc", dir.join("auth.db").display())
}

fn refused(result: Result<impl std::fmt::Debug, ServerError>, field: &str) {
    refused_by(result, field, "github-token");
}

fn refused_by(result: Result<impl std::fmt::Debug, ServerError>, field: &str, rule: &str) {
    match result {
        Err(ServerError::Invalid(message)) => {
            assert!(
                message.contains(field) && message.contains(rule),
                "{message}"
            );
            for value in [TOKEN, "Zq8Xv2Lm7Pn4"] {
                assert!(!message.contains(value), "the value is repeated: {message}");
            }
        }
        other => panic!("{field}: expected a refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_in_a_free_text_admin_field_is_refused_and_never_stored() {
    let h = start(&sqlite()).await;
    let ids = h.server.identities();
    refused(
        ids.create_tenant("leaky", &format!("token {TOKEN}")).await,
        "tenant name",
    );
    let client = |name: String, redirect: Vec<String>| ClientSpec {
        tenant: h.tenant.clone(),
        name,
        grant_types: vec!["authorization_code".into()],
        redirect_uris: redirect,
        audiences: vec!["notes-api".into()],
        ..ClientSpec::default()
    };
    let uri = "https://app.example.com/callback".to_owned();
    refused(
        ids.create_client(client(TOKEN.into(), vec![uri.clone()]))
            .await,
        "client name",
    );
    let with_password = "https://deploy:Zq8Xv2Lm7Pn4@app.internal/callback".to_owned();
    let leaky_uri = ids.create_client(client("web".into(), vec![with_password]));
    refused_by(leaky_uri.await, "redirect URI", "url-with-password");
    let token = ApiTokenSpec {
        tenant: h.tenant.clone(),
        name: format!("ci {TOKEN}"),
        audiences: vec!["notes-api".into()],
        scopes: Vec::new(),
        roles: Vec::new(),
        ttl: 3600,
    };
    refused(ids.create_api_token(token).await, "API token name");
    let user = NewUser {
        tenant: h.tenant.clone(),
        username: TOKEN.into(),
        password: Secret::new("correct horse battery staple"),
        roles: Vec::new(),
    };
    refused(ids.create_user(user).await, "username");
    // Ordinary names still work.
    ids.create_client(client("web".into(), vec![uri]))
        .await
        .unwrap();

    // Over the admin API: 400 naming the field.
    let bearer = h.admin_token(&h.platform, &["platform-admin"]).await;
    let response = h
        .http
        .post(h.url("/admin/tenants"))
        .bearer_auth(&bearer)
        .json(&json!({ "id": "leaky", "name": format!("deploy with {TOKEN}") }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("tenant name"),
        "{problem}"
    );
    assert!(!problem.to_string().contains(TOKEN));
    assert!(
        !ids.tenants().await.unwrap().contains(&"leaky".to_owned()),
        "nothing stored"
    );
    h.emitter.flush().await;
    let audited = serde_json::to_string(&h.audit.entries()).unwrap();
    assert!(
        !audited.contains(TOKEN),
        "the audit trail never holds the value"
    );
}
