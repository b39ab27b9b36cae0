//! Client authentication at the token, introspection and revocation endpoints: `client_secret_basic`, `client_secret_post`, `private_key_jwt`, and `none` for public clients; one answer for every failure, and 429 after repeated ones.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};

use super::identity::Client;
use super::{AuthorizationServer, OAuthError, digest};
use crate::audit::{Outcome, event_type};
use crate::authn::jws;

/// The assertion type of `private_key_jwt` (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Request parameters with no name given twice (RFC 6749 section 3.2); an empty value counts as absent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, OAuthError> {
        if pairs.len() > MAX_PARAMS {
            return Err(OAuthError::invalid_request(format!(
                "more than {MAX_PARAMS} parameters"
            )));
        }
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            if name.len() + value.len() > MAX_PARAM_BYTES {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is longer than {MAX_PARAM_BYTES} bytes",
                    name.chars().take(40).collect::<String>()
                )));
            }
            if map.insert(name.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name} is given more than once"
                )));
            }
        }
        Ok(Self(map))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter {name} is missing")))
    }
}

/// The most parameters a request to an OAuth endpoint may carry.
pub const MAX_PARAMS: usize = 64;
/// The longest parameter (name and value) accepted; a client assertion fits easily.
pub const MAX_PARAM_BYTES: usize = 8 * 1024;

/// Which clients may use the `none` method (public clients, only on the code flow's endpoints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Public {
    Allowed,
    Refused,
}

/// Authenticates the calling client, or answers `invalid_client` (401) the same way for an
/// unknown client, a wrong secret, a bad assertion and a disabled client. After repeated failures
/// for one client id, failures are answered 429; a correct credential is never refused, so nobody
/// can lock a client out by failing on purpose (and a 256-bit secret cannot be guessed anyway).
pub(crate) async fn authenticate(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    params: &Params,
    public: Public,
) -> Result<Client, OAuthError> {
    let presented = presented(headers, params)?;
    let client_id = presented.client_id().to_owned();
    if client_id.len() > MAX_CLIENT_ID {
        return Err(OAuthError::invalid_client());
    }
    let limit_key = format!("client:{client_id}");
    let client = server.identities().client(&client_id).await?;
    let verified = match (&presented, &client) {
        (Presented::Secret { secret, .. }, Some(c)) => {
            // The comparison runs on digests in constant time; an unknown client compares
            // against a fixed value, so both cost the same.
            let expected = c.secret_hash.clone().unwrap_or_else(|| digest(""));
            c.secret_hash.is_some() & constant_time_eq(&digest(secret), &expected)
        }
        (Presented::Secret { secret, .. }, None) => {
            let _ = constant_time_eq(&digest(secret), &digest(""));
            false
        }
        (Presented::Assertion { assertion, .. }, Some(c)) => {
            first_use(server, c, verify_assertion(server, c, assertion)).await?
        }
        (Presented::Assertion { .. }, None) => false,
        (Presented::None { .. }, Some(c)) => public == Public::Allowed && c.is_public(),
        (Presented::None { .. }, None) => false,
    };
    match client {
        Some(c) if verified && !c.disabled => Ok(c),
        _ if server.over_limit(&limit_key) => {
            refuse(server, &client_id, "too many failed client authentications").await;
            Err(OAuthError::too_many_attempts())
        }
        _ => {
            server.count_failure(&limit_key);
            refuse(server, &client_id, "client authentication failed").await;
            Err(OAuthError::invalid_client())
        }
    }
}

/// Longer client ids are refused before any lookup (they would only fill caches).
const MAX_CLIENT_ID: usize = 200;

async fn refuse(server: &AuthorizationServer, client_id: &str, reason: &str) {
    let entry = server
        .entry(
            event_type::TOKEN_REFUSED,
            "client.authenticate",
            Outcome::Failure,
        )
        .actor(
            client_id,
            crate::principal::PrincipalKind::Service,
            Some(client_id),
        )
        .reason(reason);
    server.audit(entry).await;
}

enum Presented {
    Secret {
        client_id: String,
        secret: String,
    },
    Assertion {
        client_id: String,
        assertion: String,
    },
    None {
        client_id: String,
    },
}

