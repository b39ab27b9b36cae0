//! Token validation: the `Authenticator` (JWT via JWKS, opaque tokens via introspection, a verified-token cache) and its tower layer.

mod config;
mod failures;
mod introspect;
pub(crate) mod jws;
mod keys;
mod layer;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

pub use config::{
    AuthnConfig, ConfigError, DEFAULT_MAX_TOKEN_LEN, IntrospectionConfig, KeySource, MAX_LEEWAY,
    TokenType,
};
pub use failures::FailureAuditPolicy;
pub use jsonwebtoken::Algorithm;
pub use jsonwebtoken::jwk::JwkSet;
pub use layer::{Authn, AuthnCheck, AuthnLayer};

use crate::principal::Principal;

/// Why a credential was refused. Only the audit log sees this; the caller gets a bare 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthnError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// The token is longer than the configured limit.
    #[error("token too long")]
    TooLong,
    /// The token is not a well-formed compact JWS (or opaque token).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names a key by URL or embeds one, or marks an extension critical.
    #[error("forbidden header parameter")]
    ForbiddenHeader,
    /// The `alg` is not on the allow-list.
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// No trusted key has the token's `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The key named by `kid` is not of the type the `alg` needs.
    #[error("key does not match algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The `typ` header is not the required token type.
    #[error("wrong token type")]
    WrongType,
    /// The `iss` claim is not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// No accepted audience is named.
    #[error("wrong audience")]
    WrongAudience,
    /// The token has expired (beyond the leeway).
    #[error("expired")]
    Expired,
    /// `nbf` is in the future.
    #[error("not yet valid")]
    NotYetValid,
    /// `iat` is in the future.
    #[error("issued in the future")]
    IssuedInFuture,
    /// A required claim is missing.
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    /// A claim has the wrong type or value.
    #[error("invalid claim {0}")]
    InvalidClaim(&'static str),
    /// Introspection says the token is not active.
    #[error("token is not active")]
    Inactive,
    /// An opaque token arrived and no introspection endpoint is configured.
    #[error("opaque tokens are not accepted")]
    OpaqueNotAccepted,
    /// The key set could not be fetched.
    #[error("keys unavailable: {0}")]
    KeysUnavailable(String),
    /// The introspection endpoint could not be reached.
    #[error("introspection unavailable: {0}")]
    IntrospectionUnavailable(String),
}

impl AuthnError {
    /// A short, stable name for the kind of refusal (a metric label; never holds token data).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::TooLong => "too_long",
            Self::Malformed(_) => "malformed",
            Self::ForbiddenHeader => "forbidden_header",
            Self::AlgorithmNotAllowed => "algorithm",
            Self::UnknownKey => "unknown_key",
            Self::KeyMismatch => "key_mismatch",
            Self::BadSignature => "signature",
            Self::WrongType => "type",
            Self::WrongIssuer => "issuer",
            Self::WrongAudience => "audience",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::Inactive => "inactive",
            Self::OpaqueNotAccepted => "opaque",
            Self::KeysUnavailable(_) => "keys_unavailable",
            Self::IntrospectionUnavailable(_) => "introspection_unavailable",
        }
    }

    /// Whether the failure is the issuer's, not the caller's (answered 503, not 401).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::KeysUnavailable(_) | Self::IntrospectionUnavailable(_)
        )
    }
}

/// A verified principal and its expiry (seconds since the epoch), as cached.
#[derive(Clone)]
struct CachedToken {
    principal: Arc<Principal>,
    exp: i64,
}

struct UntilExp {
    leeway: i64,
}

impl Expiry<[u8; 32], CachedToken> for UntilExp {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &CachedToken,
        _now: std::time::Instant,
    ) -> Option<Duration> {
        let left = value
            .exp
            .saturating_add(self.leeway)
            .saturating_sub(now_secs());
        Some(Duration::from_secs(left.max(0) as u64))
    }
}

