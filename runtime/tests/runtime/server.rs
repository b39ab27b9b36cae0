//! The authorization server over real HTTP on loopback, the same suite on SQLite and on PostgreSQL (`PALISADE_TEST_DATABASE_URL`): every grant, the login form, and each refusal the OAuth security BCP asks for.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_runtime::audit::{AuditEmitter, EmitterConfig, MemorySink, event_type};
use palisade_runtime::authn::{Authenticator, AuthnConfig, IntrospectionConfig};
use palisade_runtime::principal::PrincipalKind;
use palisade_runtime::secrets::Secret;
use palisade_runtime::server::{
    ApiTokenSpec, AuthorizationServer, ClientSpec, Clock, KeyAlgorithm, KeyEncryptionKey, KeyState,
    NewUser, ServerConfig, Store, SystemClock,
};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::{report, skip};

/// The key-encryption key every test server shares (servers on one database must).
const KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub(crate) const REDIRECT: &str = "http://127.0.0.1:9/callback";
pub(crate) const POST_LOGOUT: &str = "http://127.0.0.1:9/bye";
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A clock tests can move forward.
#[derive(Default)]
pub(crate) struct TestClock(AtomicI64);

impl TestClock {
    pub(crate) fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> i64 {
        SystemClock.now() + self.0.load(Ordering::SeqCst)
    }
}

/// One running server with a tenant, a service client, a web client and a user.
pub(crate) struct Harness {
    pub(crate) issuer: String,
    pub(crate) server: AuthorizationServer,
    pub(crate) audit: Arc<MemorySink>,
    pub(crate) emitter: AuditEmitter,
    pub(crate) clock: Arc<TestClock>,
    pub(crate) http: reqwest::Client,
    pub(crate) tenant: String,
    pub(crate) platform: String,
    pub(crate) service_id: String,
    pub(crate) service_secret: String,
    pub(crate) web_id: String,
    pub(crate) web_secret: String,
    pub(crate) other_web_id: String,
    pub(crate) other_web_secret: String,
    pub(crate) username: String,
}

pub(crate) async fn start(database: &str) -> Harness {
    start_with(database, |_| {}).await
}

/// [`start`] with the server's configuration changed by `tweak`.
pub(crate) async fn start_with(database: &str, tweak: impl FnOnce(&mut ServerConfig)) -> Harness {
    start_with_sink(database, tweak, |memory| memory).await
}

/// [`start_with`], the server's audit entries going to the sink `sink` makes of the harness's
/// memory sink (to add a store beside it).
pub(crate) async fn start_with_sink(
    database: &str,
    tweak: impl FnOnce(&mut ServerConfig),
    sink: impl FnOnce(Arc<MemorySink>) -> Arc<dyn palisade_runtime::audit::AuditSink>,
) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let mut config = ServerConfig::new(&issuer);
    config.allow_insecure_http = true;
    tweak(&mut config);
    let platform = format!(
        "platform-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    config.platform_tenant = Some(platform.clone());
    let audit = Arc::new(MemorySink::new());
    let emitter = AuditEmitter::spawn(
        "urn:palisade:test:authorization-server",
        sink(audit.clone()),
        EmitterConfig::default(),
    );
    let clock = Arc::new(TestClock::default());
    let store = Store::connect(database).await.unwrap();
    let kek = KeyEncryptionKey::from_secret(&Secret::new(KEK)).unwrap();
    let server = AuthorizationServer::open(config, store, kek, emitter.clone(), clock.clone())
        .await
        .unwrap();
    let router = server.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    // Unique names, so suites can share one PostgreSQL database.
    let tenant = format!("acme-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let ids = server.identities();
    ids.create_tenant(&tenant, "Acme").await.unwrap();
    ids.create_tenant(&platform, "Platform").await.unwrap();
    let service = ids
        .create_client(ClientSpec {
            tenant: tenant.clone(),
            name: "billing worker".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["notes.read".into(), "notes.write".into()],
            roles: vec!["writer".into()],
            audiences: vec!["notes-api".into()],
            introspection: true,
            ..ClientSpec::default()
        })
        .await
        .unwrap();
    let web = |name: &str| ClientSpec {
        tenant: tenant.clone(),
        name: name.into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: vec!["openid".into(), "notes.read".into(), "notes.write".into()],
        audiences: vec!["notes-api".into()],
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![POST_LOGOUT.into()],
        introspection: true,
        ..ClientSpec::default()
    };
    let web_client = ids.create_client(web("Notes web")).await.unwrap();
    let other = ids.create_client(web("Other web")).await.unwrap();
    let username = "alice".to_owned();
    ids.create_user(NewUser {
        tenant: tenant.clone(),
        username: username.clone(),
        password: Secret::new(PASSWORD),
        roles: vec!["reader".into()],
    })
    .await
    .unwrap();
    Harness {
        issuer,
        server,
        audit,
        emitter,
        clock,
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap(),
        tenant,
        platform,
        service_id: service.client_id,
        service_secret: service.client_secret.unwrap().expose().to_owned(),
        web_id: web_client.client_id,
        web_secret: web_client.client_secret.unwrap().expose().to_owned(),
        other_web_id: other.client_id,
        other_web_secret: other.client_secret.unwrap().expose().to_owned(),
        username,
    }
}

/// A server on `database` with `config`, the shared test key-encryption key and a memory audit
/// sink, not served: for tests that call its router or library API directly.
pub(crate) async fn open_at(
    config: ServerConfig,
    database: &str,
) -> Result<AuthorizationServer, palisade_runtime::server::ServerError> {
    let store = Store::connect(database).await?;
    let kek = KeyEncryptionKey::from_secret(&Secret::new(KEK)).unwrap();
    let audit = AuditEmitter::spawn(
        "urn:palisade:test",
        Arc::new(MemorySink::new()),
        EmitterConfig::default(),
    );
    AuthorizationServer::open(config, store, kek, audit, Arc::new(SystemClock)).await
}

/// A PKCE pair.
pub(crate) fn pkce(seed: &str) -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(Sha256::digest(seed.as_bytes()));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) fn query_of(location: &str) -> BTreeMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub(crate) fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

