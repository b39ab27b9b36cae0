//! Compact JWS and JWT claim validation: every structural, header and claim check before and after the signature.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::AuthnError;
use super::config::{AuthnConfig, TokenType};
use super::keys::KeyStore;
use crate::principal::{Principal, PrincipalKind, TenantId};

/// A verified signature: the header and the raw payload bytes.
pub(crate) struct VerifiedJws {
    pub(crate) header: Header,
    pub(crate) payload: Vec<u8>,
}

/// A compact JWS whose structure and header passed every check; its signature is not verified yet.
pub(crate) struct ParsedJws<'a> {
    pub(crate) header: Header,
    payload: Vec<u8>,
    signing_input: &'a [u8],
    signature: &'a str,
}

/// Checks structure and header, finds the key and verifies the signature; the payload is
/// returned unparsed, so this layer also serves JWS that are not JWTs (the Wycheproof vectors).
pub(crate) async fn verify_jws(
    token: &str,
    algorithms: &[Algorithm],
    keys: &KeyStore,
) -> Result<VerifiedJws, AuthnError> {
    let parsed = parse_jws(token, algorithms)?;
    let key = keys
        .find(parsed.header.kid.as_deref(), parsed.header.alg)
        .await?;
    parsed.verify(&key.key)
}

/// The structural and header checks every token of every issuer passes, the authorization
/// server's own included: three base64url segments (strict: no padding, no foreign
/// characters), a header that is a JSON object without duplicate members, no key named by the
/// token, no critical extension, a safe `kid`, an allowed algorithm.
pub(crate) fn parse_jws<'a>(
    token: &'a str,
    algorithms: &[Algorithm],
) -> Result<ParsedJws<'a>, AuthnError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthnError::Malformed("not three segments"));
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| AuthnError::Malformed("header is not base64url"))?;
    let header = unique_object(&header_bytes)
        .map_err(|_| AuthnError::Malformed("header is not a JSON object without duplicates"))?;
    let header: Header = serde_json::from_value(Value::Object(header))
        .map_err(|_| AuthnError::Malformed("header does not parse"))?;
    check_header(&header)?;
    if !algorithms.contains(&header.alg) {
        return Err(AuthnError::AlgorithmNotAllowed);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| AuthnError::Malformed("payload is not base64url"))?;
    Ok(ParsedJws {
        header,
        payload,
        signing_input: &token.as_bytes()[..h.len() + 1 + p.len()],
        signature: s,
    })
}

impl ParsedJws<'_> {
    /// Verifies the signature with `key` (which the caller chose by `kid` and pinned to `alg`).
    pub(crate) fn verify(self, key: &DecodingKey) -> Result<VerifiedJws, AuthnError> {
        let valid =
            jsonwebtoken::crypto::verify(self.signature, self.signing_input, key, self.header.alg)
                .map_err(|_| AuthnError::BadSignature)?;
        if !valid {
            return Err(AuthnError::BadSignature);
        }
        Ok(VerifiedJws {
            header: self.header,
            payload: self.payload,
        })
    }
}

/// The claims of a verified JWT: a JSON object without duplicate members.
#[cfg(feature = "server")]
pub(crate) fn claims_object(jws: &VerifiedJws) -> Result<Map<String, Value>, AuthnError> {
    unique_object(&jws.payload)
        .map_err(|_| AuthnError::Malformed("claims are not a JSON object without duplicates"))
}

fn check_header(header: &Header) -> Result<(), AuthnError> {
    // Keys named by the token itself are attacker-chosen: never followed, and refused outright.
    if header.jku.is_some() || header.x5u.is_some() || header.jwk.is_some() || header.x5c.is_some()
    {
        return Err(AuthnError::ForbiddenHeader);
    }
    // No JWS extension is understood here, so any critical one must be refused (RFC 7515 section 4.1.11).
    if header.crit.is_some() || header.extras.inner().contains_key("b64") {
        return Err(AuthnError::ForbiddenHeader);
    }
    if let Some(kid) = &header.kid {
        // A kid is only ever a map key here, but it reaches logs and, in other systems, file
        // paths and queries: printable ASCII without quotes, backslashes or `..` is all issuers use.
        let safe = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '\\' | '`');
        if kid.is_empty() || kid.len() > 256 || !kid.chars().all(safe) || kid.contains("..") {
            return Err(AuthnError::Malformed("kid has unsafe characters"));
        }
    }
    Ok(())
}

