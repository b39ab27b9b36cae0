//! What every generated service used to write itself and now takes from the runtime: a policy folder loaded in one call, and configuration enums that deserialize by name (an unknown value names the accepted ones).

use palisade_runtime::authn::TokenType;
use palisade_runtime::authz::{LoadError, PolicyEngine};
use palisade_runtime::secrets::keyvault::AzureCredentialSource;

use crate::support::{POLICIES, SCHEMA};

fn folder(files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-policies-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

#[test]
fn a_policy_folder_loads_in_one_call_and_its_errors_name_the_file() {
    let good = folder(&[
        ("schema.cedarschema", SCHEMA),
        ("b.cedar", POLICIES),
        (
            "a.cedar",
            r#"@id("a") permit(principal, action == App::Action::"delete", resource);"#,
        ),
        ("notes.txt", "not a policy"),
    ]);
    PolicyEngine::from_dir("App", &good).unwrap();

    let bad = folder(&[("schema.cedarschema", SCHEMA), ("broken.cedar", "permit(")]);
    let error = PolicyEngine::from_dir("App", &bad)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("broken.cedar"), "{error}");

    let no_schema = folder(&[("a.cedar", "")]);
    let error = PolicyEngine::from_dir("App", &no_schema).err().unwrap();
    assert!(
        matches!(&error, LoadError::Read { file, .. } if file.ends_with("schema.cedarschema")),
        "{error}"
    );
    let missing = good.join("nope");
    assert!(matches!(
        PolicyEngine::from_dir("App", &missing),
        Err(LoadError::Read { .. })
    ));
}

#[derive(serde::Deserialize)]
struct Settings {
    token_type: TokenType,
    azure_credential: AzureCredentialSource,
}

