//! The verification key store: JWKS discovery and fetching, key vetting, caching and rate-limited refetch on an unknown `kid`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::AuthnError;
use super::config::{AuthnConfig, KeySource, check_url};

/// JWK members that only a private or symmetric key has; a public key set holding them is a leak.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth"];

/// How long to wait between attempts while no key set has been loaded yet.
const INITIAL_RETRY: Duration = Duration::from_secs(1);

/// A vetted verification key.
pub(crate) struct VerifyKey {
    pub(crate) kid: Option<String>,
    /// The `alg` the key is pinned to, when the JWK says.
    pub(crate) alg: Option<Algorithm>,
    pub(crate) family: AlgorithmFamily,
    curve: Option<EllipticCurve>,
    pub(crate) key: DecodingKey,
}

impl VerifyKey {
    /// Whether this key may verify a token with header `alg`: same family, same curve, same pinned alg.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        if self.family != alg.family() || self.alg.is_some_and(|a| a != alg) {
            return false;
        }
        match (alg, &self.curve) {
            (Algorithm::ES256, Some(c)) => *c == EllipticCurve::P256,
            (Algorithm::ES384, Some(c)) => *c == EllipticCurve::P384,
            (Algorithm::EdDSA, Some(c)) => *c == EllipticCurve::Ed25519,
            (Algorithm::ES256 | Algorithm::ES384 | Algorithm::EdDSA, None) => false,
            _ => true,
        }
    }
}

/// The keys currently trusted, and how to get more.
pub(crate) struct KeyStore {
    source: KeySource,
    issuer: String,
    http: reqwest::Client,
    allow_insecure_http: bool,
    allow_symmetric: bool,
    refetch_interval: Duration,
    keys: RwLock<Arc<Vec<Arc<VerifyKey>>>>,
    fetch_state: Mutex<FetchState>,
    loaded_at: std::sync::Mutex<Option<Instant>>,
    max_age: Duration,
}

/// When keys were last fetched, by why.
#[derive(Default)]
struct FetchState {
    last_initial: Option<Instant>,
    last_refetch: Option<Instant>,
    last_refresh: Option<Instant>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: Url,
}

impl KeyStore {
    pub(crate) fn new(config: &AuthnConfig, http: reqwest::Client) -> Self {
        let allow_symmetric = matches!(config.keys, KeySource::Static(_));
        let store = Self {
            source: config.keys.clone(),
            issuer: config.issuer.clone(),
            http,
            allow_insecure_http: config.allow_insecure_http,
            allow_symmetric,
            refetch_interval: config.refetch_interval,
            keys: RwLock::new(Arc::new(Vec::new())),
            fetch_state: Mutex::new(FetchState::default()),
            loaded_at: std::sync::Mutex::new(None),
            max_age: config.key_max_age,
        };
        if let KeySource::Static(set) = &config.keys {
            *store.keys.write().expect("key store lock poisoned") = Arc::new(vet_set(set, true));
        }
        store
    }

