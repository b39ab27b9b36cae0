//! `AuthnConfig`: what a service trusts (issuer, audiences, algorithms, token type, claim names, key source) and its limits.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use url::Url;

use crate::secrets::Secret;

/// The most leeway for clock skew that a configuration may ask for.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// The default limit on a bearer token's length; longer tokens are refused before any cryptography.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// Which JOSE `typ` header an access token must carry. In configuration: `"at+jwt"` or `"JWT"`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[non_exhaustive]
pub enum TokenType {
    /// `at+jwt` (or `application/at+jwt`), RFC 9068: the default, so ID tokens cannot be replayed as access tokens.
    #[serde(rename = "at+jwt")]
    AccessTokenJwt,
    /// `JWT` or no `typ` at all: for issuers such as Entra ID that do not follow RFC 9068. An explicit loosening.
    #[serde(rename = "JWT")]
    Jwt,
}

/// Where the issuer's public keys come from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum KeySource {
    /// `{issuer}/.well-known/openid-configuration`, whose `issuer` must match exactly, then its `jwks_uri`.
    Discovery,
    /// A JWKS URL given directly.
    JwksUri(Url),
    /// A fixed key set (tests, air-gapped set-ups). Symmetric (`oct`) keys are only accepted here.
    Static(JwkSet),
}

/// RFC 7662 introspection, for opaque API tokens.
#[derive(Clone, Debug)]
pub struct IntrospectionConfig {
    /// The introspection endpoint.
    pub endpoint: Url,
    /// This service's client id at the issuer.
    pub client_id: String,
    /// This service's client secret (sent with HTTP Basic authentication).
    pub client_secret: Secret,
    /// How long an answer is reused; an active token is never cached past its `exp`.
    pub cache_ttl: Duration,
}

/// Everything token validation needs. Build with [`AuthnConfig::new`] and the `with_*` methods.
#[derive(Clone, Debug)]
pub struct AuthnConfig {
    /// The exact `iss` expected (no trailing-slash normalisation).
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audiences: Vec<String>,
    /// Accepted `alg` values. Default: ES256, EdDSA, RS256, PS256.
    pub algorithms: Vec<Algorithm>,
    /// The required `typ`.
    pub token_type: TokenType,
    /// The claim holding the tenant: `tenant_id` by default, `tid` for Entra ID.
    pub tenant_claim: String,
    /// The claim holding the token's unique id, required when set: `jti` by default, `uti` for
    /// Entra ID. `None` stops requiring one (an explicit loosening).
    pub jti_claim: Option<String>,
    /// Allowed clock skew for `exp`, `nbf` and `iat`; at most [`MAX_LEEWAY`].
    pub leeway: Duration,
    /// Where keys come from.
    pub keys: KeySource,
    /// An unknown `kid` causes at most one key refetch per this interval.
    pub refetch_interval: Duration,
    /// A fetched key set older than this is refreshed on next use, so a key the issuer withdrew
    /// stops verifying (already-cached tokens stay valid until their `exp`).
    pub key_max_age: Duration,
    /// Tokens longer than this are refused unparsed.
    pub max_token_len: usize,
    /// How many verified tokens are cached.
    pub cache_capacity: u64,
    /// Opaque-token introspection; without it only JWTs are accepted.
    pub introspection: Option<IntrospectionConfig>,
    /// Allows `http://` discovery, JWKS and introspection URLs. Off by default; for local tests only.
    pub allow_insecure_http: bool,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The leeway is above [`MAX_LEEWAY`].
    #[error("leeway {0:?} is above the 60 s maximum")]
    LeewayTooLarge(Duration),
    /// No audience was configured.
    #[error("at least one audience is required")]
    NoAudience,
    /// The algorithm list is empty.
    #[error("at least one algorithm is required")]
    NoAlgorithm,
    /// An HMAC algorithm was allowed with a key source other than a static key set.
    #[error("HMAC algorithms are only allowed with a static key set")]
    HmacWithRemoteKeys,
    /// A URL is not HTTPS and `allow_insecure_http` is off.
    #[error("{0} must use https")]
    InsecureUrl(String),
    /// The issuer is not a valid URL (needed for discovery).
    #[error("issuer {0:?} is not a valid URL")]
    InvalidIssuer(String),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Http(String),
}