pub(crate) fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

impl Harness {
    /// Every audit entry so far, after the emitter has written what it holds.
    pub(crate) async fn audited(&self) -> Vec<palisade_runtime::audit::AuditEntry> {
        self.emitter.flush().await;
        self.audit.entries()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.post(self.url(path)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    pub(crate) async fn client_credentials(&self, scope: Option<&str>) -> (StatusCode, Value) {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let (status, body, _) = self
            .post(
                "/token",
                &form,
                Some((&self.service_id, &self.service_secret)),
            )
            .await;
        (status, body)
    }

    pub(crate) fn authorize_url(
        &self,
        client_id: &str,
        challenge: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let mut url = url::Url::parse(&self.url("/authorize")).unwrap();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", client_id)
                .append_pair("redirect_uri", REDIRECT)
                .append_pair("scope", "openid notes.read")
                .append_pair("state", "st-123")
                .append_pair("nonce", "n-456")
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            for (k, v) in extra {
                q.append_pair(k, v);
            }
        }
        url.to_string()
    }

    /// Runs the login form like a browser: returns the redirect's query and the session cookie.
    pub(crate) async fn sign_in(
        &self,
        client_id: &str,
        challenge: &str,
    ) -> (BTreeMap<String, String>, String) {
        self.sign_in_at(&self.authorize_url(client_id, challenge, &[]))
            .await
    }

    /// [`sign_in`](Self::sign_in) for an authorization URL built elsewhere (by a client library).
    pub(crate) async fn sign_in_at(
        &self,
        authorize_url: &str,
    ) -> (BTreeMap<String, String>, String) {
        self.sign_in_as(&self.username, authorize_url).await
    }

    /// An access token for the admin API: a new client of `tenant` holding `roles`.
    pub(crate) async fn admin_token(&self, tenant: &str, roles: &[&str]) -> String {
        let client = self
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
        let grant = [("grant_type", "client_credentials")];
        let (status, body, _) = self
            .post("/token", &grant, Some((&client.client_id, &secret)))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// [`sign_in_at`](Self::sign_in_at) as `username` (whose password is [`PASSWORD`]).
    pub(crate) async fn sign_in_as(
        &self,
        username: &str,
        authorize_url: &str,
    ) -> (BTreeMap<String, String>, String) {
        let form = self.http.get(authorize_url).send().await.unwrap();
        assert_eq!(form.status(), StatusCode::OK);
        assert_eq!(form.headers()["cache-control"], "no-store");
        assert_eq!(form.headers()["x-frame-options"], "DENY");
        let csrf_cookie = set_cookie(&form, "palisade_csrf").expect("csrf cookie");
        let html = form.text().await.unwrap();
        let response = self
            .http
            .post(self.url("/authorize/login"))
            .header("cookie", csrf_cookie)
            .form(&[
                ("request_id", hidden(&html, "request_id")),
                ("csrf", hidden(&html, "csrf")),
                ("username", username.to_owned()),
                ("password", PASSWORD.to_owned()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let session = set_cookie(&response, "palisade_session").expect("session cookie");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with(REDIRECT), "{location}");
        (query_of(&location), session)
    }

    pub(crate) async fn redeem(
        &self,
        client: (&str, &str),
        code: &str,
        verifier: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        let (status, body, _) = self.post("/token", &form, Some(client)).await;
        (status, body)
    }

    pub(crate) async fn refresh(
        &self,
        client: (&str, &str),
        token: &str,
        scope: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let (status, body, _) = self.post("/token", &form, Some(client)).await;
        (status, body)
    }

    pub(crate) async fn introspect(&self, token: &str) -> Value {
        let (status, body, _) = self
            .post(
                "/introspect",
                &[("token", token)],
                Some((&self.service_id, &self.service_secret)),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub(crate) fn web(&self) -> (&str, &str) {
        (&self.web_id, &self.web_secret)
    }

    pub(crate) fn web_credentials(&self) -> (String, String) {
        (self.web_id.clone(), self.web_secret.clone())
    }

    /// A full code flow: tokens for `seed`'s PKCE pair.
    pub(crate) async fn code_flow(&self, seed: &str) -> Value {
        let (verifier, challenge) = pkce(seed);
        let (query, _) = self.sign_in(&self.web_id, &challenge).await;
        let (status, tokens) = self
            .redeem(self.web(), &query["code"], Some(&verifier))
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    }
}

fn assert_oauth_error(status: StatusCode, body: &Value, expected_status: StatusCode, error: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (expected_status, Some(error)),
        "{body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

/// Every scenario, on one database.
pub(crate) async fn suite(database: &str) {
    let h = start(database).await;
    discovery_and_jwks(&h).await;
    client_credentials_and_client_authentication(&h).await;
    code_flow_with_pkce(&h).await;
    pkce_and_redirect_refusals(&h).await;
    code_reuse_expiry_and_theft(&h).await;
    refresh_rotation_and_reuse(&h).await;
    prompt_none_sessions_and_csrf(&h).await;
    login_failures_and_token_redirect_mismatch(&h).await;
    introspection_revocation_and_api_tokens(&h).await;
    key_rotation(&h).await;
    private_key_jwt(&h).await;
    admin_api(&h).await;
    audited(&h);
    // Last: it trips the rate limit of the service client.
    repeated_failures_are_rate_limited(&h).await;
}

async fn discovery_and_jwks(h: &Harness) {
    let doc: Value = h
        .http
        .get(h.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], h.issuer);
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    let grants = doc["grant_types_supported"].as_array().unwrap();
    assert!(!grants.contains(&"password".into()) && !grants.contains(&"implicit".into()));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let jwks: Value = h
        .http
        .get(h.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    // Published: exactly the keys in the next, active and recently retired states (a database
    // shared with earlier runs may hold retired ones), one of them active and one next.
    let states = h.server.keys().states(SystemClock.now()).await.unwrap();
    let published: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
    let stored: Vec<&str> = states.iter().map(|(kid, _, _)| kid.as_str()).collect();
    assert_eq!(published, stored);
    assert_eq!(
        states
            .iter()
            .filter(|(_, s, _)| *s == KeyState::Active)
            .count(),
        1
    );
    assert_eq!(
        states
            .iter()
            .filter(|(_, s, _)| *s == KeyState::Next)
            .count(),
        1
    );
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(
                key.get(private).is_none(),
                "JWKS holds private member {private}: {key}"
            );
        }
        assert_eq!(
            (
                key["alg"].as_str(),
                key["use"].as_str(),
                key["kty"].as_str()
            ),
            (Some("ES256"), Some("sig"), Some("EC"))
        );
    }
}

async fn client_credentials_and_client_authentication(h: &Harness) {
    let (status, body, headers) = h
        .post(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("scope", "notes.read"),
            ],
            Some((&h.service_id, &h.service_secret)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "notes.read");
    // The runtime's own validation accepts it: RFC 9068 shape, tenant, roles, service identity.
    let authn =
        Authenticator::new(AuthnConfig::new(&h.issuer, "notes-api").allow_insecure_http(true))
            .unwrap();
    let principal = authn
        .authenticate(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(principal.tenant.as_str(), h.tenant);
    assert_eq!(principal.subject, h.service_id);
    assert_eq!(principal.kind, PrincipalKind::Service);
    assert_eq!(principal.roles, ["writer"]);
    assert_eq!(principal.scopes, ["notes.read"]);
    let header = jsonwebtoken::decode_header(body["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));

    // client_secret_post works too; two methods at once do not.
    let (status, body, _) = h
        .post(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &h.service_id),
                ("client_secret", &h.service_secret),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = h
        .post(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", &h.service_secret),
            ],
            Some((&h.service_id, &h.service_secret)),
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");

    // An unknown client and a wrong secret get the same answer.
    let (s1, b1, h1) = h
        .post(
            "/token",
            &[("grant_type", "client_credentials")],
            Some(("nobody", "plsd_cs_x")),
        )
        .await;
    let (s2, b2, h2) = h
        .post(
            "/token",
            &[("grant_type", "client_credentials")],
            Some((&h.web_id, "plsd_cs_wrong")),
        )
        .await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_oauth_error(s1, &b1, StatusCode::UNAUTHORIZED, "invalid_client");
    assert_eq!(h1.get("www-authenticate"), h2.get("www-authenticate"));

    // A grant or scope the client may not use; grants that are not offered.
    let (status, body, _) = h
        .post(
            "/token",
            &[("grant_type", "client_credentials")],
            Some(h.web()),
        )
        .await;
    assert_oauth_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
    );
    let (status, body) = h.client_credentials(Some("notes.read admin")).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_scope");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("admin")
    );
    let (status, body, _) = h
        .post(
            "/token",
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
            Some(h.web()),
        )
        .await;
    assert_oauth_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );
    let (status, body, _) = h
        .post(
            "/token",
            &[
                ("grant_type", "client_credentials"),
                ("resource", "payroll-api"),
            ],
            Some((&h.service_id, &h.service_secret)),
        )
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_target");
}

async fn code_flow_with_pkce(h: &Harness) {
    let (verifier, challenge) = pkce("happy");
    let (query, _) = h.sign_in(&h.web_id, &challenge).await;
    assert_eq!(query["state"], "st-123");
    assert_eq!(query["iss"], h.issuer);
    assert!(query["code"].starts_with("plsd_ac_"));
    let (status, tokens) = h.redeem(h.web(), &query["code"], Some(&verifier)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(
        tokens["refresh_token"]
            .as_str()
            .unwrap()
            .starts_with("plsd_rt_")
    );
    // The ID token: audience, nonce, and the same keys.
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(id_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], h.web_id.as_str());
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["iss"], h.issuer);
    // The access token is a user's: the runtime sees kind user, the user's roles.
    let authn =
        Authenticator::new(AuthnConfig::new(&h.issuer, "notes-api").allow_insecure_http(true))
            .unwrap();
    let principal = authn
        .authenticate(tokens["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        (principal.kind, principal.roles.clone()),
        (PrincipalKind::User, vec!["reader".to_owned()])
    );
    // userinfo.
    let info: Value = h
        .http
        .get(h.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["preferred_username"], "alice");
    assert_eq!(info["tenant_id"], h.tenant);
    // userinfo refuses tokens without openid, and ID tokens as access tokens.
    let (_, cc) = h.client_credentials(None).await;
    let status = h
        .http
        .get(h.url("/userinfo"))
        .bearer_auth(cc["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let status = h
        .http
        .get(h.url("/userinfo"))
        .bearer_auth(id_token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn pkce_and_redirect_refusals(h: &Harness) {
    let (_, challenge) = pkce("refusals");
    // Errors the client may see arrive at its redirect URI, with state and iss.
    let redirect_error = |extra: Vec<(&'static str, String)>, drop: &'static str| {
        let mut url = url::Url::parse(&h.authorize_url(&h.web_id, &challenge, &[])).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| k != drop && !extra.iter().any(|(e, _)| e == k))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .extend_pairs(extra);
        let http = h.http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let q = query_of(response.headers()["location"].to_str().unwrap());
            assert_eq!(q.get("state").map(String::as_str), Some("st-123"));
            (q["error"].clone(), q.get("iss").cloned())
        }
    };
    assert_eq!(
        redirect_error(vec![], "code_challenge").await.0,
        "invalid_request"
    );
    assert_eq!(
        redirect_error(vec![("code_challenge_method", "plain".into())], "")
            .await
            .0,
        "invalid_request"
    );
    assert_eq!(
        redirect_error(vec![], "code_challenge_method").await.0,
        "invalid_request"
    );
    assert_eq!(
        redirect_error(vec![("response_type", "token".into())], "")
            .await
            .0,
        "unsupported_response_type"
    );
    let (error, iss) = redirect_error(vec![("scope", "openid admin".into())], "").await;
    assert_eq!(
        (error.as_str(), iss.as_deref()),
        ("invalid_scope", Some(h.issuer.as_str()))
    );

    // A redirect URI that differs in any way is refused on the server's page: no redirect.
    for variant in [
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.1:9/Callback",
        "http://127.0.0.1:9/callback?x=1",
        "http://127.0.0.1:9/callback#f",
        "https://127.0.0.1:9/callback",
    ] {
        let url = h.authorize_url(&h.web_id, &challenge, &[]).replace(
            &url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
            &url::form_urlencoded::byte_serialize(variant.as_bytes()).collect::<String>(),
        );
        let response = h.http.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{variant}");
        assert!(
            response.headers().get("location").is_none(),
            "{variant} redirected"
        );
    }

    // Verifiers: wrong, missing, too short, bad characters. Each burns its code.
    let cases: [(&str, Option<String>, &str); 5] = [
        ("wrong", Some(pkce("another").0), "does not match"),
        ("missing", None, "code_verifier is missing"),
        ("short", Some("a".repeat(42)), "43 to 128"),
        ("charset", Some(format!("{}+", "a".repeat(42))), "43 to 128"),
        ("long", Some("a".repeat(129)), "43 to 128"),
    ];
    for (name, verifier, message) in cases {
        let (_, challenge) = pkce(name);
        let (query, _) = h.sign_in(&h.web_id, &challenge).await;
        let (status, body) = h.redeem(h.web(), &query["code"], verifier.as_deref()).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(message),
            "{name}: {body}"
        );
    }
}

async fn code_reuse_expiry_and_theft(h: &Harness) {
    // Reuse: refused, and what the first redemption gave is revoked.
    let (verifier, challenge) = pkce("reuse");
    let (query, _) = h.sign_in(&h.web_id, &challenge).await;
    let (status, first) = h.redeem(h.web(), &query["code"], Some(&verifier)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.introspect(first["access_token"].as_str().unwrap()).await["active"],
        true
    );
    let (status, body) = h.redeem(h.web(), &query["code"], Some(&verifier)).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(
        h.introspect(first["access_token"].as_str().unwrap()).await["active"],
        false
    );
    let (status, body) = h
        .refresh(h.web(), first["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");

    // Another client cannot redeem it.
    let (verifier, challenge) = pkce("theft");
    let (query, _) = h.sign_in(&h.web_id, &challenge).await;
    let (status, body) = h
        .redeem(
            (&h.other_web_id, &h.other_web_secret),
            &query["code"],
            Some(&verifier),
        )
        .await;
    // Answered as an unknown code (issue 10, finding 13), audited as what it was.
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        h.audited().await.iter().any(|e| e
            .data
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("another client"))),
        "the theft is audited"
    );

    // Expired.
    let (verifier, challenge) = pkce("expiry");
    let (query, _) = h.sign_in(&h.web_id, &challenge).await;
    h.clock.advance(61);
    let (status, body) = h.redeem(h.web(), &query["code"], Some(&verifier)).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
}

async fn refresh_rotation_and_reuse(h: &Harness) {
    let tokens = h.code_flow("rotation").await;
    let first = tokens["refresh_token"].as_str().unwrap();
    // A refresh token is described only to its own client; to a resource server it is nothing.
    assert_eq!(
        h.introspect(first).await,
        serde_json::json!({ "active": false })
    );
    let (status, own, _) = h
        .post("/introspect", &[("token", first)], Some(h.web()))
        .await;
    assert_eq!(
        (status, own["active"].as_bool(), own["token_type"].as_str()),
        (StatusCode::OK, Some(true), Some("refresh_token"))
    );
    let (status, second) = h.refresh(h.web(), first, None).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(first, second_refresh);
    // Narrower scope is fine; wider is not; another client's use is refused.
    let (status, body) = h
        .refresh(h.web(), second_refresh, Some("openid notes.write"))
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_scope");
    let (status, body) = h
        .refresh((&h.other_web_id, &h.other_web_secret), second_refresh, None)
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, third) = h.refresh(h.web(), second_refresh, Some("notes.read")).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(third["scope"], "notes.read");
    // The first, rotated token used again: the whole family dies, live descendants included.
    let (status, body) = h.refresh(h.web(), first, None).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    let (status, body) = h
        .refresh(h.web(), third["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!(
        h.introspect(third["access_token"].as_str().unwrap()).await["active"],
        false
    );
}

async fn prompt_none_sessions_and_csrf(h: &Harness) {
    let (_, challenge) = pkce("prompt");
    let response = h
        .http
        .get(h.authorize_url(&h.web_id, &challenge, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let q = query_of(response.headers()["location"].to_str().unwrap());
    assert_eq!(
        (q["error"].as_str(), q["iss"].as_str()),
        ("login_required", h.issuer.as_str())
    );
    // With a session, prompt=none answers with a code.
    let (_, session) = h.sign_in(&h.web_id, &challenge).await;
    let response = h
        .http
        .get(h.authorize_url(&h.web_id, &challenge, &[("prompt", "none")]))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    let q = query_of(response.headers()["location"].to_str().unwrap());
    assert!(q.contains_key("code"), "{q:?}");
    // Signing in again from the same browser replaces its session: the old id stops working.
    let form = h
        .http
        .get(h.authorize_url(&h.web_id, &challenge, &[("prompt", "login")]))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        form.status(),
        StatusCode::OK,
        "prompt=login shows the form despite a session"
    );
    let csrf_cookie = set_cookie(&form, "palisade_csrf").unwrap();
    let html = form.text().await.unwrap();
    let again = h
        .http
        .post(h.url("/authorize/login"))
        .header("cookie", format!("{csrf_cookie}; {session}"))
        .form(&[
            ("request_id", hidden(&html, "request_id")),
            ("csrf", hidden(&html, "csrf")),
            ("username", "alice".to_owned()),
            ("password", PASSWORD.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    let renewed = set_cookie(&again, "palisade_session").unwrap();
    assert_ne!(renewed, session);
    let stale = h
        .http
        .get(h.authorize_url(&h.web_id, &challenge, &[("prompt", "none")]))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(stale.headers()["location"].to_str().unwrap())["error"],
        "login_required"
    );
    let session = renewed;

    // The authorization request may also arrive as a form post.
    let posted = h
        .http
        .post(h.url("/authorize"))
        .form(&[
            ("response_type", "code"),
            ("client_id", h.web_id.as_str()),
            ("redirect_uri", REDIRECT),
            ("scope", "openid"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
    assert!(posted.text().await.unwrap().contains("name=\"csrf\""));

    // End session without a hint asks first (issue 10, finding 11); confirmed, the cookie no
    // longer signs in.
    let response = h
        .http
        .get(h.url("/end_session"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let csrf_cookie = set_cookie(&response, "palisade_csrf").unwrap();
    let html = response.text().await.unwrap();
    let response = h
        .http
        .post(h.url("/end_session"))
        .header("cookie", format!("{session}; {csrf_cookie}"))
        .form(&[("csrf", hidden(&html, "csrf"))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("signed out"));
    let response = h
        .http
        .get(h.authorize_url(&h.web_id, &challenge, &[("prompt", "none")]))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(response.headers()["location"].to_str().unwrap())["error"],
        "login_required"
    );

    // The login form refuses a request without the browser's CSRF cookie, and a wrong password.
    let form = h
        .http
        .get(h.authorize_url(&h.web_id, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let csrf_cookie = set_cookie(&form, "palisade_csrf").unwrap();
    let html = form.text().await.unwrap();
    let fields = |password: &str| {
        vec![
            ("request_id", hidden(&html, "request_id")),
            ("csrf", hidden(&html, "csrf")),
            ("username", "alice".to_owned()),
            ("password", password.to_owned()),
        ]
    };
    let response = h
        .http
        .post(h.url("/authorize/login"))
        .form(&fields(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A cookie from another form (another browser's token) fails the double submit too.
    let response = h
        .http
        .post(h.url("/authorize/login"))
        .header("cookie", "palisade_csrf=someone-elses-token")
        .form(&fields(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = h
        .http
        .post(h.url("/authorize/login"))
        .header("cookie", &csrf_cookie)
        .form(&fields("wrong password!"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("The user name or password is not right.")
    );
}

async fn login_failures_and_token_redirect_mismatch(h: &Harness) {
    // Ten failed sign-ins for one user name, then 429 (the form is re-shown each time).
    let (_, challenge) = pkce("lockout");
    let mut statuses = Vec::new();
    for _ in 0..11 {
        let form = h
            .http
            .get(h.authorize_url(&h.web_id, &challenge, &[]))
            .send()
            .await
            .unwrap();
        let cookie = set_cookie(&form, "palisade_csrf").unwrap();
        let html = form.text().await.unwrap();
        let response = h
            .http
            .post(h.url("/authorize/login"))
            .header("cookie", cookie)
            .form(&[
                ("request_id", hidden(&html, "request_id")),
                ("csrf", hidden(&html, "csrf")),
                ("username", "mallory".to_owned()),
                ("password", "not the password".to_owned()),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(statuses[..10], [StatusCode::UNAUTHORIZED; 10]);
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);

    // The token request must name the authorization request's redirect URI.
    let (verifier, challenge) = pkce("redirect at token");
    let (query, _) = h.sign_in(&h.web_id, &challenge).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", query["code"].as_str()),
        ("redirect_uri", "http://127.0.0.1:9/other"),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, body, _) = h.post("/token", &form, Some(h.web())).await;
    assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("redirect_uri"),
        "{body}"
    );
}

async fn introspection_revocation_and_api_tokens(h: &Harness) {
    // Revoked by its client.
    let (_, cc) = h.client_credentials(None).await;
    let token = cc["access_token"].as_str().unwrap();
    let active = h.introspect(token).await;
    assert_eq!(
        (active["active"].as_bool(), active["tenant_id"].as_str()),
        (Some(true), Some(h.tenant.as_str()))
    );
    let (status, _, _) = h
        .post(
            "/revoke",
            &[("token", token)],
            Some((&h.service_id, &h.service_secret)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h.introspect(token).await,
        serde_json::json!({ "active": false })
    );
    // Expired.
    let (_, cc) = h.client_credentials(None).await;
    h.clock.advance(601);
    assert_eq!(
        h.introspect(cc["access_token"].as_str().unwrap()).await["active"],
        false
    );
    // Introspection needs an authenticated client.
    let (status, body, _) = h.post("/introspect", &[("token", "x")], None).await;
    assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");

    // API tokens: prefixed, listed without values, accepted by the runtime through introspection, revocable.
    let ids = h.server.identities();
    let api_token = |name: &str, ttl: i64| ApiTokenSpec {
        tenant: h.tenant.clone(),
        name: name.into(),
        audiences: vec!["notes-api".into()],
        scopes: vec!["notes.read".into()],
        roles: vec!["reader".into()],
        ttl,
    };
    let created = ids
        .create_api_token(api_token("ci deploy", 3600))
        .await
        .unwrap();
    let value = created.token.expose().to_owned();
    assert!(value.starts_with("plsd_at_") && value.len() >= 8 + 43);
    let listed = ids.api_tokens(&h.tenant).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!serde_json::to_string(&listed).unwrap().contains(&value));
    let authn = Authenticator::new(
        AuthnConfig::new(&h.issuer, "notes-api")
            .allow_insecure_http(true)
            .with_introspection(IntrospectionConfig {
                endpoint: url::Url::parse(&h.url("/introspect")).unwrap(),
                client_id: h.service_id.clone(),
                client_secret: Secret::new(h.service_secret.clone()),
                cache_ttl: std::time::Duration::from_millis(1),
            }),
    )
    .unwrap();
    let principal = authn.authenticate(&value).await.unwrap();
    assert_eq!(
        (principal.kind, principal.tenant.as_str()),
        (PrincipalKind::ApiToken, h.tenant.as_str())
    );
    ids.revoke_api_token(&h.tenant, &created.id).await.unwrap();
    assert_eq!(h.introspect(&value).await["active"], false);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert!(authn.authenticate(&value).await.is_err());
    assert!(
        ids.create_api_token(api_token("forever", 10 * 365 * 24 * 3600))
            .await
            .is_err()
    );
}

async fn key_rotation(h: &Harness) {
    let (_, before) = h.client_credentials(None).await;
    let old_kid = jsonwebtoken::decode_header(before["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    h.server.rotate_keys().await.unwrap();
    let (_, after) = h.client_credentials(None).await;
    let new_kid = jsonwebtoken::decode_header(after["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    assert_ne!(old_kid, new_kid);
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
        kids.contains(&old_kid.as_str()) && kids.contains(&new_kid.as_str()),
        "{kids:?}"
    );
    let states = h.server.keys().states(h.clock.now()).await.unwrap();
    let state_of = |kid: &str| states.iter().find(|(k, _, _)| k == kid).map(|(_, s, _)| *s);
    assert_eq!(state_of(&new_kid), Some(KeyState::Active));
    assert_eq!(state_of(&old_kid), Some(KeyState::Retired));
    assert_eq!(
        states
            .iter()
            .filter(|(_, s, _)| *s == KeyState::Next)
            .count(),
        1
    );
    // Tokens signed before the rotation still verify.
    assert_eq!(
        h.introspect(before["access_token"].as_str().unwrap()).await["active"],
        true
    );
}

/// `private_key_jwt` (RFC 7523): a client registered with a public key authenticates with a signed
/// assertion; a replayed one, one for another audience, or one signed by another key is refused.
async fn private_key_jwt(h: &Harness) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let signing = jsonwebtoken::EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
    let jwks = serde_json::json!({ "keys": [{ "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]) }] });
    let client = h
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
        .unwrap();
    assert!(
        client.client_secret.is_none(),
        "a keyed client has no secret"
    );
    let id = client.client_id.clone();
    let assertion = |audience: &str, jti: &str, key: &jsonwebtoken::EncodingKey, lifetime: i64| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        let now = SystemClock.now() + h.clock.0.load(Ordering::SeqCst);
        let claims = serde_json::json!({ "iss": id, "sub": id, "aud": audience, "jti": jti, "iat": now, "exp": now + lifetime });
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    };
    let token_endpoint = h.url("/token");
    let grant = |jwt: String| {
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", jwt),
        ];
        let http = h.http.clone();
        let url = token_endpoint.clone();
        async move { http.post(url).form(&form).send().await.unwrap().status() }
    };
    let first = assertion(&h.issuer, "a-1", &signing, 60);
    assert_eq!(grant(first.clone()).await, StatusCode::OK);
    assert_eq!(
        grant(first).await,
        StatusCode::UNAUTHORIZED,
        "a replayed assertion"
    );
    assert_eq!(
        grant(assertion(
            "https://elsewhere.test/token",
            "a-2",
            &signing,
            60
        ))
        .await,
        StatusCode::UNAUTHORIZED
    );
    let other = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let other = jsonwebtoken::EncodingKey::from_ec_der(other.to_pkcs8v1().unwrap().as_ref());
    assert_eq!(
        grant(assertion(&h.issuer, "a-3", &other, 60)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        grant(assertion(&h.issuer, "a-5", &signing, 3600)).await,
        StatusCode::UNAUTHORIZED,
        "an assertion valid for an hour"
    );
    assert_eq!(
        grant(assertion(&h.issuer, "a-4", &signing, 60)).await,
        StatusCode::OK,
        "the issuer is the accepted audience"
    );
}

async fn admin_api(h: &Harness) {
    let tenant_admin = h.admin_token(&h.tenant, &["admin"]).await;
    let platform_admin = h.admin_token(&h.platform, &["platform-admin"]).await;
    // The platform role means nothing outside the platform tenant.
    let pretender = h.admin_token(&h.tenant, &["platform-admin"]).await;
    let tokens_url = h.url(&format!("/admin/tenants/{}/api-tokens", h.tenant));

    // Without a token, with a token for another audience, for another tenant, or without the role.
    let status = h.http.get(&tokens_url).send().await.unwrap().status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, service_token) = h.client_credentials(None).await;
    let status = h
        .http
        .get(&tokens_url)
        .bearer_auth(service_token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let status = h
        .http
        .get(h.url("/admin/tenants/someone-else/api-tokens"))
        .bearer_auth(&tenant_admin)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let status = h
        .http
        .post(h.url("/admin/tenants"))
        .bearer_auth(&tenant_admin)
        .json(&serde_json::json!({ "id": "new-tenant", "name": "New" }))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a tenant admin cannot create tenants"
    );
    let status = h
        .http
        .post(h.url("/admin/tenants"))
        .bearer_auth(&pretender)
        .json(&serde_json::json!({ "id": "new-tenant", "name": "New" }))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "platform-admin outside the platform tenant"
    );
    // Nor can a tenant admin hand out the platform role or the admin audience.
    for (roles, audiences) in [
        (vec!["platform-admin"], vec!["notes-api"]),
        (vec!["admin"], vec!["palisade-admin"]),
    ] {
        let status = h
            .http
            .post(h.url(&format!("/admin/tenants/{}/clients", h.tenant)))
            .bearer_auth(&tenant_admin)
            .json(&serde_json::json!({ "name": "escalation", "grant_types": ["client_credentials"], "roles": roles, "audiences": audiences }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{roles:?} {audiences:?}");
    }

    // A tenant admin manages API tokens of its tenant: shown once, listed without the value, revoked.
    let created: Value = h
        .http
        .post(&tokens_url)
        .bearer_auth(&tenant_admin)
        .json(&serde_json::json!({ "name": "deploy bot", "audiences": ["notes-api"], "scopes": ["notes.read"], "ttl": 3600 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let value = created["token"].as_str().unwrap();
    assert_eq!(h.introspect(value).await["active"], true);
    let listed = h
        .http
        .get(&tokens_url)
        .bearer_auth(&tenant_admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains(created["id"].as_str().unwrap()) && !listed.contains(value),
        "{listed}"
    );
    let status = h
        .http
        .delete(format!("{tokens_url}/{}", created["id"].as_str().unwrap()))
        .bearer_auth(&tenant_admin)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h.introspect(value).await["active"], false);
    let response = h
        .http
        .post(&tokens_url)
        .bearer_auth(&tenant_admin)
        .json(&serde_json::json!({ "name": "forever", "audiences": ["notes-api"], "ttl": 999_999_999 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("seconds"));

    // A platform admin creates tenants.
    let new_tenant = format!("{}-b", h.tenant);
    let status = h
        .http
        .post(h.url("/admin/tenants"))
        .bearer_auth(&platform_admin)
        .json(&serde_json::json!({ "id": new_tenant, "name": "B" }))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::CREATED);
}

fn audited(h: &Harness) {
    let types: Vec<String> = h
        .audit
        .entries()
        .iter()
        .map(|e| e.event_type.clone())
        .collect();
    for expected in [
        event_type::TOKEN_ISSUED,
        event_type::TOKEN_REFUSED,
        event_type::TOKEN_REVOKED,
        event_type::LOGIN,
        event_type::ADMIN_CHANGE,
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "no {expected} audit entry in {types:?}"
        );
    }
    // Admin changes made through the admin API name who made them.
    let entries = h.audit.entries();
    let by_api = entries
        .iter()
        .find(|e| e.data.action == "api_token.create" && e.data.actor.is_some())
        .expect("an audited API token creation with its actor");
    let actor = by_api.data.actor.as_ref().unwrap();
    assert_eq!(
        actor.client_id.as_deref(),
        Some(actor.subject.as_str()),
        "the admin client acted"
    );
}

async fn repeated_failures_are_rate_limited(h: &Harness) {
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, _, _) = h
            .post(
                "/token",
                &[("grant_type", "client_credentials")],
                Some((&h.service_id, "plsd_cs_guess")),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses[..10], [StatusCode::UNAUTHORIZED; 10]);
    assert_eq!(statuses[10..], [StatusCode::TOO_MANY_REQUESTS; 2]);
    let (status, _, headers) = h
        .post(
            "/token",
            &[("grant_type", "client_credentials")],
            Some((&h.service_id, "plsd_cs_guess")),
        )
        .await;
    assert_eq!(
        (status, headers["retry-after"].to_str().unwrap()),
        (StatusCode::TOO_MANY_REQUESTS, "60")
    );
    // Failing on purpose does not lock the real client out.
    let (status, body, _) = h
        .post(
            "/token",
            &[("grant_type", "client_credentials")],
            Some((&h.service_id, &h.service_secret)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_server_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("palisade-server-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    suite(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("auth.db").display()
    ))
    .await;
    report("authorization server suite passed on SQLite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_server_on_postgres() {
    let Ok(url) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        skip(
            "authorization_server_on_postgres",
            "PALISADE_TEST_DATABASE_URL is not set",
        );
        return;
    };
    suite(&url).await;
    report("authorization server suite passed on PostgreSQL");
}

#[tokio::test]
async fn the_issuer_must_be_https_unless_plain_http_is_allowed() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let kek = KeyEncryptionKey::from_secret(&Secret::new(KEK)).unwrap();
    let emitter = AuditEmitter::spawn(
        "urn:test",
        Arc::new(MemorySink::new()),
        EmitterConfig::default(),
    );
    let error = AuthorizationServer::open(
        ServerConfig::new("http://login.example.com"),
        store,
        kek,
        emitter,
        Arc::new(SystemClock),
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains("must be an https:// URL"),
        "{error}"
    );
    assert!(KeyEncryptionKey::from_secret(&Secret::new("c2hvcnQ=")).is_err());
}

/// EdDSA and RS256 keys: generated, sealed, published and used; the runtime's own validation
/// accepts the tokens they sign.
#[tokio::test]
async fn eddsa_and_rs256_keys_sign_tokens_the_runtime_accepts() {
    for algorithm in [KeyAlgorithm::EdDsa, KeyAlgorithm::Rs256] {
        let mut config = ServerConfig::new("https://login.keys.test");
        config.key_algorithm = algorithm;
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let kek = KeyEncryptionKey::from_secret(&Secret::new(KEK)).unwrap();
        let emitter = AuditEmitter::spawn(
            "urn:test",
            Arc::new(MemorySink::new()),
            EmitterConfig::default(),
        );
        let server = AuthorizationServer::open(config, store, kek, emitter, Arc::new(SystemClock))
            .await
            .unwrap();
        let ids = server.identities();
        ids.create_tenant("acme", "Acme").await.unwrap();
        let client = ids
            .create_client(ClientSpec {
                tenant: "acme".into(),
                name: "worker".into(),
                grant_types: vec!["client_credentials".into()],
                audiences: vec!["notes-api".into()],
                ..ClientSpec::default()
            })
            .await
            .unwrap();
        let secret = client.client_secret.unwrap().expose().to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = server.router();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let body: Value = reqwest::Client::new()
            .post(format!("{base}/token"))
            .basic_auth(&client.client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = body["access_token"].as_str().unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(
            header.alg,
            if algorithm == KeyAlgorithm::EdDsa {
                jsonwebtoken::Algorithm::EdDSA
            } else {
                jsonwebtoken::Algorithm::RS256
            }
        );
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_value(server.keys().jwks(SystemClock.now()).await.unwrap()).unwrap();
        let authn = Authenticator::new(
            AuthnConfig::new("https://login.keys.test", "notes-api").with_static_keys(jwks),
        )
        .unwrap();
        let principal = authn.authenticate(token).await.unwrap();
        assert_eq!(
            (principal.tenant.as_str(), principal.kind),
            ("acme", PrincipalKind::Service)
        );
    }
}

/// With an https issuer (plain HTTP not allowed), the login cookies are `__Host-` prefixed,
/// `Secure`, `HttpOnly`, `Path=/`, and the sign-in works with them.
#[tokio::test]
async fn cookies_are_host_prefixed_and_secure_unless_plain_http_is_allowed() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let kek = KeyEncryptionKey::from_secret(&Secret::new(KEK)).unwrap();
    let emitter = AuditEmitter::spawn(
        "urn:test",
        Arc::new(MemorySink::new()),
        EmitterConfig::default(),
    );
    let server = AuthorizationServer::open(
        ServerConfig::new("https://login.cookies.test"),
        store,
        kek,
        emitter,
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let ids = server.identities();
    ids.create_tenant("acme", "Acme").await.unwrap();
    let client = ids
        .create_client(ClientSpec {
            tenant: "acme".into(),
            name: "web".into(),
            grant_types: vec!["authorization_code".into()],
            scopes: vec!["openid".into()],
            audiences: vec!["notes-api".into()],
            redirect_uris: vec!["https://app.cookies.test/callback".into()],
            ..ClientSpec::default()
        })
        .await
        .unwrap();
    ids.create_user(NewUser {
        tenant: "acme".into(),
        username: "alice".into(),
        password: Secret::new(PASSWORD),
        roles: vec![],
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = server.router();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let (_, challenge) = pkce("cookies");
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.client_id)
        .append_pair("redirect_uri", "https://app.cookies.test/callback")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let form = http.get(url).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let raw: Vec<String> = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let csrf = raw
        .iter()
        .find(|c| c.starts_with("__Host-palisade_csrf="))
        .expect("a __Host- CSRF cookie");
    for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Strict"] {
        assert!(csrf.contains(attribute), "{csrf} lacks {attribute}");
    }
    assert!(!csrf.contains("Domain"), "{csrf}");
    let html = form.text().await.unwrap();
    let response = http
        .post(format!("{base}/authorize/login"))
        .header("cookie", csrf.split(';').next().unwrap())
        .form(&[
            ("request_id", hidden(&html, "request_id")),
            ("csrf", hidden(&html, "csrf")),
            ("username", "alice".to_owned()),
            ("password", PASSWORD.to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let session = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-palisade_session="))
        .expect("a __Host- session cookie");
    assert!(
        session.contains("Secure") && session.contains("HttpOnly") && session.contains("Path=/"),
        "{session}"
    );
}