/// Validates the claims of a verified JWT against the configuration and builds the principal.
pub(crate) fn validate_claims(
    jws: &VerifiedJws,
    config: &AuthnConfig,
    now: i64,
) -> Result<(Principal, i64), AuthnError> {
    check_typ(jws.header.typ.as_deref(), &config.token_type)?;
    let claims = unique_object(&jws.payload)
        .map_err(|_| AuthnError::Malformed("claims are not a JSON object without duplicates"))?;
    let leeway = config.leeway.as_secs() as i64;

    let iss = string_claim(&claims, "iss")?.ok_or(AuthnError::MissingClaim("iss"))?;
    if iss != config.issuer {
        return Err(AuthnError::WrongIssuer);
    }
    check_audience(claims.get("aud"), &config.audiences)?;
    let exp = numeric_date(&claims, "exp")?.ok_or(AuthnError::MissingClaim("exp"))?;
    if now > exp.saturating_add(leeway) {
        return Err(AuthnError::Expired);
    }
    if numeric_date(&claims, "nbf")?.is_some_and(|nbf| now + leeway < nbf) {
        return Err(AuthnError::NotYetValid);
    }
    if numeric_date(&claims, "iat")?.is_some_and(|iat| now + leeway < iat) {
        return Err(AuthnError::IssuedInFuture);
    }
    let sub = string_claim(&claims, "sub")?.ok_or(AuthnError::MissingClaim("sub"))?;
    if let Some(jti) = &config.jti_claim
        && tenant_claim(&claims, jti).is_err()
    {
        return Err(AuthnError::MissingClaim("jti"));
    }
    let tenant = tenant_claim(&claims, &config.tenant_claim)?;
    let tenant = TenantId::new(tenant).map_err(|_| AuthnError::InvalidClaim("tenant"))?;
    let principal = principal_from_claims(&claims, tenant, sub)?;
    Ok((principal, exp))
}

/// Builds a principal from validated claims (JWT or introspection answer).
pub(crate) fn principal_from_claims(
    claims: &Map<String, Value>,
    tenant: TenantId,
    sub: &str,
) -> Result<Principal, AuthnError> {
    let client_id = string_claim(claims, "client_id")?
        .or(string_claim(claims, "azp")?)
        .map(str::to_owned);
    let mut scopes = space_list(claims.get("scope"), "scope")?;
    scopes.extend(space_list(claims.get("scp"), "scp")?);
    let roles = match claims.get("roles") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(AuthnError::InvalidClaim("roles"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(AuthnError::InvalidClaim("roles")),
    };
    let kind = match string_claim(claims, "kind")? {
        Some(k) => PrincipalKind::parse(k).ok_or(AuthnError::InvalidClaim("kind"))?,
        // Entra ID marks app-only tokens with idtyp=app; RFC 9068 client-credentials tokens have sub = client_id.
        None if string_claim(claims, "idtyp")? == Some("app") => PrincipalKind::Service,
        None if client_id.as_deref() == Some(sub) => PrincipalKind::Service,
        None => PrincipalKind::User,
    };
    Ok(Principal {
        tenant,
        subject: sub.to_owned(),
        kind,
        roles,
        scopes,
        client_id,
    }
    .normalized())
}

fn check_typ(typ: Option<&str>, expected: &TokenType) -> Result<(), AuthnError> {
    let typ = typ.map(str::to_ascii_lowercase);
    let ok = match expected {
        TokenType::AccessTokenJwt => {
            matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt"))
        }
        TokenType::Jwt => matches!(
            typ.as_deref(),
            None | Some("jwt" | "at+jwt" | "application/at+jwt")
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(AuthnError::WrongType)
    }
}

fn check_audience(aud: Option<&Value>, accepted: &[String]) -> Result<(), AuthnError> {
    let matches = |v: &Value| v.as_str().is_some_and(|a| accepted.iter().any(|x| x == a));
    match aud {
        None => Err(AuthnError::MissingClaim("aud")),
        Some(Value::String(_)) if matches(aud.expect("checked")) => Ok(()),
        Some(Value::Array(items))
            if items.iter().all(Value::is_string) && items.iter().any(matches) =>
        {
            Ok(())
        }
        Some(Value::String(_) | Value::Array(_)) => Err(AuthnError::WrongAudience),
        Some(_) => Err(AuthnError::InvalidClaim("aud")),
    }
}

pub(crate) fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, AuthnError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AuthnError::InvalidClaim(name)),
    }
}

/// The tenant claim, whose name is configured.
pub(crate) fn tenant_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a str, AuthnError> {
    match claims.get(name) {
        None => Err(AuthnError::MissingClaim("tenant")),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AuthnError::InvalidClaim("tenant")),
    }
}

/// A NumericDate (RFC 7519): a JSON number of seconds; a string is refused, fractions are truncated.
pub(crate) fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, AuthnError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or(AuthnError::InvalidClaim(name)),
        Some(_) => Err(AuthnError::InvalidClaim(name)),
    }
}

fn space_list(value: Option<&Value>, name: &'static str) -> Result<Vec<String>, AuthnError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or(AuthnError::InvalidClaim(name))
            })
            .collect(),
        Some(_) => Err(AuthnError::InvalidClaim(name)),
    }
}

/// Parses a JSON object, failing when it repeats a member name at the top level. serde_json
/// keeps the last duplicate silently, and two parsers disagreeing on which one wins is a known
/// JWT attack.
fn unique_object(json: &[u8]) -> Result<Map<String, Value>, serde_json::Error> {
    struct UniqueObject(Map<String, Value>);
    impl<'de> Deserialize<'de> for UniqueObject {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(UniqueVisitor)
        }
    }
    struct UniqueVisitor;
    impl<'de> Visitor<'de> for UniqueVisitor {
        type Value = UniqueObject;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueObject, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                let value: Value = map.next_value()?;
                if object.insert(key, value).is_some() {
                    return Err(serde::de::Error::custom("duplicate member"));
                }
            }
            Ok(UniqueObject(object))
        }
    }
    serde_json::from_slice::<UniqueObject>(json).map(|o| o.0)
}