impl Presented {
    fn client_id(&self) -> &str {
        match self {
            Self::Secret { client_id, .. }
            | Self::Assertion { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }
}

/// What the request presents; more than one method is an error (RFC 6749 section 2.3).
fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(value) => Some(basic_credentials(value)?),
        None => None,
    };
    let post_secret = params.get("client_secret");
    let assertion = params.get("client_assertion");
    let methods = usize::from(basic.is_some())
        + usize::from(post_secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::invalid_request(
            "use exactly one client authentication method",
        ));
    }
    if let Some((client_id, secret)) = basic {
        if params.get("client_id").is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id differs from the Authorization header",
            ));
        }
        return Ok(Presented::Secret { client_id, secret });
    }
    if let Some(assertion) = assertion {
        if params.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        let client_id = match params.get("client_id") {
            Some(id) => id.to_owned(),
            None => assertion_subject(assertion)?,
        };
        return Ok(Presented::Assertion {
            client_id,
            assertion: assertion.to_owned(),
        });
    }
    let client_id = params
        .get("client_id")
        .ok_or_else(OAuthError::invalid_client)?
        .to_owned();
    Ok(match post_secret {
        Some(secret) => Presented::Secret {
            client_id,
            secret: secret.to_owned(),
        },
        None => Presented::None { client_id },
    })
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 section 2.3.1).
fn basic_credentials(value: &axum::http::HeaderValue) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client();
    let text = value.to_str().map_err(|_| bad())?;
    let encoded = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))
        .ok_or_else(bad)?;
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> Result<String, OAuthError> {
        let plus = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad())
    };
    Ok((unescape(id)?, unescape(secret)?))
}

fn assertion_subject(assertion: &str) -> Result<String, OAuthError> {
    let payload = assertion
        .split('.')
        .nth(1)
        .ok_or_else(OAuthError::invalid_client)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| OAuthError::invalid_client())?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| OAuthError::invalid_client())?;
    claims["sub"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(OAuthError::invalid_client)
}

/// A `private_key_jwt` assertion: signed by a key of the client's JWKS, `iss` = `sub` = client id,
/// `aud` exactly the issuer identifier as a single string (draft-ietf-oauth-rfc7523bis: no token
/// endpoint URL, no array that could make an assertion meant for another server work here),
/// `typ` absent, `JWT` or `client-authentication+jwt` (not required, so existing clients keep
/// working; any other type, such as an access token's, is refused), unexpired. Returns its `jti`
/// and `exp`.
fn verify_assertion(
    server: &AuthorizationServer,
    client: &Client,
    assertion: &str,
) -> Option<(String, i64)> {
    let jwks: JwkSet = client
        .jwks
        .clone()
        .and_then(|j| serde_json::from_value(j).ok())?;
    // The runtime's one JWS parser: structure, strict base64url, no duplicate header members, no
    // keys named by the token, no critical extensions, a safe kid, the algorithm allow-list.
    let parsed = jws::parse_jws(assertion, &ASSERTION_ALGORITHMS).ok()?;
    if !matches!(
        parsed
            .header
            .typ
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        None | Some("jwt" | "client-authentication+jwt")
    ) {
        return None;
    }
    let jwk = match &parsed.header.kid {
        Some(kid) => jwks.find(kid)?,
        None if jwks.keys.len() == 1 => &jwks.keys[0],
        None => return None,
    };
    // A key registered for one algorithm is never used with another.
    if jwk
        .common
        .key_algorithm
        .is_some_and(|alg| alg.to_string() != format!("{:?}", parsed.header.alg))
    {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    let claims = jws::claims_object(&parsed.verify(&key).ok()?).ok()?;
    let text = |name: &str| claims.get(name).and_then(serde_json::Value::as_str);
    let client_id = Some(client.client_id.as_str());
    // `aud` exactly the issuer, as a string; expiry against the server's clock, by the caller.
    if text("iss") != client_id
        || text("sub") != client_id
        || text("aud") != Some(server.config().issuer.as_str())
    {
        return None;
    }
    let exp = claims.get("exp").and_then(serde_json::Value::as_i64)?;
    Some((text("jti")?.to_owned(), exp))
}

/// The assertion's `jti` is recorded in the store until the assertion expires, so it works once
/// on every replica; an assertion valid for more than five minutes is refused outright.
async fn first_use(
    server: &AuthorizationServer,
    client: &Client,
    checked: Option<(String, i64)>,
) -> Result<bool, OAuthError> {
    let Some((jti, exp)) = checked else {
        return Ok(false);
    };
    let now = server.now();
    if exp <= now || exp > now + MAX_ASSERTION_LIFETIME {
        return Ok(false);
    }
    Ok(server
        .inner
        .store
        .record_assertion_id(&format!("{}:{jti}", client.client_id), exp)
        .await?)
}

/// The algorithms a client assertion may be signed with.
const ASSERTION_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// The longest an assertion may be valid.
const MAX_ASSERTION_LIFETIME: i64 = 300;

fn constant_time_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}