impl AuthnConfig {
    /// Strict defaults for `issuer` and one `audience`, with keys from discovery.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            algorithms: vec![
                Algorithm::ES256,
                Algorithm::EdDSA,
                Algorithm::RS256,
                Algorithm::PS256,
            ],
            token_type: TokenType::AccessTokenJwt,
            tenant_claim: "tenant_id".to_owned(),
            jti_claim: Some("jti".to_owned()),
            leeway: Duration::from_secs(30),
            keys: KeySource::Discovery,
            refetch_interval: Duration::from_secs(30),
            key_max_age: Duration::from_secs(600),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            cache_capacity: 10_000,
            introspection: None,
            allow_insecure_http: false,
        }
    }

    /// Uses a fixed key set instead of discovery.
    pub fn with_static_keys(mut self, keys: JwkSet) -> Self {
        self.keys = KeySource::Static(keys);
        self
    }

    /// Uses a JWKS URL instead of discovery.
    pub fn with_jwks_uri(mut self, uri: Url) -> Self {
        self.keys = KeySource::JwksUri(uri);
        self
    }

    /// Replaces the algorithm allow-list.
    pub fn with_algorithms(mut self, algorithms: impl Into<Vec<Algorithm>>) -> Self {
        self.algorithms = algorithms.into();
        self
    }

    /// Sets the required token type.
    pub fn with_token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = token_type;
        self
    }

    /// Sets the tenant claim's name.
    pub fn with_tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.tenant_claim = claim.into();
        self
    }

    /// Sets the claim holding the token id (`uti` for Entra ID), or `None` to require none.
    pub fn with_jti_claim(mut self, claim: Option<&str>) -> Self {
        self.jti_claim = claim.map(str::to_owned);
        self
    }

    /// Sets the clock-skew leeway (at most 60 s).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Sets the minimum interval between key refetches.
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// Enables introspection of opaque tokens.
    pub fn with_introspection(mut self, introspection: IntrospectionConfig) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// Allows plain-HTTP issuer URLs (local tests only).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::LeewayTooLarge(self.leeway));
        }
        if self.audiences.is_empty() {
            return Err(ConfigError::NoAudience);
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithm);
        }
        let hmac = self
            .algorithms
            .iter()
            .any(|a| a.family() == jsonwebtoken::AlgorithmFamily::Hmac);
        if hmac && !matches!(self.keys, KeySource::Static(_)) {
            return Err(ConfigError::HmacWithRemoteKeys);
        }
        match &self.keys {
            KeySource::Discovery => {
                let url = Url::parse(&self.issuer)
                    .map_err(|_| ConfigError::InvalidIssuer(self.issuer.clone()))?;
                self.check_url(&url, "issuer")?;
            }
            KeySource::JwksUri(url) => self.check_url(url, "jwks_uri")?,
            KeySource::Static(_) => {}
        }
        if let Some(i) = &self.introspection {
            self.check_url(&i.endpoint, "introspection endpoint")?;
        }
        Ok(())
    }

    fn check_url(&self, url: &Url, what: &str) -> Result<(), ConfigError> {
        check_url(url, self.allow_insecure_http, what)
    }
}

/// `https://` always; `http://` only when `allow_insecure_http` is set. Used for configured URLs
/// and for the `jwks_uri` a discovery document names.
pub(crate) fn check_url(
    url: &Url,
    allow_insecure_http: bool,
    what: &str,
) -> Result<(), ConfigError> {
    if url.scheme() == "https" || (allow_insecure_http && url.scheme() == "http") {
        Ok(())
    } else {
        Err(ConfigError::InsecureUrl(what.to_owned()))
    }
}
