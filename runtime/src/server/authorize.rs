//! `/authorize` and its login form: exact redirect URIs, PKCE S256 required, CSRF-protected sign-in without JavaScript, browser sessions, `prompt=none`, and `iss` in every response (RFC 9207).

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::browser::{
    CSRF_COOKIE, SESSION_COOKIE, cookie, csrf_cookie, error_page, escape, page, see_other,
    set_cookie,
};
use super::client_auth::Params;
use super::endpoints::verify;
use super::identity::{Client, User};
use super::identity::{MAX_PASSWORD, MAX_USERNAME};
use super::store::{GrantType, LoginRequestRow, SessionRow};
use super::token::{CodeRequest, new_code, requested_scopes};
use super::{AuthorizationServer, OAuthError, digest, random_token};
use crate::audit::{Outcome, event_type};
use crate::principal::PrincipalKind;

/// Attempts a minute allowed from one source address, as a multiple of the per-user-name limit
/// (several people may share an address).
const ADDRESS_LIMIT_FACTOR: i64 = 10;

/// What a failed sign-in says, whatever failed: no hint whether the user name exists.
const WRONG_CREDENTIALS: &str = "The user name or password is not right.";

/// The longest `state` accepted: it is stored with the login form and echoed to the client.
pub const MAX_STATE: usize = 512;
/// The longest `nonce` accepted: it is stored with the code and copied into the ID token.
pub const MAX_NONCE: usize = 512;

/// The authorization request, checked: what the login form carries forward.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Request {
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
}

/// A redirect back to the client with `params`, `state` and `iss`.
fn redirect(
    server: &AuthorizationServer,
    request_uri: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
    cookies: &[String],
) -> Response {
    let Ok(mut url) = url::Url::parse(request_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "the redirect URI is not a URL");
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &server.config().issuer);
    }
    see_other(url.as_str(), cookies)
}

pub(crate) async fn authorize(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    authorization_request(&server, &headers, pairs).await
}

/// The same request as a form post (OpenID Connect Core section 3.1.2.1 allows both).
pub(crate) async fn authorize_post(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    authorization_request(&server, &headers, pairs).await
}

async fn authorization_request(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    pairs: Vec<(String, String)>,
) -> Response {
    let server = server.clone();
    let params = match Params::from_pairs(pairs) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.description),
    };
    // Until client and redirect URI are known to match, errors stay on this server.
    let Some(client_id) = params.get("client_id") else {
        return error_page(StatusCode::BAD_REQUEST, "client_id is missing");
    };
    let client = match server.identities().client(client_id).await {
        Ok(Some(c)) if !c.disabled && c.allows(GrantType::AuthorizationCode) => c,
        Ok(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "unknown client, or the client may not use this flow",
            );
        }
        Err(e) => return OAuthError::from(e).into_response(),
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return error_page(StatusCode::BAD_REQUEST, "redirect_uri is missing");
    };
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        refused(&server, &client, "redirect_uri not registered").await;
        return error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri is not registered for this client (it must match exactly)",
        );
    }
    let state = params.get("state");
    if state.is_some_and(|s| s.len() > MAX_STATE) {
        // Not echoed back: a redirect would carry it.
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("state is longer than {MAX_STATE} bytes"),
        );
    }
    let fail = |error: &str, description: &str| {
        redirect(
            &server,
            redirect_uri,
            state,
            &[("error", error), ("error_description", description)],
            &[],
        )
    };
    if params.get("request").is_some() {
        return fail(
            "request_not_supported",
            "request objects are not supported; send the parameters themselves",
        );
    }
    if params.get("request_uri").is_some() {
        return fail(
            "request_uri_not_supported",
            "request_uri is not supported; send the parameters themselves",
        );
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            );
        }
        None => return fail("invalid_request", "response_type is missing"),
    }
    let Some(challenge) = params.get("code_challenge") else {
        return fail("invalid_request", "code_challenge is required (PKCE)");
    };
    if params.get("code_challenge_method") != Some("S256") {
        return fail("invalid_request", "code_challenge_method must be S256");
    }
    if challenge.len() != 43
        || !challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return fail(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)",
        );
    }
    let scopes = match requested_scopes(params.get("scope"), &client.scopes) {
        Ok(s) => s,
        Err(e) => return fail("invalid_scope", &e.description),
    };
    let prompt = params.get("prompt").unwrap_or("");
    if prompt
        .split(' ')
        .any(|p| !matches!(p, "" | "none" | "login" | "consent"))
        || (prompt.contains("none") && prompt != "none")
    {
        return fail("invalid_request", "prompt must be none, login or consent");
    }
    if prompt.split(' ').any(|p| p == "consent") {
        return fail(
            "consent_required",
            "this server has no consent screen: clients are registered with their scopes",
        );
    }
    let force_login = prompt.split(' ').any(|p| p == "login");
    if params.get("nonce").is_some_and(|n| n.len() > MAX_NONCE) {
        return fail(
            "invalid_request",
            &format!("nonce is longer than {MAX_NONCE} bytes"),
        );
    }
    let max_age = match params.get("max_age").map(str::parse::<u32>) {
        None => None,
        Some(Ok(seconds)) => Some(i64::from(seconds)),
        Some(Err(_)) => {
            return fail(
                "invalid_request",
                "max_age must be a whole number of seconds",
            );
        }
    };
    // The user the client believes is signed in; an ID token of this server, expired or not.
    let hinted = match params.get("id_token_hint") {
        None => None,
        Some(hint) => match verify(&server, hint, "jwt", true).await.and_then(|claims| {
            claims
                .get("sub")
                .and_then(|s| s.as_str())
                .map(str::to_owned)
        }) {
            Some(sub) => Some(sub),
            None => {
                return fail(
                    "invalid_request",
                    "id_token_hint is not an ID token of this server",
                );
            }
        },
    };
    let request = Request {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: state.map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge: challenge.to_owned(),
    };
    let session = match session(&server, headers, &client).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    // OIDC Core 3.1.2.1: a sign-in older than max_age (max_age=0: any) does not count.
    let now = server.now();
    let session =
        session.filter(|(_, auth_time)| max_age.is_none_or(|m| m > 0 && now - auth_time <= m));
    let silent = prompt == "none";
    match session {
        Some((user, _)) if silent && hinted.as_ref().is_some_and(|sub| *sub != user.id) => fail(
            "login_required",
            "the signed-in user is not the one id_token_hint names",
        ),
        Some((user, auth_time)) if !force_login => {
            complete(&server, &client, &user, &request, auth_time, Vec::new()).await
        }
        _ if silent => fail(
            "login_required",
            "no current sign-in (none, too old for max_age, or prompt=login); sign in first",
        ),
        _ => login_form(&server, &client, &request, None).await,
    }
}