#[test]
fn configuration_enums_deserialize_by_name() {
    let settings: Settings = serde_json::from_str(
        r#"{"token_type": "at+jwt", "azure_credential": "workload_identity"}"#,
    )
    .unwrap();
    assert_eq!(settings.token_type, TokenType::AccessTokenJwt);
    assert_eq!(
        settings.azure_credential,
        AzureCredentialSource::WorkloadIdentity
    );
    let settings: Settings = serde_json::from_str(
        r#"{"token_type": "JWT", "azure_credential": {"user_assigned_identity": "abc"}}"#,
    )
    .unwrap();
    assert_eq!(settings.token_type, TokenType::Jwt);
    assert_eq!(
        settings.azure_credential,
        AzureCredentialSource::UserAssignedIdentity("abc".into())
    );
    let error = serde_json::from_str::<Settings>(
        r#"{"token_type": "jwt", "azure_credential": "managed_identity"}"#,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(error.contains("at+jwt") && error.contains("JWT"), "{error}");
}

#[derive(serde::Deserialize)]
struct ControlPlaneSettings {
    key_algorithm: palisade_runtime::server::KeyAlgorithm,
    sink: palisade_runtime::audit::SinkKind,
}

#[test]
fn key_algorithms_and_audit_sinks_deserialize_by_name() {
    use palisade_runtime::audit::SinkKind;
    use palisade_runtime::server::KeyAlgorithm;
    let cases = [
        (
            r#"{"key_algorithm": "ES256", "sink": "stdout"}"#,
            KeyAlgorithm::Es256,
            SinkKind::Stdout,
        ),
        (
            r#"{"key_algorithm": "EdDSA", "sink": "database"}"#,
            KeyAlgorithm::EdDsa,
            SinkKind::Database,
        ),
        (
            r#"{"key_algorithm": "RS256", "sink": "stdout"}"#,
            KeyAlgorithm::Rs256,
            SinkKind::Stdout,
        ),
    ];
    for (text, algorithm, sink) in cases {
        let settings: ControlPlaneSettings = serde_json::from_str(text).unwrap();
        assert_eq!(
            (settings.key_algorithm, settings.sink),
            (algorithm, sink),
            "{text}"
        );
    }
    let error = serde_json::from_str::<ControlPlaneSettings>(
        r#"{"key_algorithm": "HS256", "sink": "stdout"}"#,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        error.contains("HS256") && error.contains("EdDSA"),
        "{error}"
    );
    assert!(
        serde_json::from_str::<ControlPlaneSettings>(
            r#"{"key_algorithm": "ES256", "sink": "syslog"}"#
        )
        .is_err()
    );
}

/// The control plane's health, readiness and CORS come with the server's router.
#[tokio::test]
async fn the_server_router_answers_health_readiness_and_cors_for_configured_origins_only() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use palisade_runtime::server::ServerConfig;
    use tower::ServiceExt;

    let open = |origins: Vec<String>| async move {
        let mut config = ServerConfig::new("https://issuer.test");
        config.cors_allowed_origins = origins;
        crate::server::open_at(config, "sqlite::memory:").await
    };
    let server = open(vec!["https://app.test".into()]).await.unwrap();
    let call = |request: Request<Body>| {
        let router = server.router();
        async move { router.oneshot(request).await.unwrap() }
    };
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    assert_eq!(call(get("/healthz")).await.status(), StatusCode::OK);
    assert_eq!(call(get("/readyz")).await.status(), StatusCode::OK);
    let preflight = |path: &str, origin: &str| {
        Request::options(path)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = |response: &axum::response::Response| {
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let mut wrong = Vec::new();
    for (path, origin, expected) in [
        ("/token", "https://app.test", Some("https://app.test")),
        ("/userinfo", "https://app.test", Some("https://app.test")),
        ("/token", "https://evil.test", None),
        ("/introspect", "https://app.test", None),
        ("/admin/tenants", "https://app.test", None),
    ] {
        let got = allowed(&call(preflight(path, origin)).await);
        if got.as_deref() != expected {
            wrong.push(format!(
                "{path} from {origin}: {got:?}, expected {expected:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // Off by default; a wildcard or a path is refused at start-up.
    let default = open(Vec::new()).await.unwrap();
    let response = default
        .router()
        .oneshot(preflight("/token", "https://app.test"))
        .await
        .unwrap();
    assert_eq!(allowed(&response), None);
    for bad in [
        "*",
        "https://app.test/",
        "https://app.test/callback",
        "http://app.test",
    ] {
        let error = open(vec![bad.into()]).await.err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("CORS origin")),
            "{bad}: {error:?}"
        );
    }
}

/// The control plane's `token` command: a development access token for a local service, only in
/// development.
#[tokio::test]
async fn development_tokens_are_signed_in_development_only() {
    use palisade_runtime::server::{DevelopmentToken, ServerConfig};

    let open = |insecure: bool| async move {
        let mut config = ServerConfig::new(if insecure {
            "http://127.0.0.1:9000"
        } else {
            "https://issuer.test"
        });
        config.allow_insecure_http = insecure;
        let server = crate::server::open_at(config, "sqlite::memory:")
            .await
            .unwrap();
        server
            .identities()
            .create_tenant("dev", "Development")
            .await
            .unwrap();
        server
    };
    let spec = DevelopmentToken {
        tenant: "dev".into(),
        audience: "notes-api".into(),
        subject: "developer".into(),
        roles: vec!["writer".into()],
        ..DevelopmentToken::default()
    };
    let token = open(true)
        .await
        .identities()
        .acting_as_local_operator()
        .development_token(spec.clone())
        .await
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            &claims["aud"],
            &claims["tenant_id"],
            &claims["roles"],
            &claims["sub"]
        ),
        (
            &"notes-api".into(),
            &"dev".into(),
            &serde_json::json!(["writer"]),
            &"developer".into()
        )
    );
    let refused = open(false)
        .await
        .identities()
        .development_token(spec)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("development"), "{refused}");
}
