//! `BundleSource`: a service's policies from the control plane. It fetches the service's signed bundle (`GET /policies/bundle` with its client-credentials token and `If-None-Match`), verifies the control plane's Ed25519 signature, validates every set, and swaps the engines whole; anything that fails leaves the last good bundle in force. The last good bundle is kept on disk, so a restart while the control plane is down still starts; `staleness` says how long it is since the bundle in force was last confirmed current.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use palisade_policy::{Bundle, BundleError};

use super::engine::LoadError;
use super::policies::{Engines, Policies};
use crate::client_credentials::TokenCache;
use crate::secrets::Secret;

/// The audience a service's token names to fetch its policy bundle.
pub const POLICY_AUDIENCE: &str = "palisade-policy";
/// The scope that grants fetching a service's own policy bundle.
pub const POLICY_READ_SCOPE: &str = "policy:read";
/// The response header carrying the bundle's signature (base64 Ed25519 over the body's bytes).
pub const SIGNATURE_HEADER: &str = "palisade-signature";

/// Where and how to fetch the bundle.
#[derive(Debug, Clone)]
pub struct BundleConfig {
    /// The control plane's base URL (its issuer): `/token` and `/policies/bundle` are under it.
    pub url: String,
    /// This service's client, granted `policy:read` for the `palisade-policy` audience; the
    /// bundle must be this service's.
    pub client_id: String,
    /// Its secret.
    pub client_secret: Secret,
    /// The control plane's policy verifying key: base64 of the 32-byte Ed25519 public key.
    pub verifying_key: String,
    /// The file that keeps the last good bundle (on a persistent volume).
    pub cache: PathBuf,
    /// The application's Cedar namespace, as for [`super::PolicyEngine::load`].
    pub namespace: String,
    /// How often to ask for a newer bundle (default 30 s).
    pub refresh: Duration,
}

impl BundleConfig {
    /// The defaults for a control plane at `url`.
    pub fn new(
        url: &str,
        client_id: &str,
        client_secret: Secret,
        verifying_key: &str,
        cache: impl Into<PathBuf>,
        namespace: &str,
    ) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            verifying_key: verifying_key.to_owned(),
            cache: cache.into(),
            namespace: namespace.to_owned(),
            refresh: Duration::from_secs(30),
        }
    }
}

/// Why a bundle was not put in force.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleSourceError {
    /// The control plane could not be asked (unreachable, a refused token, an error status).
    #[error("fetching the policy bundle: {0}")]
    Fetch(String),
    /// The signature is missing or does not verify with the configured key: refused.
    #[error("the policy bundle's signature does not verify: refused")]
    Signature,
    /// The configured verifying key is not an Ed25519 public key in base64.
    #[error("the policy verifying key is not a base64 Ed25519 public key")]
    Key,
    /// The bundle does not parse or a set does not validate: refused.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A set validated but its engine could not be built.
    #[error("policy bundle: {0}")]
    Engine(#[from] LoadError),
    /// The bundle is another service's, or older than the one in force.
    #[error("policy bundle refused: {0}")]
    Refused(String),
    /// Neither the control plane nor the kept bundle could give policies at start-up.
    #[error("no policies at start-up: {fetch}; and the kept bundle {cache}")]
    Unavailable {
        /// Why the fetch failed.
        fetch: String,
        /// Why the kept bundle could not be used.
        cache: String,
    },
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// The control plane answered 304: the bundle in force is current.
    Current,
    /// A new bundle of this version is in force.
    Swapped(u64),
}

struct Shared {
    config: BundleConfig,
    key: Vec<u8>,
    http: reqwest::Client,
    token: TokenCache,
    etag: Mutex<Option<String>>,
    /// One refresh at a time: two could otherwise swap in an older bundle after a newer one, or
    /// write the kept file together.
    refreshing: tokio::sync::Mutex<()>,
    policies: Policies,
    /// Unix seconds when the bundle in force was last confirmed current.
    confirmed: AtomicU64,
}

/// A service's policies, kept current from the control plane (see the module docs).
#[derive(Clone)]
pub struct BundleSource {
    shared: std::sync::Arc<Shared>,
    task: std::sync::Arc<tokio::task::AbortHandle>,
}

