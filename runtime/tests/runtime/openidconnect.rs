//! The Rust `openidconnect` crate drives the authorization server over real HTTP: discovery, the code flow with PKCE through the login form, ID token validation, userinfo, refresh, introspection and client credentials.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    IntrospectionUrl, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope,
    TokenIntrospectionResponse, TokenResponse,
};

use crate::server::{REDIRECT, start};
use crate::support::report;

/// The HTTP client openidconnect calls: reqwest, redirects not followed.
async fn send(request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut builder = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    Ok(builder
        .body(response.bytes().await?.to_vec())
        .expect("a response from its parts"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openidconnect_crate_drives_every_flow() {
    let database = std::env::temp_dir().join(format!(
        "palisade-openidconnect-{}.db",
        uuid::Uuid::new_v4()
    ));
    let h = start(&format!("sqlite://{}?mode=rwc", database.display())).await;
    let http = |request: HttpRequest| send(request);

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(h.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let (web_id, web_secret) = h.web_credentials();
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(web_id),
        Some(ClientSecret::new(web_secret)),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap())
    .set_introspection_url(IntrospectionUrl::new(h.url("/introspect")).unwrap());

    // The code flow with PKCE; the crate adds the openid scope and checks state, nonce and the ID token.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("notes.read".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let (query, _) = h.sign_in_at(url.as_str()).await;
    assert_eq!(&query["state"], state.secret());
    assert_eq!(query["iss"], h.issuer);
    let tokens = client
        .exchange_code(AuthorizationCode::new(query["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("a valid ID token");
    let subject = claims.subject().clone();

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(subject.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), &subject);
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));

    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        tokens.refresh_token().unwrap().secret()
    );

    let live = client
        .introspect(refreshed.access_token())
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(live.active());
    assert_eq!(live.sub(), Some(subject.as_str()));
    // The oauth2 crate refuses a plain-HTTP revocation endpoint (RFC 7009 requires TLS), and this
    // test server is plain HTTP on loopback: revoke with the same client credentials directly.
    let (web_id, web_secret) = h.web_credentials();
    let revoked = reqwest::Client::new()
        .post(h.url("/revoke"))
        .basic_auth(web_id, Some(web_secret))
        .form(&[("token", refreshed.access_token().secret().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let dead = client
        .introspect(refreshed.access_token())
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(!dead.active());

    // A rotated refresh token is refused.
    let reused = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&http)
        .await;
    assert!(reused.is_err(), "a rotated refresh token was accepted");

    // Issue 10: max_age=0 with prompt=login asks for a new sign-in, and the ID token then carries
    // auth_time, which the crate's verifier is told to require.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_max_age(std::time::Duration::ZERO)
        .add_prompt(openidconnect::core::CoreAuthPrompt::Login)
        .set_pkce_challenge(challenge)
        .url();
    let (query, _) = h.sign_in_at(url.as_str()).await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(query["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange after max_age=0");
    let auth_time_required = client.id_token_verifier().set_auth_time_verifier_fn(|t| {
        t.map(|_| ())
            .ok_or_else(|| "auth_time is missing".to_owned())
    });
    tokens
        .id_token()
        .expect("an ID token")
        .claims(&auth_time_required, &nonce)
        .expect("an ID token with auth_time");
    // A request object is refused by name, on the redirect.
    let (url, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_extra_param("request", "eyJhbGciOiJub25lIn0.e30.")
        .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
        .url();
    let refused = h.http.get(url.as_str()).send().await.unwrap();
    let location = refused.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.contains("error=request_not_supported"),
        "{location}"
    );

    // Client credentials for the service identity.
    let service = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(h.service_id.clone()),
        Some(ClientSecret::new(h.service_secret.clone())),
    );
    let granted = service
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("notes.read".to_owned()))
        .request_async(&http)
        .await
        .expect("client credentials");
    assert_eq!(granted.scopes().map(|s| s.len()), Some(1));
    report(
        "openidconnect (Rust): discovery, code + PKCE, ID token, userinfo, refresh, introspection, max_age=0 + prompt=login with auth_time required, request object refused, client credentials (revocation sent over plain HTTP)",
    );
}