async fn refused(server: &AuthorizationServer, client: &Client, reason: &str) {
    let entry = server
        .entry(event_type::TOKEN_REFUSED, "authorize", Outcome::Failure)
        .actor(
            &client.client_id,
            PrincipalKind::Service,
            Some(&client.client_id),
        )
        .reason(reason)
        .tenant(&client.tenant_id);
    server.audit(entry).await;
}

/// The signed-in user of this browser in the client's tenant, if any.
async fn session(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    client: &Client,
) -> Result<Option<(User, i64)>, OAuthError> {
    let Some(id) = cookie(server, headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let Some(row) = server.inner.store.session(&digest(&id)).await? else {
        return Ok(None);
    };
    if row.expires_at < server.now() || row.tenant_id != client.tenant_id {
        return Ok(None);
    }
    let user = server.identities().user(&row.user_id).await?;
    Ok(user.map(|u| (u, row.auth_time)))
}

async fn login_form(
    server: &AuthorizationServer,
    client: &Client,
    request: &Request,
    error: Option<&str>,
) -> Response {
    let id = random_token(24);
    let csrf = random_token(32);
    let stored = server
        .inner
        .store
        .insert_login_request(
            &id,
            &LoginRequestRow {
                csrf_hash: digest(&csrf),
                request: serde_json::to_string(request).expect("a request serializes"),
                expires_at: server.now() + server.config().login_ttl,
            },
        )
        .await;
    if let Err(e) = stored {
        return OAuthError::from(e).into_response();
    }
    let error_html = error.map_or_else(String::new, |e| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e))
    });
    let body = format!(
        "<p>to continue to <strong>{client}</strong></p>{error_html}<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"request_id\" value=\"{id}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><label for=\"username\">User name</label><input id=\"username\" name=\"username\" autocomplete=\"username\" required><label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required><button type=\"submit\">Sign in</button></form>",
        client = escape(&client.name),
        action = escape(&server.config().endpoint("/authorize/login")),
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    page(status, "Sign in", &body, Some(csrf_cookie(server, &csrf)))
}

#[derive(serde::Deserialize)]
pub(crate) struct LoginForm {
    request_id: String,
    csrf: String,
    username: String,
    password: String,
}

