//! Discovery (what is really supported), JWKS (public members only), introspection (RFC 7662), revocation (RFC 7009), userinfo and end session.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::client_auth::{Params, Public, authenticate};
use super::error::no_store;
use super::identity::Client;
use super::keys::KeyRing;
use super::token::revoke_family;
use super::{API_TOKEN_PREFIX, AuthorizationServer, OAuthError, REFRESH_TOKEN_PREFIX, digest};
use crate::audit::{Outcome, event_type};
use crate::authn::jws;
use crate::principal::PrincipalKind;

pub(crate) async fn discovery(State(server): State<AuthorizationServer>) -> Response {
    let c = server.config();
    let algorithms = match server.keys().published_algorithms(server.now()).await {
        Ok(algorithms) => algorithms,
        Err(e) => return OAuthError::from(e).into_response(),
    };
    let body = json!({
        "issuer": c.issuer,
        "authorization_endpoint": c.endpoint("/authorize"),
        "token_endpoint": c.endpoint("/token"),
        "jwks_uri": c.endpoint("/jwks"),
        "userinfo_endpoint": c.endpoint("/userinfo"),
        "introspection_endpoint": c.endpoint("/introspect"),
        "revocation_endpoint": c.endpoint("/revoke"),
        "end_session_endpoint": c.endpoint("/end_session"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "ES384", "RS256", "PS256", "EdDSA"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login"],
        "scopes_supported": ["openid"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "azp", "tenant_id", "roles", "preferred_username"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// Liveness: the process serves.
pub(crate) async fn healthz() -> Response {
    (StatusCode::OK, "ok").into_response()
}

/// Readiness: the store answers and a key signs; 503 otherwise (the cause is logged, not shown).
pub(crate) async fn readyz(State(server): State<AuthorizationServer>) -> Response {
    match server.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
    }
}

pub(crate) async fn jwks(State(server): State<AuthorizationServer>) -> Response {
    match server.keys().jwks(server.now()).await {
        Ok(body) => {
            let mut response = axum::Json(body).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            response
        }
        Err(e) => OAuthError::from(e).into_response(),
    }
}

/// Verifies a token this server signed: known key, the key's algorithm, exact `iss`, `typ`, and
/// (unless `allow_expired`) `exp`. Returns the claims.
pub(crate) async fn verify(
    server: &AuthorizationServer,
    token: &str,
    typ: &str,
    allow_expired: bool,
) -> Option<Map<String, Value>> {
    let hash: [u8; 32] = Sha256::digest(format!("{typ}\n{token}").as_bytes()).into();
    let verified = match server.inner.verified.get(&hash) {
        Some(verified) => verified,
        None => {
            let verified = std::sync::Arc::new(verify_signature(server, token, typ).await?);
            server.inner.verified.insert(hash, verified.clone());
            verified
        }
    };
    let (kid, claims) = &*verified;
    // The signature's validity never changes, but its key can be withdrawn: a revoked key is no
    // longer in the published set, and nothing it signed verifies.
    let published = server.inner.keys.current(server.now()).await.ok()?;
    published.find(kid)?;
    // Expiry is checked against the server's clock on every use, not by jsonwebtoken.
    let exp = claims.get("exp").and_then(Value::as_i64)?;
    (allow_expired || exp > server.now()).then(|| claims.clone())
}

/// Every algorithm this server signs with; a key is pinned to one of them.
const SIGNING_ALGORITHMS: [Algorithm; 3] = [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256];

/// The runtime's one verifier (`authn::jws`: structure, header, duplicate members, `crit`, `kid`,
/// strict base64url, algorithm) over this server's key ring, then this server's claims: `typ`,
/// exact `iss`, `sub` and a numeric `exp` present (expiry itself is checked by [`verify`]).
async fn verify_signature(
    server: &AuthorizationServer,
    token: &str,
    typ: &str,
) -> Option<(String, Map<String, Value>)> {
    let parsed = jws::parse_jws(token, &SIGNING_ALGORITHMS).ok()?;
    if parsed
        .header
        .typ
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
        != Some(typ)
    {
        return None;
    }
    let key = server
        .inner
        .keys
        .find(parsed.header.kid.as_deref()?, server.now())
        .await
        .ok()??;
    if parsed.header.alg != KeyRing::jose(key.algorithm) {
        return None;
    }
    let claims = jws::claims_object(&parsed.verify(&key.decoding).ok()?).ok()?;
    let issued_here =
        claims.get("iss").and_then(Value::as_str) == Some(server.config().issuer.as_str());
    let complete = claims.get("sub").is_some_and(Value::is_string)
        && claims.get("exp").is_some_and(Value::is_i64);
    (issued_here && complete).then(|| (key.kid.clone(), claims))
}

/// Whether an access token's `jti` (or the grant it came from) is revoked.
pub(crate) async fn revoked(server: &AuthorizationServer, jti: &str) -> Result<bool, OAuthError> {
    Ok(server.inner.store.access_token_revoked(jti).await?)
}

/// An access token of this server that is still good: signature, `typ`, `iss`, unexpired, and
/// neither it nor its grant revoked. The claims, or `None`.
pub(crate) async fn live_access_token(
    server: &AuthorizationServer,
    token: &str,
) -> Result<Option<Map<String, Value>>, OAuthError> {
    let Some(claims) = verify(server, token, "at+jwt", false).await else {
        return Ok(None);
    };
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if jti.is_empty() || revoked(server, jti).await? {
        return Ok(None);
    }
    // A disabled (or deleted) client's tokens stop at once on this replica, within the client
    // cache's second on the others. A disabled user's grants are revoked, which the line above
    // already sees.
    let client_id = claims.get("client_id").and_then(Value::as_str);
    let client_live = match client_id {
        Some(id) => server
            .identities()
            .client(id)
            .await?
            .is_some_and(|c| !c.disabled),
        None => false,
    };
    Ok(client_live.then_some(claims))
}

/// The claims of the bearer's live access token of this server for `audience`: 401 without one
/// (or for another audience).
pub(crate) async fn audience_token(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    audience: &str,
) -> Result<Map<String, Value>, crate::problem::Problem> {
    use crate::problem::Problem;
    let token = bearer(headers).ok_or_else(Problem::missing_token)?;
    let claims = live_access_token(server, token)
        .await
        .map_err(|_| Problem::unavailable())?
        .ok_or_else(Problem::invalid_token)?;
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(a)) => a.iter().any(|v| v == audience),
        _ => false,
    };
    if !audience_ok {
        return Err(Problem::invalid_token());
    }
    Ok(claims)
}

/// [`audience_token`] with `scope`: 403 without it.
pub(crate) async fn scoped_token(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    audience: &str,
    scope: &str,
) -> Result<Map<String, Value>, crate::problem::Problem> {
    let claims = audience_token(server, headers, audience).await?;
    let scoped = claims
        .get("scope")
        .and_then(Value::as_str)
        .is_some_and(|s| s.split(' ').any(|s| s == scope));
    if !scoped {
        return Err(crate::problem::Problem::forbidden()
            .with_detail(format!("the token lacks the {scope} scope")));
    }
    Ok(claims)
}

/// The token of an `Authorization: Bearer` header, through the runtime's one bearer parser.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    crate::authn::bearer_token(headers).ok()
}

pub(crate) async fn introspect(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let answer = async {
        let params = Params::from_pairs(pairs)?;
        let caller = authenticate(&server, &headers, &params, Public::Refused).await?;
        if !caller.may_introspect {
            return Err(OAuthError {
                status: StatusCode::FORBIDDEN,
                error: "unauthorized_client",
                description: "this client is not a resource server allowed to introspect tokens"
                    .into(),
                retry_after: None,
            });
        }
        let token = params.require("token")?;
        Ok::<_, OAuthError>(
            inspect(&server, token, &caller)
                .await?
                .unwrap_or_else(|| json!({ "active": false })),
        )
    };
    match answer.await {
        Ok(body) => no_store(body),
        Err(e) => e.into_response(),
    }
}

/// The introspection answer for an active token, `None` for anything else (RFC 7662 section 4):
/// a token is described only to a resource server of its own tenant that is one of its
/// audiences. A refresh token is described only to the client it was issued to: to anyone else it
/// is not a credential.
async fn inspect(
    server: &AuthorizationServer,
    token: &str,
    caller: &Client,
) -> Result<Option<Value>, OAuthError> {
    let Some(body) = describe(server, token, &caller.client_id).await? else {
        return Ok(None);
    };
    let same_tenant =
        body.get("tenant_id").and_then(Value::as_str) == Some(caller.tenant_id.as_str());
    let for_caller = |aud: &Value| {
        aud.as_str()
            .is_some_and(|a| caller.audiences.iter().any(|mine| mine == a))
    };
    let audience_ok = body.get("token_type").and_then(Value::as_str) == Some("refresh_token")
        || match body.get("aud") {
            Some(Value::Array(items)) => items.iter().any(for_caller),
            Some(aud) => for_caller(aud),
            None => false,
        };
    Ok((same_tenant && audience_ok).then_some(body))
}

/// What an active token says about itself, whoever asks.
async fn describe(
    server: &AuthorizationServer,
    token: &str,
    caller: &str,
) -> Result<Option<Value>, OAuthError> {
    let now = server.now();
    let store = &server.inner.store;
    let issuer = &server.config().issuer;
    if token.starts_with(API_TOKEN_PREFIX) {
        let Some(t) = store.api_token_by_hash(&digest(token)).await? else {
            return Ok(None);
        };
        if t.revoked_at.is_some() || t.expires_at <= now {
            return Ok(None);
        }
        return Ok(Some(json!({
            "active": true,
            "token_type": "api_token",
            "iss": issuer,
            "sub": t.subject,
            "aud": t.audiences,
            "tenant_id": t.tenant,
            "scope": t.scopes.join(" "),
            "roles": t.roles,
            "iat": t.created_at,
            "exp": t.expires_at,
            "kind": PrincipalKind::ApiToken.as_str(),
        })));
    }
    if token.starts_with(REFRESH_TOKEN_PREFIX) {
        let Some((refresh, family)) = store.refresh_token(&digest(token)).await? else {
            return Ok(None);
        };
        let dead = family.client_id != caller
            || refresh.used
            || family.revoked
            || refresh.expires_at <= now;
        if dead {
            return Ok(None);
        }
        return Ok(Some(json!({
            "active": true,
            "token_type": "refresh_token",
            "iss": issuer,
            "sub": family.user_id,
            "client_id": family.client_id,
            "tenant_id": family.tenant_id,
            "scope": family.scope.join(" "),
            "exp": refresh.expires_at,
        })));
    }
    let Some(mut body) = live_access_token(server, token).await? else {
        return Ok(None);
    };
    body.insert("active".into(), json!(true));
    body.insert("token_type".into(), json!("Bearer"));
    Ok(Some(Value::Object(body)))
}

pub(crate) async fn revoke(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let done = async {
        let params = Params::from_pairs(pairs)?;
        let client = authenticate(&server, &headers, &params, Public::Allowed).await?;
        let token = params.require("token")?;
        let store = &server.inner.store;
        if token.starts_with(API_TOKEN_PREFIX) {
            return Err(OAuthError {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_token_type",
                description: "API tokens are revoked through the admin API".into(),
                retry_after: None,
            });
        }
        if token.starts_with(REFRESH_TOKEN_PREFIX) {
            if let Some((_, family)) = store.refresh_token(&digest(token)).await?
                && family.client_id == client.client_id
            {
                revoke_family(
                    &server,
                    &family.id,
                    &family.tenant_id,
                    "refresh token revoked by its client",
                )
                .await?;
            }
            return Ok(());
        }
        // An access token: only its own client may revoke it; an unknown or foreign token is
        // answered the same way (RFC 7009 section 2.2).
        if let Some(claims) = verify(&server, token, "at+jwt", true).await
            && claims.get("client_id").and_then(Value::as_str) == Some(client.client_id.as_str())
        {
            let jti = claims
                .get("jti")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let exp = claims
                .get("exp")
                .and_then(Value::as_i64)
                .unwrap_or_default();
            store.revoke_access_token(jti, exp, server.now()).await?;
            let entry = server
                .entry(event_type::TOKEN_REVOKED, "token.revoke", Outcome::Success)
                .actor(
                    &client.client_id,
                    PrincipalKind::Service,
                    Some(&client.client_id),
                )
                .resource(&format!("jti/{jti}"))
                .tenant(&client.tenant_id);
            server.audit(entry).await;
        }
        Ok(())
    };
    match done.await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => e.into_response(),
    }
}

fn bearer_error(description: &str) -> Response {
    let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

pub(crate) async fn userinfo(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return bearer_error("a bearer access token is required");
    };
    let claims = match live_access_token(&server, token).await {
        Ok(Some(claims)) => claims,
        Ok(None) => return bearer_error("the access token is invalid, expired or revoked"),
        Err(e) => return e.into_response(),
    };
    let openid = claims
        .get("scope")
        .and_then(Value::as_str)
        .is_some_and(|s| s.split(' ').any(|x| x == "openid"));
    if !openid {
        let mut response = StatusCode::FORBIDDEN.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"insufficient_scope\", scope=\"openid\""),
        );
        return response;
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = match server.identities().user(sub).await {
        Ok(Some(u)) => u,
        Ok(None) => return bearer_error("the user no longer exists"),
        Err(e) => return OAuthError::from(e).into_response(),
    };
    no_store(json!({
        "sub": user.id,
        "tenant_id": user.tenant_id,
        "roles": user.roles,
        "preferred_username": user.username,
    }))
}
