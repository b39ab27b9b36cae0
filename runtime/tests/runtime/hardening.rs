//! Issue 10, the hostile review of the authorization server: one test per finding, named after it, each over real HTTP against the server's own harness (SQLite unless the finding is about replicas).

use std::sync::Arc;

use palisade_runtime::audit::{AuditEmitter, EmitterConfig, MemorySink};
use palisade_runtime::secrets::Secret;
use palisade_runtime::server::{
    AuthorizationServer, ClientSpec, Clock, KeyAlgorithm, KeyEncryptionKey, ServerConfig, Store,
    SystemClock,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::server::{Harness, pkce, start};

const KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn sqlite() -> String {
    let dir = std::env::temp_dir().join(format!("palisade-hardening-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    format!("sqlite://{}?mode=rwc", dir.join("auth.db").display())
}

/// A client of `tenant` with `roles` for the admin audience, and its secret.
async fn admin_client(h: &Harness, tenant: &str, roles: &[&str]) -> (String, String) {
    let client = h
        .server
        .identities()
        .create_client(ClientSpec {
            tenant: tenant.to_owned(),
            name: "admin automation".into(),
            grant_types: vec!["client_credentials".into()],
            roles: roles.iter().map(|r| r.to_string()).collect(),
            audiences: vec!["palisade-admin".into()],
            ..ClientSpec::default()
        })
        .await
        .unwrap();
    let secret = client.client_secret.unwrap().expose().to_owned();
    (client.client_id, secret)
}

async fn token_of(h: &Harness, client: &(String, String)) -> String {
    let (status, body, _) = h
        .post(
            "/token",
            &[("grant_type", "client_credentials")],
            Some((&client.0, &client.1)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn admin_post(h: &Harness, token: &str, path: &str) -> (StatusCode, Value) {
    let response = h
        .http
        .post(h.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Finding 1 (high): an `admin` of the platform tenant rotated the secret of a client holding
/// `platform-admin` and took over its role. Rotating or disabling a client whose roles or
/// audiences the caller could not grant is for platform admins only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_tenant_admin_cannot_take_over_a_more_privileged_client() {
    let h = start(&sqlite()).await;
    let platform_root = admin_client(&h, &h.platform, &["platform-admin"]).await;
    let platform_tenant_admin = admin_client(&h, &h.platform, &["admin"]).await;
    let attacker = token_of(&h, &platform_tenant_admin).await;
    let secret_path = format!(
        "/admin/tenants/{}/clients/{}/secret",
        h.platform, platform_root.0
    );
    let disable_path = format!(
        "/admin/tenants/{}/clients/{}/disable",
        h.platform, platform_root.0
    );
    let (status, body) = admin_post(&h, &attacker, &secret_path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "rotate: {body}");
    assert!(body.get("client_secret").is_none(), "{body}");
    let (status, _) = admin_post(&h, &attacker, &disable_path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "disable");
    // Another tenant admin's client holds the admin audience: not the caller's to take either.
    let peer = admin_client(&h, &h.platform, &["admin"]).await;
    let (status, _) = admin_post(
        &h,
        &attacker,
        &format!("/admin/tenants/{}/clients/{}/secret", h.platform, peer.0),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a peer admin's client");
    // The platform root still works, and a platform admin may rotate it.
    let root = token_of(&h, &platform_root).await;
    let (status, body) = admin_post(&h, &root, &secret_path).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A tenant admin still rotates an ordinary service client of its tenant.
    let tenant_admin = token_of(&h, &admin_client(&h, &h.tenant, &["admin"]).await).await;
    let (status, body) = admin_post(
        &h,
        &tenant_admin,
        &format!(
            "/admin/tenants/{}/clients/{}/secret",
            h.tenant, h.service_id
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Finding 7: a `private_key_jwt` assertion is accepted only with the issuer identifier as its
/// single `aud` string, and with no `typ` other than `JWT` or `client-authentication+jwt`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_key_jwt_audience_is_the_issuer_only() {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let h = start(&sqlite()).await;
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let signing = jsonwebtoken::EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
    let jwks = serde_json::json!({ "keys": [{ "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]) }] });
    let id = h
        .server
        .identities()
        .create_client(ClientSpec {
            tenant: h.tenant.clone(),
            name: "keyed worker".into(),
            grant_types: vec!["client_credentials".into()],
            audiences: vec!["notes-api".into()],
            jwks: Some(jwks),
            ..ClientSpec::default()
        })
        .await
        .unwrap()
        .client_id;
    let grant = |aud: Value, typ: Option<&str>, jti: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        header.typ = typ.map(str::to_owned);
        let now = SystemClock.now();
        let claims = serde_json::json!({ "iss": id, "sub": id, "aud": aud, "jti": jti, "iat": now, "exp": now + 60 });
        let jwt = jsonwebtoken::encode(&header, &claims, &signing).unwrap();
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", jwt),
        ];
        let (http, url) = (h.http.clone(), h.url("/token"));
        async move { http.post(url).form(&form).send().await.unwrap().status() }
    };
    let issuer = Value::from(h.issuer.clone());
    let cases = [
        (
            "the token endpoint",
            Value::from(h.url("/token")),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "the issuer in an array",
            Value::from(vec![issuer.clone()]),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "the issuer and another",
            serde_json::json!([h.issuer, "https://other.test"]),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "an access token's typ",
            issuer.clone(),
            Some("at+jwt"),
            StatusCode::UNAUTHORIZED,
        ),
        ("the issuer", issuer.clone(), None, StatusCode::OK),
        ("typ JWT", issuer.clone(), Some("JWT"), StatusCode::OK),
        (
            "typ client-authentication+jwt",
            issuer,
            Some("client-authentication+jwt"),
            StatusCode::OK,
        ),
    ];
    let mut wrong = Vec::new();
    for (i, (case, aud, typ, expected)) in cases.into_iter().enumerate() {
        let status = grant(aud, typ, &format!("a-{i}")).await;
        if status != expected {
            wrong.push(format!("{case}: {status}, expected {expected}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Finding 12: discovery named the configured algorithm, not the keys': after a change of
/// `key_algorithm` the active key still signs with the old one until two rotations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_advertises_the_algorithms_of_published_keys() {
    let database = sqlite();
    let open = |algorithm: KeyAlgorithm| {
        let database = database.clone();
        async move {
            let mut config = ServerConfig::new("https://issuer.test");
            config.key_algorithm = algorithm;
            let emitter = AuditEmitter::spawn(
                "urn:palisade:test",
                Arc::new(MemorySink::new()),
                EmitterConfig::default(),
            );
            let kek = KeyEncryptionKey::from_secret(&Secret::new(KEK)).unwrap();
            let store = Store::connect(&database).await.unwrap();
            AuthorizationServer::open(config, store, kek, emitter, Arc::new(SystemClock))
                .await
                .unwrap()
        }
    };
    let advertised = |server: AuthorizationServer| async move {
        let response = tower::ServiceExt::oneshot(
            server.router(),
            axum::http::Request::get("/.well-known/openid-configuration")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let doc: Value = serde_json::from_slice(&body).unwrap();
        doc["id_token_signing_alg_values_supported"].clone()
    };
    drop(open(KeyAlgorithm::Es256).await);
    // Reconfigured: the stored ES256 keys still sign and are still published.
    let server = open(KeyAlgorithm::EdDsa).await;
    assert_eq!(
        advertised(server.clone()).await,
        serde_json::json!(["ES256"])
    );
    server.rotate_keys().await.unwrap();
    assert_eq!(
        advertised(server.clone()).await,
        serde_json::json!(["ES256", "EdDSA"]),
        "the retired, the active (ES256) and the new next key (EdDSA)"
    );
}

/// Finding 13: `/token` answered "issued to another client" for a code or refresh token of
/// another client, confirming that a stolen one exists. The answer is the unknown-token answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_does_not_confirm_another_clients_code_or_refresh_token() {
    let h = start(&sqlite()).await;
    let unknown_code = h
        .redeem(h.web(), "plsd_ac_no-such-code", Some(&pkce("x").0))
        .await
        .1;
    let (verifier, challenge) = pkce("stolen");
    let (query, _) = h.sign_in(&h.web_id, &challenge).await;
    let other = (h.other_web_id.as_str(), h.other_web_secret.as_str());
    let (status, stolen_code) = h.redeem(other, &query["code"], Some(&verifier)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        stolen_code, unknown_code,
        "a stolen code answers as an unknown one"
    );

    let tokens = h.code_flow("refresh").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let unknown_refresh = h.refresh(other, "plsd_rt_no-such-token", None).await.1;
    let (status, stolen_refresh) = h.refresh(other, refresh, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(stolen_refresh, unknown_refresh);
}