/// Validates bearer tokens. Cheap to clone through `Arc`; build once at start-up.
pub struct Authenticator {
    config: AuthnConfig,
    keys: keys::KeyStore,
    introspector: Option<introspect::Introspector>,
    verified: Cache<[u8; 32], CachedToken>,
}

impl Authenticator {
    /// Checks the configuration and builds the validator. Keys are fetched on first use, or by [`refresh_keys`](Self::refresh_keys).
    pub fn new(config: AuthnConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        let keys = keys::KeyStore::new(&config, http.clone());
        let introspector = config
            .introspection
            .clone()
            .map(|i| introspect::Introspector::new(i, http, config.cache_capacity));
        let verified = Cache::builder()
            .max_capacity(config.cache_capacity)
            .expire_after(UntilExp {
                leeway: config.leeway.as_secs() as i64,
            })
            .build();
        Ok(Self {
            config,
            keys,
            introspector,
            verified,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &AuthnConfig {
        &self.config
    }

    /// Fetches the issuer's keys now; returns how many usable keys it has. For start-up and readiness checks.
    pub async fn refresh_keys(&self) -> Result<usize, AuthnError> {
        self.keys.refresh().await
    }

    /// How many usable keys are trusted, loading them if none are yet; never refetches a loaded
    /// set. For readiness probes, which anyone may call.
    pub async fn ensure_keys(&self) -> Result<usize, AuthnError> {
        self.keys.ensure().await
    }

    /// Validates a bearer token (the part after `Bearer `) and returns its principal.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthnError> {
        if token.len() > self.config.max_token_len {
            return Err(AuthnError::TooLong);
        }
        if token.is_empty() || !token.bytes().all(is_token68) {
            return Err(AuthnError::Malformed("not a token68 string"));
        }
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = now_secs();
        let leeway = self.config.leeway.as_secs() as i64;
        if let Some(hit) = self.verified.get(&hash)
            && now <= hit.exp.saturating_add(leeway)
        {
            return Ok((*hit.principal).clone());
        }
        if token.bytes().filter(|b| *b == b'.').count() != 2 {
            return match &self.introspector {
                Some(i) => i.introspect(token, hash, &self.config, now).await,
                None => Err(AuthnError::OpaqueNotAccepted),
            };
        }
        let jws = jws::verify_jws(token, &self.config.algorithms, &self.keys).await?;
        let (principal, exp) = jws::validate_claims(&jws, &self.config, now)?;
        self.verified.insert(
            hash,
            CachedToken {
                principal: Arc::new(principal.clone()),
                exp,
            },
        );
        Ok(principal)
    }

    /// Verifies only the signature layer of a compact JWS (structure, header rules, key, signature)
    /// and returns its payload. For conformance tests and for tokens that are not access tokens.
    pub async fn verify_signature(&self, token: &str) -> Result<Vec<u8>, AuthnError> {
        if token.len() > self.config.max_token_len {
            return Err(AuthnError::TooLong);
        }
        jws::verify_jws(token, &self.config.algorithms, &self.keys)
            .await
            .map(|v| v.payload)
    }
}

/// RFC 6750 `b64token` characters (plus `.` for JWS).
fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The token of an `Authorization: Bearer <token>` header: the one bearer parser of the runtime
/// (the authentication layer and the authorization server's own endpoints). The scheme is
/// case-insensitive (RFC 9110); more than one `Authorization` header is refused.
pub(crate) fn bearer_token(headers: &http::HeaderMap) -> Result<&str, AuthnError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(if headers.contains_key(http::header::AUTHORIZATION) {
            AuthnError::Malformed("more than one authorization header")
        } else {
            AuthnError::Missing
        });
    };
    let value = value
        .to_str()
        .map_err(|_| AuthnError::Malformed("authorization header is not ASCII"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(AuthnError::Malformed("authorization header has no scheme"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthnError::Missing);
    }
    Ok(token)
}
