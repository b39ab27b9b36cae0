//! Keys from a real issuer over HTTP: discovery, JWKS, and the rate-limited refetch on an unknown `kid`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use palisade_runtime::authn::{Authenticator, AuthnConfig, AuthnError};
use palisade_runtime::testing::TestAuthority;
use serde_json::json;

use crate::support::AUDIENCE;

/// Serves a test authority's discovery and JWKS on loopback, counting JWKS fetches.
async fn issuer() -> (TestAuthority, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let authority = TestAuthority::new(issuer, AUDIENCE);
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let router: Router = authority.router().layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            if req.uri().path() == "/jwks" {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            next.run(req)
        },
    ));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (authority, fetches)
}

#[tokio::test]
async fn unknown_kid_refetches_once_per_interval() {
    let (authority, fetches) = issuer().await;
    let config = AuthnConfig::new(authority.issuer(), AUDIENCE)
        .allow_insecure_http(true)
        .with_refetch_interval(Duration::from_secs(3600));
    let authn = Authenticator::new(config).unwrap();

    let principal = authn
        .authenticate(&authority.token("acme", "alice").sign())
        .await
        .unwrap();
    assert_eq!(principal.subject, "alice");
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "first use fetches discovery and JWKS"
    );
    assert_eq!(authn.ensure_keys().await, Ok(2));
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "a readiness check never refetches a loaded set"
    );

    let unknown = authority
        .token("acme", "alice")
        .header("kid", json!("rotated-in"))
        .sign();
    assert_eq!(
        authn.authenticate(&unknown).await,
        Err(AuthnError::UnknownKey)
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "an unknown kid triggers one refetch"
    );
    let another = authority
        .token("acme", "alice")
        .header("kid", json!("rotated-in-2"))
        .sign();
    assert_eq!(
        authn.authenticate(&another).await,
        Err(AuthnError::UnknownKey)
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "no second refetch within the interval"
    );
}

#[tokio::test]
async fn plain_http_issuers_need_an_explicit_opt_in() {
    let config = AuthnConfig::new("http://127.0.0.1:1", AUDIENCE);
    assert_eq!(
        Authenticator::new(config).err().unwrap().to_string(),
        "issuer must use https"
    );
    let config =
        AuthnConfig::new("https://issuer.test", AUDIENCE).with_leeway(Duration::from_secs(120));
    assert_eq!(
        Authenticator::new(config).err().unwrap().to_string(),
        "leeway 120s is above the 60 s maximum"
    );
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_refused() {
    let (authority, _) = issuer().await;
    // The configured issuer differs from the one the discovery document names (trailing slash).
    let config =
        AuthnConfig::new(format!("{}/", authority.issuer()), AUDIENCE).allow_insecure_http(true);
    let authn = Authenticator::new(config).unwrap();
    let error = authn.refresh_keys().await.unwrap_err();
    assert!(
        matches!(error, AuthnError::KeysUnavailable(ref m) if m.contains("another issuer")),
        "{error}"
    );
}

#[tokio::test]
async fn opaque_tokens_are_introspected_and_the_answer_cached() {
    use palisade_runtime::PrincipalKind;
    use palisade_runtime::authn::IntrospectionConfig;
    use palisade_runtime::secrets::Secret;

    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let router = Router::new().route(
        "/introspect",
        axum::routing::post(move |headers: http::HeaderMap, axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                // RFC 7662: the resource server authenticates itself (client_secret_basic).
                assert_eq!(headers["authorization"], "Basic bm90ZXMtYXBpOnMzY3IzdA==");
                let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600;
                axum::Json(match form["token"].as_str() {
                    "pal_live" => json!({ "active": true, "sub": "tok_1", "tenant_id": "acme", "scope": "notes:read",
                                           "client_id": "ci-bot", "exp": exp, "aud": AUDIENCE, "iss": "https://issuer.test" }),
                    "pal_foreign_aud" => json!({ "active": true, "sub": "tok_2", "tenant_id": "acme", "exp": exp, "aud": "other" }),
                    // Issue 10, finding 2: an answer naming no audience is not for this service.
                    "pal_no_aud" => json!({ "active": true, "sub": "tok_3", "tenant_id": "acme", "exp": exp, "iss": "https://issuer.test" }),
                    _ => json!({ "active": false }),
                })
            }
        }),
    );
    let addr = crate::support::serve(router).await;
    let config = AuthnConfig::new("https://issuer.test", AUDIENCE)
        .with_static_keys(serde_json::from_value(json!({"keys": []})).unwrap())
        .allow_insecure_http(true)
        .with_introspection(IntrospectionConfig {
            endpoint: format!("http://{addr}/introspect").parse().unwrap(),
            client_id: "notes-api".into(),
            client_secret: Secret::new("s3cr3t"),
            cache_ttl: Duration::from_secs(30),
        });
    let authn = Authenticator::new(config).unwrap();
    let principal = authn.authenticate("pal_live").await.unwrap();
    assert_eq!(
        (
            principal.subject.as_str(),
            principal.kind,
            principal.scopes.clone()
        ),
        (
            "tok_1",
            PrincipalKind::ApiToken,
            vec!["notes:read".to_owned()]
        )
    );
    authn.authenticate("pal_live").await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the second use is served from the cache"
    );
    assert_eq!(
        authn.authenticate("pal_revoked").await,
        Err(AuthnError::Inactive)
    );
    assert_eq!(
        authn.authenticate("pal_no_aud").await,
        Err(AuthnError::MissingClaim("aud"))
    );
    assert_eq!(
        authn.authenticate("pal_foreign_aud").await,
        Err(AuthnError::WrongAudience)
    );
}