impl BundleSource {
    /// Fetches the bundle (or, when the control plane cannot be reached or its bundle is refused,
    /// takes the kept one) and starts refreshing it every `config.refresh`.
    pub async fn start(config: BundleConfig) -> Result<Self, BundleSourceError> {
        let key = STANDARD
            .decode(config.verifying_key.trim())
            .ok()
            .filter(|k| k.len() == 32)
            .ok_or(BundleSourceError::Key)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| BundleSourceError::Fetch(e.to_string()))?;
        let token = TokenCache::new(
            http.clone(),
            &config.url,
            &config.client_id,
            config.client_secret.clone(),
            POLICY_READ_SCOPE,
            POLICY_AUDIENCE,
        );
        // The kept bundle first: its version is the floor a fetched one must reach, so a restart
        // never goes back to an older bundle than the one last in force.
        let kept = read_kept(&key, &config);
        let floor = kept.as_ref().map_or(0, |(engines, _)| engines.version());
        let fetched = fetch(&http, &token, &config, None).await;
        let (engines, etag, confirmed) = match fetched {
            Ok(Some((body, signature, etag))) => {
                match install(&key, &config, &body, &signature, floor) {
                    Ok(engines) => {
                        keep(&config.cache, &body, &signature);
                        (engines, etag, now())
                    }
                    Err(error) => use_kept(kept, &config, error.to_string())?,
                }
            }
            Ok(None) => use_kept(kept, &config, "answered 304 unasked".to_owned())?,
            Err(error) => use_kept(kept, &config, error.to_string())?,
        };
        let shared = std::sync::Arc::new(Shared {
            key,
            http,
            token,
            etag: Mutex::new(etag),
            refreshing: tokio::sync::Mutex::new(()),
            policies: Policies::new(engines),
            confirmed: AtomicU64::new(confirmed),
            config,
        });
        let task = tokio::spawn(refresh_loop(shared.clone())).abort_handle();
        Ok(Self {
            shared,
            task: std::sync::Arc::new(task),
        })
    }

    /// The policies in force, for [`crate::stack::SecurityStack::new`].
    pub fn policies(&self) -> Policies {
        self.shared.policies.clone()
    }

    /// The version of the bundle in force.
    pub fn version(&self) -> u64 {
        self.shared.policies.engines().version()
    }

    /// How long since the bundle in force was last confirmed current by the control plane (for
    /// readiness: a service may decide it is too stale to serve).
    pub fn staleness(&self) -> Duration {
        Duration::from_secs(now().saturating_sub(self.shared.confirmed.load(Ordering::Relaxed)))
    }

    /// Asks for a newer bundle now (the refresh task does this on its interval).
    pub async fn refresh(&self) -> Result<Refreshed, BundleSourceError> {
        refresh(&self.shared).await
    }

    /// Stops refreshing (the policies in force stay).
    pub fn stop(&self) {
        self.task.abort();
    }
}

async fn refresh_loop(shared: std::sync::Arc<Shared>) {
    loop {
        tokio::time::sleep(shared.config.refresh).await;
        if let Err(error) = refresh(&shared).await {
            metrics::counter!("palisade_policy_bundle_refusals_total").increment(1);
            tracing::warn!(%error, "policy bundle not refreshed; the one in force stays");
        }
    }
}

async fn refresh(shared: &Shared) -> Result<Refreshed, BundleSourceError> {
    let _one = shared.refreshing.lock().await;
    let etag = shared.etag.lock().ok().and_then(|e| e.clone());
    let Some((body, signature, etag)) =
        fetch(&shared.http, &shared.token, &shared.config, etag.as_deref()).await?
    else {
        shared.confirmed.store(now(), Ordering::Relaxed);
        return Ok(Refreshed::Current);
    };
    let current = shared.policies.engines().version();
    let engines = install(&shared.key, &shared.config, &body, &signature, current)?;
    let version = engines.version();
    shared.policies.swap(engines);
    shared.confirmed.store(now(), Ordering::Relaxed);
    if let Ok(mut kept) = shared.etag.lock() {
        *kept = etag;
    }
    keep(&shared.config.cache, &body, &signature);
    tracing::info!(version, "policy bundle swapped");
    Ok(Refreshed::Swapped(version))
}

/// `GET /policies/bundle`: the body, its signature and its `ETag`, or `None` for 304.
async fn fetch(
    http: &reqwest::Client,
    token: &TokenCache,
    config: &BundleConfig,
    etag: Option<&str>,
) -> Result<Option<(Vec<u8>, String, Option<String>)>, BundleSourceError> {
    let token_value = token.get().await.map_err(BundleSourceError::Fetch)?;
    let mut request = http
        .get(format!("{}/policies/bundle", config.url))
        .bearer_auth(token_value);
    if let Some(etag) = etag {
        request = request.header(reqwest::header::IF_NONE_MATCH, etag);
    }
    let response = request
        .send()
        .await
        .map_err(|e| BundleSourceError::Fetch(e.to_string()))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(None);
    }
    if status == reqwest::StatusCode::UNAUTHORIZED {
        token.forget().await;
    }
    if !status.is_success() {
        return Err(BundleSourceError::Fetch(format!("HTTP {status}")));
    }
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let signature = header(SIGNATURE_HEADER).ok_or(BundleSourceError::Signature)?;
    let etag = header(reqwest::header::ETAG.as_str());
    let body = response
        .bytes()
        .await
        .map_err(|e| BundleSourceError::Fetch(e.to_string()))?;
    Ok(Some((body.to_vec(), signature, etag)))
}

