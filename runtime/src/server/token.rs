//! `/token`: client credentials, authorization code with PKCE (S256 only, single-use codes, reuse revokes what the code gave), and refresh tokens rotated on every use (reuse revokes the whole family). Also the signing of access and ID tokens.

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::client_auth::{Params, Public, authenticate};
use super::error::no_store;
use super::identity::{Client, User};
use super::keys::sign;
use super::store::{CodeRow, FamilyRow, GrantType};
use super::{
    AuthorizationServer, OAuthError, REFRESH_TOKEN_PREFIX, digest, new_secret, random_token,
};
use crate::audit::{Outcome, event_type};
use crate::principal::{PrincipalKind, TenantId};

pub(crate) async fn token(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    match grant(&server, &headers, pairs).await {
        Ok(body) => no_store(body),
        Err(error) => error.into_response(),
    }
}

async fn grant(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Result<Value, OAuthError> {
    let params = Params::from_pairs(pairs)?;
    let grant_type = params.require("grant_type")?;
    match grant_type {
        "client_credentials" => client_credentials(server, headers, &params).await,
        "authorization_code" => authorization_code(server, headers, &params).await,
        "refresh_token" => refresh(server, headers, &params).await,
        other => {
            // The password and implicit grants are not offered at all.
            refused(
                server,
                None,
                "token.grant",
                &format!("unsupported grant type {other}"),
            )
            .await;
            Err(OAuthError::unsupported_grant_type(other))
        }
    }
}

async fn refused(
    server: &AuthorizationServer,
    client: Option<&Client>,
    action: &str,
    reason: &str,
) {
    let mut entry = server
        .entry(event_type::TOKEN_REFUSED, action, Outcome::Failure)
        .reason(reason);
    if let Some(c) = client {
        entry = entry
            .actor(&c.client_id, PrincipalKind::Service, Some(&c.client_id))
            .tenant(&c.tenant_id);
    }
    server.audit(entry).await;
}

/// Authenticates the client and checks it may use `grant`; a refusal is audited.
async fn client_for(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    params: &Params,
    grant: GrantType,
    public: Public,
) -> Result<Client, OAuthError> {
    let client = authenticate(server, headers, params, public).await?;
    if !client.allows(grant) {
        refused(
            server,
            Some(&client),
            &format!("token.{grant}"),
            "grant not allowed for the client",
        )
        .await;
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {grant} grant"
        )));
    }
    Ok(client)
}

async fn client_credentials(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Value, OAuthError> {
    let client = client_for(
        server,
        headers,
        params,
        GrantType::ClientCredentials,
        Public::Refused,
    )
    .await?;
    let scopes = match requested_scopes(params.get("scope"), &client.scopes) {
        Ok(s) => s,
        Err(e) => {
            refused(
                server,
                Some(&client),
                "token.client_credentials",
                &e.description,
            )
            .await;
            return Err(e);
        }
    };
    let audience = audience(&client, params)?;
    let now = server.now();
    let (access_token, _jti) = access_token(
        server,
        &AccessClaims {
            subject: &client.client_id,
            client_id: &client.client_id,
            tenant: &client.tenant_id,
            roles: &client.roles,
            scopes: &scopes,
            audience: &audience,
            kind: None,
        },
        now,
    )
    .await?;
    issued(
        server,
        &client,
        &client.client_id,
        "token.client_credentials",
        &scopes,
    )
    .await;
    Ok(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": server.config().access_token_ttl,
        "scope": scopes.join(" "),
    }))
}

async fn issued(
    server: &AuthorizationServer,
    client: &Client,
    subject: &str,
    action: &str,
    scopes: &[String],
) {
    let kind = if subject == client.client_id {
        PrincipalKind::Service
    } else {
        PrincipalKind::User
    };
    let entry = server
        .entry(event_type::TOKEN_ISSUED, action, Outcome::Success)
        .actor(subject, kind, Some(&client.client_id))
        .resource(&format!("scope:{}", scopes.join(" ")))
        .tenant(&client.tenant_id);
    server.audit(entry).await;
}

/// The requested scopes (default: all the client may have); any other scope is refused by name.
pub(crate) fn requested_scopes(
    requested: Option<&str>,
    allowed: &[String],
) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.to_vec());
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in requested.split(' ').filter(|s| !s.is_empty()) {
        if !allowed.iter().any(|a| a == scope) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {scope:?} is not allowed for this client"
            )));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    Ok(scopes)
}

/// The audience: the `resource` (RFC 8707) or `audience` asked for, if the client may have it;
/// the client's only audience otherwise.
fn audience(client: &Client, params: &Params) -> Result<String, OAuthError> {
    match params.get("resource").or_else(|| params.get("audience")) {
        Some(asked) if client.audiences.iter().any(|a| a == asked) => Ok(asked.to_owned()),
        Some(asked) => Err(OAuthError::invalid_target(format!(
            "audience {asked:?} is not allowed for this client"
        ))),
        None if client.audiences.len() == 1 => Ok(client.audiences[0].clone()),
        None => Err(OAuthError::invalid_target(
            "this client has several audiences: name one with the resource parameter",
        )),
    }
}