#[tokio::test]
async fn a_key_the_issuer_withdrew_stops_verifying() {
    use std::sync::Mutex;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let authority = TestAuthority::new(issuer.clone(), AUDIENCE);
    let jwks = Arc::new(Mutex::new(authority.jwks_json().clone()));
    let served = jwks.clone();
    let discovery = json!({ "issuer": issuer, "jwks_uri": format!("{issuer}/jwks") });
    let router = Router::new()
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/jwks",
            axum::routing::get(move || {
                let body = served.lock().unwrap().clone();
                async move { axum::Json(body) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let mut config = AuthnConfig::new(&issuer, AUDIENCE)
        .allow_insecure_http(true)
        .with_refetch_interval(Duration::ZERO);
    config.key_max_age = Duration::ZERO;
    let authn = Authenticator::new(config).unwrap();
    authn
        .authenticate(&authority.token("acme", "alice").sign())
        .await
        .unwrap();

    // The issuer rotates its ES256 key out; the next token signed with it is refused.
    let rsa_only = json!({ "keys": [authority.jwks_json()["keys"][1].clone()] });
    *jwks.lock().unwrap() = rsa_only;
    let after = authority.token("acme", "bob").sign();
    assert_eq!(
        authn.authenticate(&after).await,
        Err(AuthnError::UnknownKey)
    );
    authn
        .authenticate(&authority.token("acme", "carol").rs256().sign())
        .await
        .expect("the remaining key still verifies");
}

#[tokio::test]
async fn entra_id_shaped_tokens_with_the_entra_settings() {
    use palisade_runtime::PrincipalKind;
    use palisade_runtime::authn::TokenType;

    let authority = TestAuthority::new(
        "https://login.microsoftonline.com/tid-1/v2.0",
        "api://notes",
    );
    let config = authority
        .authn_config()
        .with_tenant_claim("tid")
        .with_token_type(TokenType::Jwt)
        .with_jti_claim(Some("uti"));
    let authn = Authenticator::new(config).unwrap();
    let app_token = authority
        .token("ignored", "app-object-id")
        .without_claim("tenant_id")
        .without_claim("jti")
        .without_claim("scope")
        .claim("tid", json!("contoso"))
        .claim("uti", json!("AbCdEf"))
        .claim("idtyp", json!("app"))
        .claim("roles", json!(["writer"]))
        .header("typ", json!("JWT"))
        .sign();
    let principal = authn.authenticate(&app_token).await.unwrap();
    assert_eq!(
        (principal.tenant.as_str(), principal.kind),
        ("contoso", PrincipalKind::Service)
    );
    let user_token = authority
        .token("ignored", "user-oid")
        .without_claim("tenant_id")
        .without_claim("jti")
        .without_claim("scope")
        .claim("tid", json!("contoso"))
        .claim("uti", json!("XyZ"))
        .claim("scp", json!("notes.read notes.write"))
        .without_header("typ")
        .sign();
    let principal = authn.authenticate(&user_token).await.unwrap();
    assert_eq!(principal.kind, PrincipalKind::User);
    assert_eq!(principal.scopes, ["notes.read", "notes.write"]);
    // With the strict defaults the same token is refused (no at+jwt typ, no tenant_id, no jti).
    let strict = Authenticator::new(authority.authn_config()).unwrap();
    assert!(strict.authenticate(&user_token).await.is_err());
}

#[tokio::test]
async fn hmac_keyed_with_a_public_key_fails_even_when_hmac_is_allowed() {
    use jsonwebtoken::Algorithm;
    use palisade_runtime::testing::RS256_KID;

    let authority = TestAuthority::new("https://issuer.test", AUDIENCE);
    let config = authority
        .authn_config()
        .with_algorithms(vec![Algorithm::RS256, Algorithm::HS256]);
    let authn = Authenticator::new(config).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({ "iss": "https://issuer.test", "aud": AUDIENCE, "sub": "mallory", "tenant_id": "acme",
                         "jti": "x", "exp": now + 300, "iat": now });
    let forged = authority.sign_raw(
        &json!({ "alg": "HS256", "typ": "at+jwt", "kid": RS256_KID }),
        &claims,
        Algorithm::HS256,
        Some(authority.rsa_public_pem().as_bytes()),
    );
    assert_eq!(
        authn.authenticate(&forged).await,
        Err(AuthnError::KeyMismatch)
    );
}
