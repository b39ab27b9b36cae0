//! `/end_session`: RP-initiated logout. The browser session ends, and the browser goes back to a registered post-logout URI when the request names one.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::browser::{SESSION_COOKIE, cookie, error_page, page, set_cookie};
use super::client_auth::Params;
use super::identity::Client;
use super::{AuthorizationServer, digest};
use crate::audit::{Outcome, event_type};

/// Ends the browser session: the cookie is cleared and the session row deleted; with a valid
/// `id_token_hint` and a registered `post_logout_redirect_uri`, the browser goes back there.
pub(crate) async fn end_session(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    params: &Params,
    client: Option<Client>,
) -> Response {
    if let Some(id) = cookie(server, headers, SESSION_COOKIE) {
        let _ = server.inner.store.delete_session(&digest(&id)).await;
        server
            .audit(server.entry(event_type::LOGIN, "logout", Outcome::Success))
            .await;
    }
    let clear = set_cookie(server, SESSION_COOKIE, "", "/", 0, cookie::SameSite::Lax);
    if let (Some(client), Some(target)) = (client, params.get("post_logout_redirect_uri"))
        && client.post_logout_redirect_uris.iter().any(|u| u == target)
    {
        let Ok(mut url) = url::Url::parse(target) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "post_logout_redirect_uri is not a URL",
            );
        };
        if let Some(state) = params.get("state") {
            url.query_pairs_mut().append_pair("state", state);
        }
        let mut response =
            (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response();
        if let Ok(v) = HeaderValue::from_str(&clear) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        return response;
    }
    page(
        StatusCode::OK,
        "Signed out",
        "<p>You are signed out.</p>",
        Some(clear),
    )
}