    /// The key for `kid` (or the only compatible key when the token names none), refetching once
    /// per refetch interval when it is unknown.
    pub(crate) async fn find(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyKey>, AuthnError> {
        if let Some(key) = self.lookup(kid, alg)? {
            if !self.is_stale() {
                return Ok(key);
            }
            // The set is old: refresh it (one request does, others go on with the old set), then
            // look again, so a key the issuer withdrew stops verifying.
            self.refresh_if_stale().await;
            return self.lookup(kid, alg)?.ok_or(AuthnError::UnknownKey);
        }
        if matches!(self.source, KeySource::Static(_)) {
            return Err(AuthnError::UnknownKey);
        }
        // Never loaded: the first load (with its short back-off) decides.
        if self
            .keys
            .read()
            .expect("key store lock poisoned")
            .is_empty()
        {
            self.ensure().await?;
            return self.lookup(kid, alg)?.ok_or(AuthnError::UnknownKey);
        }
        // Single flight: concurrent misses wait for one fetch instead of each starting their own,
        // and an unknown kid refetches at most once per interval.
        let mut state = self.fetch_state.lock().await;
        if let Some(key) = self.lookup(kid, alg)? {
            return Ok(key);
        }
        if state
            .last_refetch
            .is_some_and(|t| t.elapsed() < self.refetch_interval)
        {
            return Err(AuthnError::UnknownKey);
        }
        state.last_refetch = Some(Instant::now());
        let fetched = self.fetch().await;
        drop(state);
        self.store(&fetched?);
        self.lookup(kid, alg)?.ok_or(AuthnError::UnknownKey)
    }

    /// The number of trusted keys, loading them first if none are loaded yet (with the same
    /// back-off as a first request). A loaded set is never refetched here, so a readiness probe
    /// cannot be used to hammer the issuer.
    pub(crate) async fn ensure(&self) -> Result<usize, AuthnError> {
        let loaded = self.keys.read().expect("key store lock poisoned").len();
        if loaded > 0 || matches!(self.source, KeySource::Static(_)) {
            return Ok(loaded);
        }
        let mut state = self.fetch_state.lock().await;
        let loaded = self.keys.read().expect("key store lock poisoned").len();
        if loaded > 0 {
            return Ok(loaded);
        }
        if state
            .last_initial
            .is_some_and(|t| t.elapsed() < INITIAL_RETRY.min(self.refetch_interval))
        {
            return Err(AuthnError::KeysUnavailable("key set not loaded yet".into()));
        }
        state.last_initial = Some(Instant::now());
        let set = self.fetch().await?;
        Ok(self.store(&set))
    }

    /// Fetches the key set now (for a readiness check at start-up).
    pub(crate) async fn refresh(&self) -> Result<usize, AuthnError> {
        if matches!(self.source, KeySource::Static(_)) {
            return Ok(self.keys.read().expect("key store lock poisoned").len());
        }
        let _state = self.fetch_state.lock().await;
        let set = self.fetch().await?;
        Ok(self.store(&set))
    }

    /// Vets and installs a fetched set; returns how many keys it kept.
    fn store(&self, set: &JwkSet) -> usize {
        let vetted = vet_set(set, self.allow_symmetric);
        let n = vetted.len();
        *self.keys.write().expect("key store lock poisoned") = Arc::new(vetted);
        *self.loaded_at.lock().expect("key store lock poisoned") = Some(Instant::now());
        n
    }

    fn is_stale(&self) -> bool {
        self.loaded_at
            .lock()
            .expect("key store lock poisoned")
            .is_some_and(|t| t.elapsed() >= self.max_age)
    }

    async fn refresh_if_stale(&self) {
        let Ok(mut state) = self.fetch_state.try_lock() else {
            return;
        };
        if !self.is_stale()
            || state
                .last_refresh
                .is_some_and(|t| t.elapsed() < self.refetch_interval)
        {
            return;
        }
        state.last_refresh = Some(Instant::now());
        match self.fetch().await {
            Ok(set) => {
                self.store(&set);
            }
            Err(error) => {
                tracing::warn!(%error, "key set refresh failed; keeping the current keys")
            }
        }
    }

    fn lookup(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<Arc<VerifyKey>>, AuthnError> {
        let keys = self.keys.read().expect("key store lock poisoned").clone();
        match kid {
            Some(kid) => {
                let Some(key) = keys.iter().find(|k| k.kid.as_deref() == Some(kid)) else {
                    return Ok(None);
                };
                if key.accepts(alg) {
                    Ok(Some(key.clone()))
                } else {
                    Err(AuthnError::KeyMismatch)
                }
            }
            None => {
                // Without a kid, only an unambiguous set is usable.
                let mut candidates = keys.iter().filter(|k| k.accepts(alg));
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => Ok(Some(key.clone())),
                    (None, _) if keys.is_empty() => Ok(None),
                    _ => Err(AuthnError::UnknownKey),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<JwkSet, AuthnError> {
        let jwks_uri = match &self.source {
            KeySource::JwksUri(url) => url.clone(),
            KeySource::Discovery => {
                let base = self.issuer.trim_end_matches('/');
                let url = format!("{base}/.well-known/openid-configuration");
                let doc: Discovery = self.get_json(&url).await?;
                if doc.issuer != self.issuer {
                    return Err(AuthnError::KeysUnavailable(
                        "discovery document names another issuer".into(),
                    ));
                }
                doc.jwks_uri
            }
            KeySource::Static(set) => return Ok(set.clone()),
        };
        check_url(&jwks_uri, self.allow_insecure_http, "jwks_uri")
            .map_err(|e| AuthnError::KeysUnavailable(e.to_string()))?;
        self.get_json(jwks_uri.as_str()).await
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, AuthnError> {
        let unavailable = |e: reqwest::Error| AuthnError::KeysUnavailable(format!("{url}: {e}"));
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(unavailable)?
            .error_for_status()
            .map_err(unavailable)?;
        response.json().await.map_err(unavailable)
    }
}

/// Keeps the usable signing keys of a set and logs the ones it skips.
fn vet_set(set: &JwkSet, allow_symmetric: bool) -> Vec<Arc<VerifyKey>> {
    set.keys
        .iter()
        .filter_map(|jwk| match vet(jwk, allow_symmetric) {
            Ok(key) => Some(Arc::new(key)),
            Err(why) => {
                tracing::warn!(
                    kid = jwk.common.key_id.as_deref().unwrap_or(""),
                    why,
                    "skipping key from key set"
                );
                None
            }
        })
        .collect()
}

fn vet(jwk: &Jwk, allow_symmetric: bool) -> Result<VerifyKey, &'static str> {
    if let Some(u) = &jwk.common.public_key_use
        && *u != PublicKeyUse::Signature
    {
        return Err("key is not for signatures");
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err("key operations do not include verify");
    }
    let as_json = serde_json::to_value(jwk).map_err(|_| "key does not serialize")?;
    if PRIVATE_MEMBERS.iter().any(|m| as_json.get(m).is_some()) {
        return Err("key set holds private key material");
    }
    let (family, curve) = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => (AlgorithmFamily::Ec, Some(p.curve.clone())),
        AlgorithmParameters::OctetKeyPair(p) => (AlgorithmFamily::Ed, Some(p.curve.clone())),
        AlgorithmParameters::RSA(_) => (AlgorithmFamily::Rsa, None),
        AlgorithmParameters::OctetKey(_) if allow_symmetric => (AlgorithmFamily::Hmac, None),
        AlgorithmParameters::OctetKey(_) => return Err("symmetric key in a public key set"),
        _ => return Err("unsupported key type"),
    };
    let alg = match &jwk.common.key_algorithm {
        None => None,
        Some(ka) => Some(Algorithm::try_from(*ka).map_err(|_| "unsupported key algorithm")?),
    };
    if alg.is_some_and(|a| a.family() != family) {
        return Err("key algorithm does not match key type");
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| "key does not parse")?;
    Ok(VerifyKey {
        kid: jwk.common.key_id.clone(),
        alg,
        family,
        curve,
        key,
    })
}
