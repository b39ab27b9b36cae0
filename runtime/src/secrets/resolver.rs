//! `SecretResolver`: routes references to providers, caches values with a TTL and refreshes ahead of expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::provider::{EnvProvider, FileProvider, ProviderError, SecretProvider};
use super::{Secret, SecretRef};

/// A reference that could not be resolved. The message names the reference, never a value.
#[derive(Debug, thiserror::Error)]
#[error("secret {reference}: {source}")]
pub struct SecretError {
    /// The reference in canonical form.
    pub reference: String,
    /// What went wrong.
    #[source]
    pub source: ProviderError,
}

/// How long values are cached.
#[derive(Clone, Copy, Debug)]
pub struct CachePolicy {
    /// A cached value older than this is fetched again before use.
    pub ttl: Duration,
    /// A value this close to its TTL is returned and refreshed in the background, so rotation is
    /// picked up without a caller ever waiting on the provider.
    pub refresh_ahead: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            refresh_ahead: Duration::from_secs(60),
        }
    }
}

struct Cached {
    value: Secret,
    fetched: Instant,
    refreshing: bool,
}

/// Resolves [`SecretRef`]s through the configured providers, with caching.
///
/// `env://` and `file://` always work; `keyvault://` needs [`with_key_vault`](Self::with_key_vault).
#[derive(Clone)]
pub struct SecretResolver {
    inner: Arc<Inner>,
}

struct Inner {
    env: EnvProvider,
    file: FileProvider,
    key_vault: Option<Arc<dyn SecretProvider>>,
    policy: CachePolicy,
    cache: Mutex<HashMap<SecretRef, Cached>>,
}

impl SecretResolver {
    /// A resolver with the development providers and the given cache policy.
    pub fn new(policy: CachePolicy) -> Self {
        Self::build(policy, None)
    }

    /// Adds the provider used for `keyvault://` references.
    pub fn with_key_vault(self, provider: Arc<dyn SecretProvider>) -> Self {
        Self::build(self.inner.policy, Some(provider))
    }

    fn build(policy: CachePolicy, key_vault: Option<Arc<dyn SecretProvider>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                env: EnvProvider,
                file: FileProvider,
                key_vault,
                policy,
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The current value of `reference`, from the cache while it is fresh.
    pub async fn resolve(&self, reference: &SecretRef) -> Result<Secret, SecretError> {
        let now = Instant::now();
        let policy = self.inner.policy;
        let mut start_refresh = false;
        {
            let mut cache = self.inner.cache.lock().expect("secret cache lock poisoned");
            if let Some(entry) = cache.get_mut(reference) {
                let age = now.saturating_duration_since(entry.fetched);
                if age < policy.ttl {
                    if age >= policy.ttl.saturating_sub(policy.refresh_ahead) && !entry.refreshing {
                        entry.refreshing = true;
                        start_refresh = true;
                    }
                    let value = entry.value.clone();
                    drop(cache);
                    if start_refresh {
                        self.spawn_refresh(reference.clone());
                    }
                    return Ok(value);
                }
            }
        }
        self.fetch_and_store(reference).await
    }

    /// Resolves every reference (concurrently) and reports every failure, for start-up checks.
    pub async fn resolve_all<'a>(
        &self,
        references: impl IntoIterator<Item = &'a SecretRef>,
    ) -> Result<(), Vec<SecretError>> {
        let futures = references.into_iter().map(|r| self.resolve(r));
        let errors: Vec<SecretError> = futures_util::future::join_all(futures)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn spawn_refresh(&self, reference: SecretRef) {
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(error) = this.fetch_and_store(&reference).await {
                // Keep serving the cached value until the TTL; the next caller after it retries.
                tracing::warn!(%error, "secret refresh failed");
                if let Some(entry) = this
                    .inner
                    .cache
                    .lock()
                    .expect("secret cache lock poisoned")
                    .get_mut(&reference)
                {
                    entry.refreshing = false;
                }
            }
        });
    }

    async fn fetch_and_store(&self, reference: &SecretRef) -> Result<Secret, SecretError> {
        let provider: &dyn SecretProvider = match reference {
            SecretRef::Env(_) => &self.inner.env,
            SecretRef::File(_) => &self.inner.file,
            SecretRef::KeyVault { .. } => match &self.inner.key_vault {
                Some(p) => p.as_ref(),
                None => {
                    return Err(SecretError {
                        reference: reference.to_string(),
                        source: ProviderError::Unsupported,
                    });
                }
            },
        };
        let value = provider
            .fetch(reference)
            .await
            .map_err(|source| SecretError {
                reference: reference.to_string(),
                source,
            })?;
        let entry = Cached {
            value: value.clone(),
            fetched: Instant::now(),
            refreshing: false,
        };
        self.inner
            .cache
            .lock()
            .expect("secret cache lock poisoned")
            .insert(reference.clone(), entry);
        Ok(value)
    }
}