pub(crate) struct AccessClaims<'a> {
    pub(crate) subject: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) tenant: &'a TenantId,
    pub(crate) roles: &'a [String],
    pub(crate) scopes: &'a [String],
    pub(crate) audience: &'a str,
    pub(crate) kind: Option<&'a str>,
}

/// Signs an RFC 9068 access token; returns it and its `jti`.
pub(crate) async fn access_token(
    server: &AuthorizationServer,
    claims: &AccessClaims<'_>,
    now: i64,
) -> Result<(String, String), OAuthError> {
    let jti = random_token(16);
    let mut body = json!({
        "iss": server.config().issuer,
        "sub": claims.subject,
        "aud": claims.audience,
        "iat": now,
        "nbf": now,
        "exp": now + server.config().access_token_ttl,
        "jti": jti,
        "client_id": claims.client_id,
        "scope": claims.scopes.join(" "),
        "tenant_id": claims.tenant,
        "roles": claims.roles,
    });
    if let Some(kind) = claims.kind {
        body["kind"] = json!(kind);
    }
    Ok((sign(server, &body, "at+jwt", now).await?, jti))
}

/// What a code or refresh token belongs to: one grant, with every token issued from it.
type Family = FamilyRow;

/// Revokes a grant: its refresh tokens and every access token issued from it stop working.
pub(crate) async fn revoke_family(
    server: &AuthorizationServer,
    family: &str,
    tenant: &TenantId,
    reason: &str,
) -> Result<(), OAuthError> {
    server
        .inner
        .store
        .revoke_family(family, server.now())
        .await?;
    let entry = server
        .entry(event_type::TOKEN_REVOKED, "grant.revoke", Outcome::Success)
        .resource(&format!("grant/{family}"))
        .reason(reason)
        .tenant(tenant);
    server.audit(entry).await;
    Ok(())
}

async fn authorization_code(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Value, OAuthError> {
    let client = client_for(
        server,
        headers,
        params,
        GrantType::AuthorizationCode,
        Public::Allowed,
    )
    .await?;
    let code = params.require("code")?;
    let code_hash = digest(code);
    let now = server.now();
    let found = server.inner.store.code(&code_hash).await?;
    let client = &client;
    let invalid = |reason: &'static str| async move {
        refused(server, Some(client), "token.authorization_code", reason).await;
        Err::<Value, _>(OAuthError::invalid_grant(reason))
    };
    let Some((row, family)) = found else {
        return invalid("the code is invalid or expired").await;
    };
    if family.client_id != client.client_id {
        // Audited as what it is, answered as an unknown code: the answer must not confirm to
        // the caller that a stolen code exists.
        refused(
            server,
            Some(client),
            "token.authorization_code",
            "the code was issued to another client",
        )
        .await;
        return Err(OAuthError::invalid_grant("the code is invalid or expired"));
    }
    // From here the code is spent, whatever the outcome: a second redemption is a replay.
    let spent = server.inner.store.spend_code(&code_hash, now).await?;
    if !spent || family.revoked {
        revoke_family(
            server,
            &family.id,
            &family.tenant_id,
            "authorization code reused",
        )
        .await?;
        return invalid("the code was already used; the tokens issued from it are revoked").await;
    }
    if row.expires_at < now {
        return invalid("the code has expired").await;
    }
    if params.get("redirect_uri") != Some(row.redirect_uri.as_str()) {
        return invalid("redirect_uri differs from the authorization request").await;
    }
    let challenge = &row.code_challenge;
    let Some(verifier) = params.get("code_verifier") else {
        return invalid("code_verifier is missing").await;
    };
    if !valid_verifier(verifier) {
        return invalid("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~").await;
    }
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != *challenge {
        return invalid("code_verifier does not match the code_challenge").await;
    }
    let Some(user) = server.identities().user(&family.user_id).await? else {
        return invalid("the user no longer exists or is disabled").await;
    };
    let grant = (GrantType::AuthorizationCode, row.nonce.as_deref());
    tokens_for(
        server,
        client,
        &family,
        &user,
        &family.scope,
        grant,
        params,
        now,
    )
    .await
}

