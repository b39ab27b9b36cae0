//! The secret provider trait and the development providers: environment variables and files.

use std::path::Path;

use futures_util::future::BoxFuture;

use super::{Secret, SecretRef};

/// Why a provider could not produce a value. Never carries the value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The secret does not exist (unset variable, missing file, 404 from the vault).
    #[error("not found")]
    NotFound,
    /// The provider is not configured for this kind of reference.
    #[error("no provider is configured for this kind of reference")]
    Unsupported,
    /// The provider refused access (401/403 from the vault, unreadable file).
    #[error("access denied: {0}")]
    Denied(String),
    /// The provider could not be reached or answered badly.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The stored value is not UTF-8 text.
    #[error("value is not valid UTF-8")]
    NotUtf8,
}

/// Resolves references of the kinds it supports into values.
pub trait SecretProvider: Send + Sync + 'static {
    /// Fetches the current value of `reference`.
    fn fetch<'a>(
        &'a self,
        reference: &'a SecretRef,
    ) -> BoxFuture<'a, Result<Secret, ProviderError>>;
}

/// Reads `env://NAME` from the process environment.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvProvider;

impl SecretProvider for EnvProvider {
    fn fetch<'a>(
        &'a self,
        reference: &'a SecretRef,
    ) -> BoxFuture<'a, Result<Secret, ProviderError>> {
        Box::pin(async move {
            let SecretRef::Env(name) = reference else {
                return Err(ProviderError::Unsupported);
            };
            match std::env::var(name) {
                Ok(v) => Ok(Secret::new(v)),
                Err(std::env::VarError::NotPresent) => Err(ProviderError::NotFound),
                Err(std::env::VarError::NotUnicode(_)) => Err(ProviderError::NotUtf8),
            }
        })
    }
}

/// Reads `file:///path`; one trailing newline is removed, as `echo value > file` leaves one.
#[derive(Clone, Copy, Debug, Default)]
pub struct FileProvider;

impl SecretProvider for FileProvider {
    fn fetch<'a>(
        &'a self,
        reference: &'a SecretRef,
    ) -> BoxFuture<'a, Result<Secret, ProviderError>> {
        Box::pin(async move {
            let SecretRef::File(path) = reference else {
                return Err(ProviderError::Unsupported);
            };
            read_file(path).await
        })
    }
}

async fn read_file(path: &Path) -> Result<Secret, ProviderError> {
    let bytes = tokio::fs::read(path).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ProviderError::NotFound,
        std::io::ErrorKind::PermissionDenied => {
            ProviderError::Denied("file is not readable".into())
        }
        _ => ProviderError::Unavailable(e.kind().to_string()),
    })?;
    let mut text = String::from_utf8(bytes).map_err(|_| ProviderError::NotUtf8)?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(Secret::new(text))
}
