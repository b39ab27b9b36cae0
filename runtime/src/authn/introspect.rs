//! RFC 7662 token introspection for opaque API tokens, with a short cache of answers.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use serde_json::{Map, Value};

use super::AuthnError;
use super::config::{AuthnConfig, IntrospectionConfig};
use super::jws::{numeric_date, principal_from_claims, string_claim, tenant_claim};
use crate::principal::{Principal, PrincipalKind, TenantId};

/// Introspects opaque tokens at the issuer. Answers are cached by a hash of the token, active ones
/// never past their `exp`, so a revoked token is refused within `cache_ttl`.
pub(crate) struct Introspector {
    config: IntrospectionConfig,
    http: reqwest::Client,
    cache: Cache<[u8; 32], Option<Arc<(Principal, i64)>>>,
}

impl Introspector {
    pub(crate) fn new(config: IntrospectionConfig, http: reqwest::Client, capacity: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(capacity)
            .time_to_live(config.cache_ttl.max(Duration::from_millis(1)))
            .build();
        Self {
            config,
            http,
            cache,
        }
    }

    pub(crate) async fn introspect(
        &self,
        token: &str,
        hash: [u8; 32],
        authn: &AuthnConfig,
        now: i64,
    ) -> Result<Principal, AuthnError> {
        if let Some(cached) = self.cache.get(&hash) {
            return match cached {
                Some(entry) if entry.1 >= now => Ok(entry.0.clone()),
                _ => Err(AuthnError::Inactive),
            };
        }
        let response = self
            .http
            .post(self.config.endpoint.clone())
            .basic_auth(
                &self.config.client_id,
                Some(self.config.client_secret.expose()),
            )
            .header(http::header::ACCEPT, "application/json")
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|e| AuthnError::IntrospectionUnavailable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(AuthnError::IntrospectionUnavailable(format!(
                "status {}",
                response.status()
            )));
        }
        let body: Map<String, Value> = response
            .json()
            .await
            .map_err(|e| AuthnError::IntrospectionUnavailable(e.without_url().to_string()))?;
        let answer = principal_from_answer(&body, authn, now);
        self.cache
            .insert(hash, answer.as_ref().ok().map(|p| Arc::new(p.clone())));
        answer.map(|(p, _)| p)
    }
}

fn principal_from_answer(
    body: &Map<String, Value>,
    authn: &AuthnConfig,
    now: i64,
) -> Result<(Principal, i64), AuthnError> {
    if body.get("active") != Some(&Value::Bool(true)) {
        return Err(AuthnError::Inactive);
    }
    // A refresh token (or anything else that is not an access credential) is never a bearer token.
    if string_claim(body, "token_type")?.is_some_and(|t| {
        !matches!(
            t.to_ascii_lowercase().as_str(),
            "bearer" | "access_token" | "api_token"
        )
    }) {
        return Err(AuthnError::Inactive);
    }
    if string_claim(body, "iss")?.is_some_and(|iss| iss != authn.issuer) {
        return Err(AuthnError::WrongIssuer);
    }
    // The answer must name this service as an audience: a token without one, or for another
    // service, is not for us even when the issuer says it is active.
    let aud = body.get("aud").ok_or(AuthnError::MissingClaim("aud"))?;
    let listed = |a: &Value| {
        a.as_str()
            .is_some_and(|a| authn.audiences.iter().any(|x| x == a))
    };
    let ok = match aud {
        Value::String(_) => listed(aud),
        Value::Array(items) => items.iter().any(listed),
        _ => false,
    };
    if !ok {
        return Err(AuthnError::WrongAudience);
    }
    let exp = numeric_date(body, "exp")?.ok_or(AuthnError::MissingClaim("exp"))?;
    if exp < now {
        return Err(AuthnError::Expired);
    }
    let sub = string_claim(body, "sub")?.ok_or(AuthnError::MissingClaim("sub"))?;
    let tenant = tenant_claim(body, &authn.tenant_claim)?;
    let tenant = TenantId::new(tenant).map_err(|_| AuthnError::InvalidClaim("tenant"))?;
    let mut principal = principal_from_claims(body, tenant, sub)?;
    if string_claim(body, "kind")?.is_none() {
        principal.kind = PrincipalKind::ApiToken;
    }
    Ok((principal, exp))
}