/// RFC 7636: 43 to 128 characters of the unreserved set.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[allow(clippy::too_many_arguments)]
async fn tokens_for(
    server: &AuthorizationServer,
    client: &Client,
    family: &Family,
    user: &User,
    scopes: &[String],
    (grant, nonce): (GrantType, Option<&str>),
    params: &Params,
    now: i64,
) -> Result<Value, OAuthError> {
    let audience = audience(client, params)?;
    let (access, jti) = access_token(
        server,
        &AccessClaims {
            subject: &user.id,
            client_id: &client.client_id,
            tenant: &family.tenant_id,
            roles: &user.roles,
            scopes,
            audience: &audience,
            kind: Some("user"),
        },
        now,
    )
    .await?;
    let store = &server.inner.store;
    store
        .insert_access_token(&jti, &family.id, now + server.config().access_token_ttl)
        .await?;
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("expires_in".into(), json!(server.config().access_token_ttl));
    body.insert("scope".into(), json!(scopes.join(" ")));
    if client.allows(GrantType::RefreshToken) {
        let refresh = new_secret(REFRESH_TOKEN_PREFIX);
        store
            .insert_refresh_token(
                &digest(&refresh),
                &family.id,
                // Rotation never carries a grant past its absolute lifetime.
                (now + server.config().refresh_token_ttl)
                    .min(family.created_at + server.config().grant_ttl),
            )
            .await?;
        body.insert("refresh_token".into(), json!(refresh));
    }
    if scopes.iter().any(|s| s == "openid") {
        let mut claims = json!({
            "iss": server.config().issuer,
            "sub": user.id,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": now + server.config().id_token_ttl,
            "auth_time": family.auth_time,
            "tenant_id": family.tenant_id,
            "preferred_username": user.username,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        body.insert(
            "id_token".into(),
            json!(sign(server, &claims, "JWT", now).await?),
        );
    }
    let action = match grant {
        GrantType::RefreshToken => "token.refresh",
        _ => "token.authorization_code",
    };
    issued(server, client, &user.id, action, scopes).await;
    Ok(Value::Object(body))
}

async fn refresh(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Value, OAuthError> {
    let client = client_for(
        server,
        headers,
        params,
        GrantType::RefreshToken,
        Public::Allowed,
    )
    .await?;
    let token = params.require("refresh_token")?;
    let token_hash = digest(token);
    let now = server.now();
    let found = server.inner.store.refresh_token(&token_hash).await?;
    let client = &client;
    let invalid = |reason: &'static str| async move {
        refused(server, Some(client), "token.refresh", reason).await;
        Err::<Value, _>(OAuthError::invalid_grant(reason))
    };
    let Some((row, family)) = found else {
        return invalid("the refresh token is invalid or expired").await;
    };
    if family.client_id != client.client_id {
        // As for codes: audited as theft, answered as an unknown token.
        refused(
            server,
            Some(client),
            "token.refresh",
            "the refresh token was issued to another client",
        )
        .await;
        return Err(OAuthError::invalid_grant(
            "the refresh token is invalid or expired",
        ));
    }
    if family.revoked {
        return invalid("the refresh token's grant is revoked").await;
    }
    if row.used {
        revoke_family(
            server,
            &family.id,
            &family.tenant_id,
            "rotated refresh token reused",
        )
        .await?;
        return invalid("the refresh token was already used; its grant is revoked").await;
    }
    if row.expires_at < now {
        return invalid("the refresh token has expired").await;
    }
    if family.created_at + server.config().grant_ttl <= now {
        return invalid("the grant has reached its absolute lifetime; sign in again").await;
    }
    let scopes = match params.get("scope") {
        Some(asked) => requested_scopes(Some(asked), &family.scope).map_err(|_| {
            OAuthError::invalid_scope("a refresh may not ask for more than the original grant")
        })?,
        None => family.scope.clone(),
    };
    let rotated = server
        .inner
        .store
        .spend_refresh_token(&token_hash, now)
        .await?;
    if !rotated {
        revoke_family(
            server,
            &family.id,
            &family.tenant_id,
            "rotated refresh token reused",
        )
        .await?;
        return invalid("the refresh token was already used; its grant is revoked").await;
    }
    let Some(user) = server.identities().user(&family.user_id).await? else {
        return invalid("the user no longer exists or is disabled").await;
    };
    let grant = (GrantType::RefreshToken, None);
    tokens_for(server, client, &family, &user, &scopes, grant, params, now).await
}

/// Starts a grant for a signed-in user: its family row and a single-use code.
pub(crate) struct CodeRequest<'a> {
    pub(crate) client: &'a Client,
    pub(crate) user: &'a User,
    pub(crate) scopes: &'a [String],
    pub(crate) redirect_uri: &'a str,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) code_challenge: &'a str,
    pub(crate) auth_time: i64,
}

pub(crate) async fn new_code(
    server: &AuthorizationServer,
    request: &CodeRequest<'_>,
) -> Result<String, OAuthError> {
    let now = server.now();
    let code = new_secret(super::CODE_PREFIX);
    let family = FamilyRow {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: request.client.client_id.clone(),
        tenant_id: request.user.tenant_id.clone(),
        user_id: request.user.id.clone(),
        scope: request.scopes.to_vec(),
        auth_time: request.auth_time,
        created_at: now,
        revoked: false,
    };
    let row = CodeRow {
        redirect_uri: request.redirect_uri.to_owned(),
        nonce: request.nonce.map(str::to_owned),
        code_challenge: request.code_challenge.to_owned(),
        expires_at: now + server.config().code_ttl,
    };
    server
        .inner
        .store
        .insert_code_grant(&family, &digest(&code), &row)
        .await?;
    Ok(code)
}