pub(crate) async fn login(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = server.now();
    let row = match server.inner.store.login_request(&form.request_id).await {
        Ok(r) => r,
        Err(e) => return OAuthError::from(e).into_response(),
    };
    let expired = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "this sign-in form has expired; start again from the application",
        )
    };
    let Some(LoginRequestRow {
        csrf_hash,
        request,
        expires_at,
    }) = row
    else {
        return expired();
    };
    if expires_at < now {
        return expired();
    }
    // Double submit: the form's token must be the one this browser's cookie holds, and the one issued with the form.
    let cookie_csrf = cookie(&server, &headers, CSRF_COOKIE);
    let csrf_ok = cookie_csrf.as_deref() == Some(form.csrf.as_str())
        && aws_lc_rs::constant_time::verify_slices_are_equal(
            digest(&form.csrf).as_bytes(),
            csrf_hash.as_bytes(),
        )
        .is_ok();
    if !csrf_ok {
        return error_page(
            StatusCode::FORBIDDEN,
            "the sign-in form failed its CSRF check; start again from the application",
        );
    }
    let Ok(request) = serde_json::from_str::<Request>(&request) else {
        return expired();
    };
    let client = match server.identities().client(&request.client_id).await {
        Ok(Some(c)) if !c.disabled => c,
        Ok(_) => return error_page(StatusCode::BAD_REQUEST, "the client is no longer available"),
        Err(e) => return OAuthError::from(e).into_response(),
    };
    // Spent once submitted with a valid CSRF token, whatever the outcome: a failed attempt gets
    // a new form, so a captured one cannot be replayed (a failure to delete leaves it to expire).
    let store = &server.inner.store;
    let _ = store.delete_login_request(&form.request_id).await;
    if form.username.len() > MAX_USERNAME || form.password.len() > MAX_PASSWORD {
        // Never verified and never a rate-limit key: a huge name must not cost memory.
        return login_form(&server, &client, &request, Some(WRONG_CREDENTIALS)).await;
    }
    // Each attempt is counted before the password is checked, atomically in the store (so
    // parallel attempts cannot all slip under the limit, and replicas share the count): per user
    // name, and per source address when the server is told the peer's address. A success takes
    // its attempt back, so only failures stay counted.
    let limit_key = format!("login:{}:{}", client.tenant_id, form.username);
    let address_key = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|peer| format!("address:{}", peer.0.ip()));
    let limit = i64::from(server.config().failure_limit);
    let mut allowed = store.reserve_attempt(&limit_key, now, 60, limit).await;
    if let (Ok(true), Some(key)) = (&allowed, &address_key) {
        allowed = store
            .reserve_attempt(key, now, 60, limit * ADDRESS_LIMIT_FACTOR)
            .await;
    }
    match allowed {
        Ok(true) => {}
        Ok(false) => {
            return page(
                StatusCode::TOO_MANY_REQUESTS,
                "Sign in",
                "<p class=\"error\">Too many attempts. Try again in a minute.</p>",
                None,
            );
        }
        Err(e) => return OAuthError::from(e).into_response(),
    }
    let user = match server
        .identities()
        .verify_user(&client.tenant_id, &form.username, &form.password)
        .await
    {
        Ok(u) => u,
        Err(e) => return OAuthError::from(e).into_response(),
    };
    let Some(user) = user else {
        let entry = server
            .entry(event_type::LOGIN, "login", Outcome::Failure)
            .reason("unknown user or wrong password")
            .tenant(&client.tenant_id);
        server.audit(entry).await;
        return login_form(&server, &client, &request, Some(WRONG_CREDENTIALS)).await;
    };
    let _ = store.release_attempt(&limit_key).await;
    if let Some(key) = &address_key {
        let _ = store.release_attempt(key).await;
    }
    // A new sign-in ends any session this browser had: a session id is never reused across logins.
    if let Some(previous) = cookie(&server, &headers, SESSION_COOKIE) {
        let _ = store.delete_session(&digest(&previous)).await;
    }
    let session = random_token(32);
    let row = SessionRow {
        tenant_id: user.tenant_id.clone(),
        user_id: user.id.clone(),
        auth_time: now,
        expires_at: now + server.config().session_ttl,
    };
    if let Err(e) = store.insert_session(&digest(&session), &row).await {
        return OAuthError::from(e).into_response();
    }
    let entry = server
        .entry(event_type::LOGIN, "login", Outcome::Success)
        .actor(&user.id, PrincipalKind::User, Some(&client.client_id))
        .tenant(&client.tenant_id);
    server.audit(entry).await;
    let cookies = vec![
        set_cookie(
            &server,
            SESSION_COOKIE,
            &session,
            "/",
            server.config().session_ttl,
            cookie::SameSite::Lax,
        ),
        set_cookie(&server, CSRF_COOKIE, "", "/", 0, cookie::SameSite::Strict),
    ];
    complete(&server, &client, &user, &request, now, cookies).await
}

/// Issues the code and sends the browser back to the client.
async fn complete(
    server: &AuthorizationServer,
    client: &Client,
    user: &User,
    request: &Request,
    auth_time: i64,
    cookies: Vec<String>,
) -> Response {
    let code = new_code(
        server,
        &CodeRequest {
            client,
            user,
            scopes: &request.scopes,
            redirect_uri: &request.redirect_uri,
            nonce: request.nonce.as_deref(),
            code_challenge: &request.code_challenge,
            auth_time,
        },
    )
    .await;
    match code {
        Ok(code) => redirect(
            server,
            &request.redirect_uri,
            request.state.as_deref(),
            &[("code", &code)],
            &cookies,
        ),
        Err(e) => e.into_response(),
    }
}
