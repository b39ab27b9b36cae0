//! Secret references and their resolution: parsing, providers (Azure Key Vault, env, file), caching, and the redacting `Secret`.

#[cfg(feature = "keyvault")]
pub mod keyvault;
mod provider;
mod reference;
mod resolver;
mod secret;

pub use provider::{EnvProvider, FileProvider, ProviderError, SecretProvider};
pub use reference::{KEY_VAULT_SUFFIXES, SecretRef, SecretRefError, VaultHostPolicy};
pub use resolver::{CachePolicy, SecretError, SecretResolver};
pub use secret::Secret;
