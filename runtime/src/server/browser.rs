//! What the server shows a browser: its own HTML pages (escaped, never cached, never framed, no scripts) and its cookies (`__Host-` prefixed, Secure and HttpOnly outside development).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AuthorizationServer;

pub(crate) const SESSION_COOKIE: &str = "palisade_session";
pub(crate) const CSRF_COOKIE: &str = "palisade_csrf";

/// An error shown on the server's own page: the redirect URI is not trusted, so nothing redirects.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Sign-in failed",
        &format!("<p>{}</p>", escape(message)),
        None,
    )
}

pub(crate) fn page(
    status: StatusCode,
    title: &str,
    body: &str,
    cookie: Option<String>,
) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title><style>body{{font-family:sans-serif;max-width:24rem;margin:4rem auto}}label,input,button{{display:block;width:100%;margin:.4rem 0}}.error{{color:#a00}}</style></head><body><h1>{title}</h1>{body}</body></html>"
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.append(header::SET_COOKIE, cookie);
    }
    response
}

pub(crate) fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

/// The cookie's name: `__Host-` prefixed (Secure, Path=/, no Domain: browsers then refuse it from
/// any other origin or over plain HTTP) unless plain HTTP is allowed for development.
pub(crate) fn cookie_name(server: &AuthorizationServer, base: &str) -> String {
    if server.config().allow_insecure_http {
        base.to_owned()
    } else {
        format!("__Host-{base}")
    }
}

pub(crate) fn cookie(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    base: &str,
) -> Option<String> {
    let name = cookie_name(server, base);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

pub(crate) fn set_cookie(
    server: &AuthorizationServer,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    same_site: cookie::SameSite,
) -> String {
    cookie::Cookie::build((cookie_name(server, name), value.to_owned()))
        .path(path.to_owned())
        .http_only(true)
        .secure(!server.config().allow_insecure_http)
        .same_site(same_site)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
        .to_string()
}

/// A `303 See Other` to `location` that is never cached, setting `cookies`.
pub(crate) fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The CSRF cookie of a form (double submit): strict same-site, living as long as a login form.
pub(crate) fn csrf_cookie(server: &AuthorizationServer, value: &str) -> String {
    set_cookie(
        server,
        CSRF_COOKIE,
        value,
        "/",
        server.config().login_ttl,
        cookie::SameSite::Strict,
    )
}
