//! `/end_session`: RP-initiated logout. A request carrying an ID token of the signed-in user, issued during this session, signs out at once; any other request that would end a session gets a confirmation form (POST with a CSRF token), so a link or an image on another site cannot sign anyone out.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::browser::{
    CSRF_COOKIE, SESSION_COOKIE, cookie, csrf_cookie, error_page, escape, page, see_other,
    set_cookie,
};
use super::client_auth::Params;
use super::endpoints::verify;
use super::identity::Client;
use super::{AuthorizationServer, digest, random_token};
use crate::audit::{Outcome, event_type};

/// `GET /end_session`.
pub(crate) async fn end_session(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let params = match Params::from_pairs(pairs) {
        Ok(p) => p,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.description),
    };
    let session = match cookie(&server, &headers, SESSION_COOKIE) {
        Some(id) => server
            .inner
            .store
            .session(&digest(&id))
            .await
            .ok()
            .flatten(),
        None => None,
    };
    // The hint names the client (its `aud`) and the user; only a hint for this session's user,
    // issued during this session, proves the request comes from the application they use.
    let hint = match params.get("id_token_hint") {
        Some(hint) => verify(&server, hint, "jwt", true).await,
        None => None,
    };
    let client = match hint
        .as_ref()
        .and_then(|claims| claims.get("aud"))
        .and_then(Value::as_str)
    {
        Some(aud) => server.identities().client(aud).await.ok().flatten(),
        None => None,
    };
    let target = params.get("post_logout_redirect_uri");
    let state = params.get("state");
    let Some(session) = session else {
        // Nothing to end: nobody can be signed out against their will.
        return signed_out(&server, client.as_ref(), target, state, None).await;
    };
    let hint_for_session = hint.as_ref().is_some_and(|claims| {
        claims.get("sub").and_then(Value::as_str) == Some(session.user_id.as_str())
            && claims
                .get("iat")
                .and_then(Value::as_i64)
                .is_some_and(|iat| iat >= session.auth_time)
    });
    if hint_for_session {
        return signed_out(&server, client.as_ref(), target, state, Some(&headers)).await;
    }
    confirmation(&server, client.as_ref(), target, state)
}

/// The confirmation form's fields.
#[derive(serde::Deserialize)]
pub(crate) struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    post_logout_redirect_uri: String,
    #[serde(default)]
    state: String,
}

/// `POST /end_session`: the confirmation, checked by double submit (the form's token must be the
/// one this browser's cookie holds).
pub(crate) async fn confirm(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let cookie_csrf = cookie(&server, &headers, CSRF_COOKIE);
    let csrf_ok = !form.csrf.is_empty()
        && cookie_csrf.is_some_and(|c| {
            aws_lc_rs::constant_time::verify_slices_are_equal(c.as_bytes(), form.csrf.as_bytes())
                .is_ok()
        });
    if !csrf_ok {
        return error_page(
            StatusCode::FORBIDDEN,
            "the sign-out form failed its CSRF check; you are still signed in",
        );
    }
    let client = match form.client_id.as_str() {
        "" => None,
        id => server.identities().client(id).await.ok().flatten(),
    };
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let target = nonempty(&form.post_logout_redirect_uri);
    let state = nonempty(&form.state);
    signed_out(
        &server,
        client.as_ref(),
        target.as_deref(),
        state.as_deref(),
        Some(&headers),
    )
    .await
}

/// The page asking whether to sign out. It carries the redirect forward only when it is
/// registered for the client the hint named.
fn confirmation(
    server: &AuthorizationServer,
    client: Option<&Client>,
    target: Option<&str>,
    state: Option<&str>,
) -> Response {
    let csrf = random_token(32);
    let registered = registered(client, target);
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        )
    };
    let mut fields = hidden("csrf", &csrf);
    if let (Some(client), Some(target)) = (client, registered) {
        fields.push_str(&hidden("client_id", &client.client_id));
        fields.push_str(&hidden("post_logout_redirect_uri", target));
        fields.push_str(&hidden("state", state.unwrap_or_default()));
    }
    let body = format!(
        "<p>Sign out of this server?</p><form method=\"post\" action=\"{}\">{fields}<button type=\"submit\">Sign out</button></form>",
        escape(&server.config().endpoint("/end_session"))
    );
    page(
        StatusCode::OK,
        "Sign out",
        &body,
        Some(csrf_cookie(server, &csrf)),
    )
}

fn registered<'a>(client: Option<&Client>, target: Option<&'a str>) -> Option<&'a str> {
    let (client, target) = (client?, target?);
    client
        .post_logout_redirect_uris
        .iter()
        .any(|u| u == target)
        .then_some(target)
}

/// Ends the session the browser's cookie names (when `headers` are given), clears the cookie,
/// and sends the browser to the client's registered post-logout URI or shows a page. Never cached.
async fn signed_out(
    server: &AuthorizationServer,
    client: Option<&Client>,
    target: Option<&str>,
    state: Option<&str>,
    headers: Option<&HeaderMap>,
) -> Response {
    if let Some(id) = headers.and_then(|h| cookie(server, h, SESSION_COOKIE)) {
        let _ = server.inner.store.delete_session(&digest(&id)).await;
        server
            .audit(server.entry(event_type::LOGIN, "logout", Outcome::Success))
            .await;
    }
    let clear = set_cookie(server, SESSION_COOKIE, "", "/", 0, cookie::SameSite::Lax);
    if let Some(target) = registered(client, target) {
        let Ok(mut url) = url::Url::parse(target) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "post_logout_redirect_uri is not a URL",
            );
        };
        if let Some(state) = state {
            url.query_pairs_mut().append_pair("state", state);
        }
        return see_other(url.as_str(), &[clear]);
    }
    page(
        StatusCode::OK,
        "Signed out",
        "<p>You are signed out.</p>",
        Some(clear),
    )
}