/// Verifies, parses and validates a bundle into engines: it must be signed with the key, be
/// this service's, and not be older than `current`.
fn install(
    key: &[u8],
    config: &BundleConfig,
    body: &[u8],
    signature: &str,
    current: u64,
) -> Result<Engines, BundleSourceError> {
    let signature = STANDARD
        .decode(signature.trim())
        .map_err(|_| BundleSourceError::Signature)?;
    UnparsedPublicKey::new(&ED25519, key)
        .verify(body, &signature)
        .map_err(|_| BundleSourceError::Signature)?;
    let bundle = Bundle::parse(body)?;
    if bundle.service != config.client_id {
        return Err(BundleSourceError::Refused(format!(
            "it is service {:?}'s, not {:?}'s",
            bundle.service, config.client_id
        )));
    }
    if bundle.version < current {
        return Err(BundleSourceError::Refused(format!(
            "version {} is older than version {current} in force",
            bundle.version
        )));
    }
    Ok(Engines::from_sets(&config.namespace, bundle.sets()?)?)
}

/// The kept bundle, verified again, and when it was kept (Unix seconds); or why it cannot be used.
fn read_kept(key: &[u8], config: &BundleConfig) -> Result<(Engines, u64), String> {
    let bytes =
        std::fs::read(&config.cache).map_err(|e| format!("{}: {e}", config.cache.display()))?;
    let (signature, body) = bytes
        .iter()
        .position(|b| *b == b'\n')
        .map(|i| (&bytes[..i], &bytes[i + 1..]))
        .ok_or("is not a kept bundle")?;
    let signature = String::from_utf8_lossy(signature);
    let engines = install(key, config, body, &signature, 0).map_err(|e| e.to_string())?;
    let kept = std::fs::metadata(&config.cache)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok((engines, kept))
}

/// The kept bundle, when nothing better is to be had at start-up.
fn use_kept(
    kept: Result<(Engines, u64), String>,
    config: &BundleConfig,
    fetch: String,
) -> Result<(Engines, Option<String>, u64), BundleSourceError> {
    let (engines, kept) = kept.map_err(|cache| BundleSourceError::Unavailable {
        fetch: fetch.clone(),
        cache,
    })?;
    tracing::warn!(
        version = engines.version(),
        error = %fetch,
        path = %config.cache.display(),
        "policy bundle from the kept copy: the control plane's could not be used"
    );
    Ok((engines, None, kept))
}

/// Keeps a bundle that is in force: its signature line and body, written whole (a temporary
/// file, fsynced, renamed) or not at all. A failure is logged: the bundle stays in force.
fn keep(path: &std::path::Path, body: &[u8], signature: &str) {
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(folder) = folder {
            std::fs::create_dir_all(folder)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(signature.trim().as_bytes())?;
        file.write_all(b"\n")?;
        file.write_all(body)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename survives a crash once the folder's entry is on disk too.
        std::fs::File::open(folder.unwrap_or(std::path::Path::new(".")))?.sync_all()
    };
    if let Err(error) = write() {
        tracing::error!(%error, path = %path.display(), "the policy bundle in force could not be kept");
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs bundles: the control plane's policy signing key (Ed25519).
pub struct BundleSigner {
    pair: Ed25519KeyPair,
}

impl BundleSigner {
    /// A new key: the signer and its PKCS#8 document (the secret to keep).
    pub fn generate() -> Result<(Self, Secret), BundleSourceError> {
        let document = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .map_err(|_| BundleSourceError::Key)?;
        let secret = Secret::new(STANDARD.encode(document.as_ref()));
        Ok((Self::from_pkcs8(&secret)?, secret))
    }

    /// The signer of a PKCS#8 document in base64.
    pub fn from_pkcs8(secret: &Secret) -> Result<Self, BundleSourceError> {
        let der = STANDARD
            .decode(secret.expose().trim())
            .map_err(|_| BundleSourceError::Key)?;
        let pair = Ed25519KeyPair::from_pkcs8(&der).map_err(|_| BundleSourceError::Key)?;
        Ok(Self { pair })
    }

    /// The verifying key services are configured with (base64).
    pub fn verifying_key(&self) -> String {
        STANDARD.encode(self.pair.public_key().as_ref())
    }

    /// The signature header's value for a body.
    pub fn sign(&self, body: &[u8]) -> String {
        STANDARD.encode(self.pair.sign(body).as_ref())
    }
}
