//! Issue 10, the hostile review of the authorization server: one test per finding, named after it, each over real HTTP against the server's own harness (SQLite unless the finding is about replicas).

use std::collections::BTreeMap;
use std::sync::Arc;

use palisade_runtime::secrets::Secret;
use palisade_runtime::server::{
    AuthorizationServer, ClientSpec, Clock, KeyAlgorithm, ServerConfig, Store, SystemClock,
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::server::{Harness, PASSWORD, hidden, pkce, query_of, set_cookie, start};

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
        if typ == Some("JWT+jku") {
            // Not a type: the marker for a header that names its own key, which the one JWS
            // parser refuses whatever the signature.
            header.typ = None;
            header.jku = Some("https://attacker.test/jwks".into());
        }
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
        (
            "a jku header",
            issuer.clone(),
            Some("JWT+jku"),
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
            crate::server::open_at(config, &database).await.unwrap()
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

/// Finding 10: key rotation and API-token revocation recorded no actor, client disable no
/// tenant, a refresh was logged as `token.authorization_code`, and the control plane's command
/// line (which calls the library directly) named nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_change_names_its_actor_and_tenant() {
    let h = start(&sqlite()).await;
    let root = admin_client(&h, &h.platform, &["platform-admin"]).await;
    let token = token_of(&h, &root).await;
    let (status, _) = admin_post(&h, &token, "/admin/keys/rotate").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let created: Value = h
        .http
        .post(h.url(&format!("/admin/tenants/{}/api-tokens", h.tenant)))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "name": "ci", "audiences": ["notes-api"], "ttl": 3600 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status = h
        .http
        .delete(h.url(&format!(
            "/admin/tenants/{}/api-tokens/{}",
            h.tenant,
            created["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin_post(
        &h,
        &token,
        &format!(
            "/admin/tenants/{}/clients/{}/disable",
            h.tenant, h.service_id
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let tokens = h.code_flow("audit").await;
    let (status, _) = h
        .refresh(h.web(), tokens["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // The library call a command line makes names the operating-system user and host.
    h.server.rotate_keys().await.unwrap();

    let entries = h.audited().await;
    let find = |action: &str| {
        entries
            .iter()
            .filter(|e| e.data.action == action)
            .collect::<Vec<_>>()
    };
    let mut wrong = Vec::new();
    let rotations = find("keys.rotate");
    let actors: Vec<Option<&str>> = rotations
        .iter()
        .map(|e| e.data.actor.as_ref().map(|a| a.subject.as_str()))
        .collect();
    if !actors.contains(&Some(root.0.as_str())) {
        wrong.push(format!("rotation through the admin API: actors {actors:?}"));
    }
    if !actors
        .iter()
        .any(|a| a.is_some_and(|s| s.starts_with("operator:") && s.contains('@')))
    {
        wrong.push(format!("rotation by the library: actors {actors:?}"));
    }
    match find("api_token.revoke").first() {
        Some(e) if e.data.actor.as_ref().is_some_and(|a| a.subject == root.0) => {}
        other => wrong.push(format!("API token revocation: {other:?}")),
    }
    match find("client.disable").first() {
        Some(e)
            if e.data
                .tenant
                .as_ref()
                .is_some_and(|t| t.as_str() == h.tenant) => {}
        other => wrong.push(format!("client disable without its tenant: {other:?}")),
    }
    if find("token.refresh").is_empty() {
        wrong.push("no token.refresh entry for a refresh".into());
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// What `/authorize` answers with a session cookie: the redirect's query, or `None` for the login
/// form.
async fn authorize_with(
    h: &Harness,
    session: &str,
    extra: &[(&str, &str)],
) -> Option<BTreeMap<String, String>> {
    let (_, challenge) = pkce("again");
    let response = h
        .http
        .get(h.authorize_url(&h.web_id, &challenge, extra))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    match response.status() {
        StatusCode::SEE_OTHER => Some(query_of(response.headers()["location"].to_str().unwrap())),
        StatusCode::OK => {
            assert!(response.text().await.unwrap().contains("request_id"));
            None
        }
        other => panic!("{other}"),
    }
}

/// Finding 3: `max_age`, `prompt=login` and `id_token_hint` were ignored, `prompt=consent` and
/// request objects were not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_honours_max_age_prompt_login_and_id_token_hint() {
    let h = start(&sqlite()).await;
    let alice = h.code_flow("alice").await;
    let alice_hint = alice["id_token"].as_str().unwrap().to_owned();
    h.server
        .identities()
        .create_user(palisade_runtime::server::NewUser {
            tenant: h.tenant.clone(),
            username: "bob".into(),
            password: Secret::new(PASSWORD),
            roles: vec![],
        })
        .await
        .unwrap();
    let (_, challenge) = pkce("bob");
    let (_, bob_session) = h
        .sign_in_as("bob", &h.authorize_url(&h.web_id, &challenge, &[]))
        .await;
    h.clock.advance(5);

    let error = |answer: Option<BTreeMap<String, String>>| {
        answer.and_then(|q| {
            q.get("error")
                .cloned()
                .or(q.get("code").map(|_| "code".into()))
        })
    };
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<&'a str>);
    let cases: Vec<Case> = vec![
        ("a current session", vec![], Some("code")),
        (
            "max_age longer than the session",
            vec![("max_age", "3600")],
            Some("code"),
        ),
        ("max_age=0 shows the form", vec![("max_age", "0")], None),
        (
            "max_age shorter than the session",
            vec![("max_age", "1")],
            None,
        ),
        (
            "max_age=0 and prompt=none",
            vec![("max_age", "0"), ("prompt", "none")],
            Some("login_required"),
        ),
        (
            "prompt=login shows the form",
            vec![("prompt", "login")],
            None,
        ),
        (
            "prompt=consent",
            vec![("prompt", "consent")],
            Some("consent_required"),
        ),
        (
            "a request object",
            vec![("request", "eyJhbGciOiJub25lIn0.e30.")],
            Some("request_not_supported"),
        ),
        (
            "a request_uri",
            vec![("request_uri", "https://rp.test/r")],
            Some("request_uri_not_supported"),
        ),
        (
            "a hint for another user",
            vec![("prompt", "none"), ("id_token_hint", &alice_hint)],
            Some("login_required"),
        ),
        (
            "a hint that is no ID token",
            vec![("prompt", "none"), ("id_token_hint", "x.y.z")],
            Some("invalid_request"),
        ),
    ];
    let mut wrong = Vec::new();
    for (case, extra, expected) in cases {
        let got = error(authorize_with(&h, &bob_session, &extra).await);
        if got.as_deref() != expected {
            wrong.push(format!("{case}: {got:?}, expected {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");

    // The hint of the signed-in user passes silently, and the ID token then carries auth_time.
    let (verifier, challenge) = pkce("hinted");
    let response = h
        .http
        .get(h.authorize_url(
            &h.web_id,
            &challenge,
            &[
                ("prompt", "none"),
                ("id_token_hint", &alice_hint),
                ("max_age", "3600"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "no session: login_required"
    );
    let (query, _) = h
        .sign_in_as(
            &h.username,
            &h.authorize_url(&h.web_id, &challenge, &[("max_age", "3600")]),
        )
        .await;
    let (_, tokens) = h.redeem(h.web(), &query["code"], Some(&verifier)).await;
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            tokens["id_token"]
                .as_str()
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(claims["auth_time"].is_i64(), "{claims}");

    let doc: Value = h
        .http
        .get(h.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["prompt_values_supported"],
        serde_json::json!(["none", "login"])
    );
    assert_eq!(doc["request_parameter_supported"], false);
    assert_eq!(doc["request_uri_parameter_supported"], false);
}

/// Finding 5: unauthenticated requests could grow memory and storage: unbounded `state`,
/// `nonce`, parameters and bodies, a rate-limit key per multi-megabyte user name, a failed login
/// form replayable for ten minutes, grants never purged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_cannot_grow_memory_or_storage() {
    let database = sqlite();
    let h = start(&database).await;
    let (_, challenge) = pkce("caps");
    let long = "s".repeat(513);
    let status = |url: String| {
        let http = h.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let url = h.authorize_url(&h.web_id, &challenge, &[]);
    let response = status(url.replace("state=st-123", &format!("state={long}"))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "a long state");
    assert!(response.headers().get("location").is_none(), "never echoed");
    let response = status(url.replace("nonce=n-456", &format!("nonce={long}"))).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_of(&location)["error"],
        "invalid_request",
        "a long nonce"
    );
    let huge = "p".repeat(9 * 1024);
    let response = status(h.authorize_url(&h.web_id, &challenge, &[("x", &huge)])).await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "a 9 KiB parameter"
    );
    let response = h
        .http
        .post(h.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("pad", &"p".repeat(70 * 1024)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A failed sign-in spends its form: the same form with the right password is refused.
    let form = h
        .http
        .get(h.authorize_url(&h.web_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let csrf_cookie = set_cookie(&form, "palisade_csrf").unwrap();
    let html = form.text().await.unwrap();
    let submit = |username: String, password: &str| {
        let fields = [
            ("request_id", hidden(&html, "request_id")),
            ("csrf", hidden(&html, "csrf")),
            ("username", username),
            ("password", password.to_owned()),
        ];
        let request = h
            .http
            .post(h.url("/authorize/login"))
            .header("cookie", csrf_cookie.clone())
            .form(&fields);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        submit(h.username.clone(), "wrong password!").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        submit(h.username.clone(), PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "a spent form"
    );
    // Over-long user names are never verified and never counted: no 429 however many.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let form = h
            .http
            .get(h.authorize_url(&h.web_id, &challenge, &[]))
            .send()
            .await
            .unwrap();
        let cookie = set_cookie(&form, "palisade_csrf").unwrap();
        let html = form.text().await.unwrap();
        let status = h
            .http
            .post(h.url("/authorize/login"))
            .header("cookie", cookie)
            .form(&[
                ("request_id", hidden(&html, "request_id")),
                ("csrf", hidden(&html, "csrf")),
                ("username", "n".repeat(300)),
                ("password", "whatever".into()),
            ])
            .send()
            .await
            .unwrap()
            .status();
        statuses.push(status);
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );

    // Grants with nothing left are purged.
    h.code_flow("purged").await;
    let pool = sqlx::SqlitePool::connect(&database).await.unwrap();
    let families = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM palisade_families")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert!(families().await > 0);
    let store = Store::connect(&database).await.unwrap();
    store
        .purge_expired(SystemClock.now() + 400 * 24 * 3600)
        .await
        .unwrap();
    assert_eq!(families().await, 0, "every grant was over");
}

async fn introspect_as(h: &Harness, token: &str, client: (&str, &str)) -> Value {
    let (status, body, _) = h
        .post("/introspect", &[("token", token)], Some(client))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Finding 6: there was no way to cut off a compromised user or client, and refresh tokens slid
/// forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_or_client_is_cut_off_at_once() {
    let h = start(&sqlite()).await;
    let tenant_admin = token_of(&h, &admin_client(&h, &h.tenant, &["admin"]).await).await;
    let tokens = h.code_flow("cut-off").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let (_, service) = h.client_credentials(None).await;
    let service = service["access_token"].as_str().unwrap().to_owned();
    let other = (h.other_web_id.as_str(), h.other_web_secret.as_str());
    assert_eq!(introspect_as(&h, access, other).await["active"], true);
    assert_eq!(introspect_as(&h, &service, other).await["active"], true);

    let user_id = {
        let claims = introspect_as(&h, access, other).await;
        claims["sub"].as_str().unwrap().to_owned()
    };
    let (status, _) = admin_post(
        &h,
        &tenant_admin,
        &format!("/admin/tenants/{}/users/{user_id}/disable", h.tenant),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        introspect_as(&h, access, other).await["active"],
        false,
        "user disabled"
    );
    let (status, body) = h.refresh(h.web(), refresh, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    let (status, _) = admin_post(
        &h,
        &tenant_admin,
        &format!(
            "/admin/tenants/{}/clients/{}/disable",
            h.tenant, h.service_id
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        introspect_as(&h, &service, other).await["active"],
        false,
        "client disabled"
    );

    // A password reset signs the user out everywhere; a tenant admin cannot reset a platform
    // admin's password.
    let ids = h.server.identities();
    let carol = ids
        .create_user(palisade_runtime::server::NewUser {
            tenant: h.tenant.clone(),
            username: "carol".into(),
            password: Secret::new(PASSWORD),
            roles: vec![],
        })
        .await
        .unwrap();
    let (verifier, challenge) = pkce("carol");
    let (query, _) = h
        .sign_in_as("carol", &h.authorize_url(&h.web_id, &challenge, &[]))
        .await;
    let (_, carol_tokens) = h.redeem(h.web(), &query["code"], Some(&verifier)).await;
    let status = h
        .http
        .post(h.url(&format!(
            "/admin/tenants/{}/users/{carol}/password",
            h.tenant
        )))
        .bearer_auth(&tenant_admin)
        .json(&serde_json::json!({ "password": "a brand new passphrase" }))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h
        .refresh(
            h.web(),
            carol_tokens["refresh_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "refresh after a password reset"
    );
    let root = ids
        .create_user(palisade_runtime::server::NewUser {
            tenant: h.platform.clone(),
            username: "root".into(),
            password: Secret::new(PASSWORD),
            roles: vec!["platform-admin".into()],
        })
        .await
        .unwrap();
    let platform_tenant_admin =
        token_of(&h, &admin_client(&h, &h.platform, &["admin"]).await).await;
    let (status, _) = admin_post(
        &h,
        &platform_tenant_admin,
        &format!("/admin/tenants/{}/users/{root}/disable", h.platform),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "disabling a platform admin");

    // A grant's absolute lifetime: rotation every 29 days stops after 90.
    ids.set_user_disabled(&user_id, false).await.unwrap();
    let tokens = h.code_flow("lifetime").await;
    let mut refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        h.clock.advance(29 * 24 * 3600);
        let (status, body) = h.refresh(h.web(), &refresh, None).await;
        statuses.push(status);
        if let Some(next) = body["refresh_token"].as_str() {
            refresh = next.to_owned();
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::BAD_REQUEST
        ],
        "day 29, 58 and 87 rotate; day 116 is past the 90-day grant"
    );
}

/// Finding 2: any confidential client of any tenant could introspect any token and read its
/// claims. Only resource servers (a per-client permission) may introspect, and a token is
/// inactive to one outside its tenant or audience; API tokens carry their audiences.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_is_for_resource_servers_of_the_tokens_tenant_and_audience() {
    let h = start(&sqlite()).await;
    let ids = h.server.identities();
    let resource_server = |tenant: &str, audience: &str, introspection: bool| {
        let spec = ClientSpec {
            tenant: tenant.to_owned(),
            name: format!("{audience} resource server"),
            grant_types: vec!["client_credentials".into()],
            audiences: vec![audience.to_owned()],
            introspection,
            ..ClientSpec::default()
        };
        let ids = ids.clone();
        async move {
            let created = ids.create_client(spec).await.unwrap();
            (
                created.client_id,
                created.client_secret.unwrap().expose().to_owned(),
            )
        }
    };
    let other_tenant = format!("{}-other", h.tenant);
    ids.create_tenant(&other_tenant, "Other").await.unwrap();
    let notes_here = resource_server(&h.tenant, "notes-api", true).await;
    let billing_here = resource_server(&h.tenant, "billing-api", true).await;
    let notes_elsewhere = resource_server(&other_tenant, "notes-api", true).await;
    let not_allowed = resource_server(&h.tenant, "notes-api", false).await;

    let (_, issued) = h.client_credentials(None).await;
    let access = issued["access_token"].as_str().unwrap();
    let api_token = ids
        .create_api_token(palisade_runtime::server::ApiTokenSpec {
            tenant: h.tenant.clone(),
            name: "billing export".into(),
            audiences: vec!["billing-api".into()],
            ttl: 3600,
            ..Default::default()
        })
        .await
        .unwrap();
    let api_token = api_token.token.expose().to_owned();

    let (status, body, _) = h
        .post(
            "/introspect",
            &[("token", access)],
            Some((&not_allowed.0, &not_allowed.1)),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("unauthorized_client")),
        "a client that is no resource server"
    );
    let active = |token: &str, caller: &(String, String)| {
        let token = token.to_owned();
        let caller = caller.clone();
        let h = &h;
        async move { introspect_as(h, &token, (&caller.0, &caller.1)).await["active"] == true }
    };
    let cases = [
        (
            "notes token to notes, same tenant",
            active(access, &notes_here).await,
            true,
        ),
        (
            "notes token to billing, same tenant",
            active(access, &billing_here).await,
            false,
        ),
        (
            "notes token to notes, other tenant",
            active(access, &notes_elsewhere).await,
            false,
        ),
        (
            "billing API token to billing",
            active(&api_token, &billing_here).await,
            true,
        ),
        (
            "billing API token to notes",
            active(&api_token, &notes_here).await,
            false,
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(_, got, expected)| got != expected)
        .map(|(case, got, expected)| format!("{case}: active {got}, expected {expected}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
    let answer = introspect_as(&h, &api_token, (&billing_here.0, &billing_here.1)).await;
    assert_eq!(
        answer["aud"],
        serde_json::json!(["billing-api"]),
        "{answer}"
    );
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Finding 14: there was no way to withdraw a compromised signing key before its tokens expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compromised_signing_key_is_withdrawn_at_once() {
    let h = start(&sqlite()).await;
    let root = admin_client(&h, &h.platform, &["platform-admin"]).await;
    let admin = token_of(&h, &root).await;
    let (_, issued) = h.client_credentials(None).await;
    let before = issued["access_token"].as_str().unwrap().to_owned();
    let compromised = kid_of(&before);
    // A kid is typed into command lines (`keys revoke <kid>`): it never starts with a dash.
    assert!(compromised.starts_with('k'), "{compromised}");
    assert_eq!(h.introspect(&before).await["active"], true);

    let (status, body) = admin_post(&h, &admin, &format!("/admin/keys/{compromised}/revoke")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let jwks: Value = h
        .http
        .get(h.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        !kids.contains(&compromised.as_str()),
        "unpublished: {kids:?}"
    );
    assert_eq!(
        kids.len(),
        2,
        "the promoted key and a new next key: {kids:?}"
    );
    assert_eq!(
        h.introspect(&before).await["active"],
        false,
        "a token the revoked key signed"
    );
    let (_, issued) = h.client_credentials(None).await;
    let after = issued["access_token"].as_str().unwrap();
    assert_ne!(kid_of(after), compromised);
    assert!(kids.contains(&kid_of(after).as_str()));
    assert_eq!(h.introspect(after).await["active"], true);
    // The admin token was signed by the revoked key too: it no longer works.
    let (status, _) = admin_post(&h, &admin, "/admin/keys/rotate").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let admin = token_of(&h, &root).await;
    let (status, _) = admin_post(&h, &admin, "/admin/keys/no-such-key/revoke").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let entries = h.audited().await;
    assert!(
        entries.iter().any(|e| e.data.action == "keys.revoke"
            && e.data.actor.as_ref().is_some_and(|a| a.subject == root.0)),
        "the revocation is audited with its actor"
    );
}

/// Finding 11: `GET /end_session` signed out without confirmation, with a hint of any age for
/// any user. Only an ID token of the session's user, issued during the session, signs out at
/// once; anything else gets a confirmation form checked by CSRF double submit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_without_a_hint_for_the_session_asks_first() {
    let h = start(&sqlite()).await;
    let (verifier, challenge) = pkce("logout");
    let (query, session) = h.sign_in(&h.web_id, &challenge).await;
    let (_, tokens) = h.redeem(h.web(), &query["code"], Some(&verifier)).await;
    let own_hint = tokens["id_token"].as_str().unwrap().to_owned();
    let still_signed_in = || async {
        let response = h
            .http
            .get(h.authorize_url(&h.web_id, &challenge, &[("prompt", "none")]))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        query_of(response.headers()["location"].to_str().unwrap()).contains_key("code")
    };
    let end_session = |extra: Vec<(&'static str, String)>, cookies: String| {
        let url = url::Url::parse_with_params(&h.url("/end_session"), &extra).unwrap();
        let request = h.http.get(url).header("cookie", cookies);
        async move { request.send().await.unwrap() }
    };
    // A link on another site: no hint, or a hint for someone else.
    let forged = end_session(vec![], session.clone()).await;
    assert_eq!(forged.status(), StatusCode::OK);
    assert_eq!(forged.headers()["cache-control"], "no-store");
    let html = forged.text().await.unwrap();
    assert!(html.contains("Sign out of this server?"), "{html}");
    assert!(still_signed_in().await, "a bare GET signs nobody out");
    let bob = {
        h.server
            .identities()
            .create_user(palisade_runtime::server::NewUser {
                tenant: h.tenant.clone(),
                username: "bob".into(),
                password: Secret::new(PASSWORD),
                roles: vec![],
            })
            .await
            .unwrap();
        let (verifier, challenge) = pkce("bob");
        let (query, _) = h
            .sign_in_as("bob", &h.authorize_url(&h.web_id, &challenge, &[]))
            .await;
        let (_, tokens) = h.redeem(h.web(), &query["code"], Some(&verifier)).await;
        tokens["id_token"].as_str().unwrap().to_owned()
    };
    let response = end_session(vec![("id_token_hint", bob)], session.clone()).await;
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Sign out of this server?")
    );
    assert!(
        still_signed_in().await,
        "another user's hint signs nobody out"
    );
    // The confirmation without the browser's CSRF cookie is refused.
    let status = h
        .http
        .post(h.url("/end_session"))
        .header("cookie", &session)
        .form(&[("csrf", hidden(&html, "csrf"))])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(still_signed_in().await);
    // The session's own hint signs out at once and goes back to the registered URI, uncached.
    let response = end_session(
        vec![
            ("id_token_hint", own_hint),
            (
                "post_logout_redirect_uri",
                crate::server::POST_LOGOUT.into(),
            ),
            ("state", "s-1".into()),
        ],
        session.clone(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(crate::server::POST_LOGOUT)
    );
    assert!(!still_signed_in().await, "signed out");
}

/// A login form ready to submit: its fields and the browser's CSRF cookie.
async fn login_form(h: &Harness) -> (String, String, String) {
    let (_, challenge) = pkce("throttle");
    let form = h
        .http
        .get(h.authorize_url(&h.web_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&form, "palisade_csrf").unwrap();
    let html = form.text().await.unwrap();
    (hidden(&html, "request_id"), hidden(&html, "csrf"), cookie)
}

async fn submit_login(
    http: reqwest::Client,
    url: String,
    form: (String, String, String),
    username: String,
    password: String,
) -> StatusCode {
    let (request_id, csrf, cookie) = form;
    http.post(url)
        .header("cookie", cookie)
        .form(&[
            ("request_id", request_id),
            ("csrf", csrf),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

/// Finding 4: the failure check ran before argon2 and the count after, so parallel attempts all
/// passed; and unknown user names queued real sign-ins behind the same two argon2 permits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_throttle_holds_under_concurrency_and_real_users_are_still_served() {
    let h = start(&sqlite()).await;
    // 24 wrong passwords for one user at once: at most the limit (10) are checked.
    let mut forms = Vec::new();
    for _ in 0..24 {
        forms.push(login_form(&h).await);
    }
    let attempts: Vec<_> = forms
        .into_iter()
        .map(|form| {
            tokio::spawn(submit_login(
                h.http.clone(),
                h.url("/authorize/login"),
                form,
                h.username.clone(),
                "not the password".into(),
            ))
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, throttled), (10, 14), "{statuses:?}");

    // A flood of unknown names does not hold up a real user's sign-in: the real user's login
    // finishes while most of the flood is still waiting (its own argon2 permits).
    h.server
        .identities()
        .create_user(palisade_runtime::server::NewUser {
            tenant: h.tenant.clone(),
            username: "bob".into(),
            password: Secret::new(PASSWORD),
            roles: vec![],
        })
        .await
        .unwrap();
    let mut forms = Vec::new();
    for _ in 0..13 {
        forms.push(login_form(&h).await);
    }
    let real = forms.pop().unwrap();
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flood: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(i, form)| {
            let (http, url, done) = (h.http.clone(), h.url("/authorize/login"), done.clone());
            tokio::spawn(async move {
                submit_login(http, url, form, format!("nobody-{i}"), "guess".into()).await;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let status = submit_login(
        h.http.clone(),
        h.url("/authorize/login"),
        real,
        "bob".into(),
        PASSWORD.into(),
    )
    .await;
    let flood_done = done.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(status, StatusCode::SEE_OTHER, "the real sign-in succeeds");
    assert!(
        flood_done <= 6,
        "the real sign-in waited for {flood_done} of 12 unknown-name attempts"
    );
    for attempt in flood {
        attempt.await.unwrap();
    }
}

/// Finding 4, per source address: served through the runtime's `serve` (which tells handlers the
/// peer), sign-in attempts from one address are counted whatever the user names; at ten times the
/// per-name limit the address gets 429. Without a peer address only the per-name count applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_also_counted_per_source_address() {
    let h = crate::server::start_with(&sqlite(), |config| config.failure_limit = 1).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let with_peer = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(palisade_runtime::serve::serve(
        listener,
        h.server.router(),
        palisade_runtime::serve::ServeConfig::default(),
        std::future::pending(),
    ));
    let attempt = |base: String, username: String| {
        let (_, challenge) = pkce("address");
        let url = h
            .authorize_url(&h.web_id, &challenge, &[])
            .replace(&h.issuer, &base);
        let http = h.http.clone();
        async move {
            let form = http.get(url).send().await.unwrap();
            let cookie = set_cookie(&form, "palisade_csrf").unwrap();
            let html = form.text().await.unwrap();
            let fields = (hidden(&html, "request_id"), hidden(&html, "csrf"), cookie);
            submit_login(
                http,
                format!("{base}/authorize/login"),
                fields,
                username,
                "not the password".into(),
            )
            .await
        }
    };
    let mut statuses = Vec::new();
    for i in 0..11 {
        statuses.push(attempt(with_peer.clone(), format!("nobody-{i}")).await);
    }
    assert_eq!(
        statuses,
        [
            vec![StatusCode::UNAUTHORIZED; 10],
            vec![StatusCode::TOO_MANY_REQUESTS]
        ]
        .concat(),
        "ten attempts from one address are checked, the eleventh is throttled"
    );
    // The harness's own listener gives no peer address: only the per-name count applies there.
    assert_eq!(
        attempt(h.issuer.clone(), "nobody-else".into()).await,
        StatusCode::UNAUTHORIZED
    );
}
