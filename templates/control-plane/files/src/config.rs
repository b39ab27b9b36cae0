//! Configuration: `config/default.toml`, then `config/<APP_PROFILE>.toml`, then `APP__SECTION__KEY` environment variables. Secrets are references only.

use std::net::IpAddr;
use std::path::PathBuf;

use palisade_runtime::audit::SinkKind;
use palisade_runtime::secrets::SecretRef;
use palisade_runtime::secrets::keyvault::AzureCredentialSource;
use palisade_runtime::server::KeyAlgorithm;
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Where to listen, and TLS.
    pub server: Server,
    /// The issuer and its tokens.
    pub issuer: Issuer,
    /// The store.
    pub database: Database,
    /// The key-encryption key.
    pub keys: Keys,
    /// Secret resolution.
    pub secrets: Secrets,
    /// Where audit entries go.
    pub audit: Audit,
    /// The policy service.
    pub policies: Policies,
    /// First-start set-up.
    pub bootstrap: Bootstrap,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Server {
    /// The address to bind.
    pub host: IpAddr,
    /// The port to bind.
    pub port: u16,
    /// A reference to the PEM certificate chain; empty serves plain HTTP.
    pub tls_certificate: String,
    /// A reference to the PEM private key.
    pub tls_private_key: String,
    /// Connections served at once; more wait in the listener's backlog.
    pub max_connections: usize,
    /// A request not answered within this many seconds gets 408.
    pub request_timeout_seconds: u64,
    /// Browser origins (exactly `https://host[:port]`) allowed to call the token, userinfo,
    /// revocation, discovery and JWKS endpoints from script; empty turns CORS off.
    pub cors_allowed_origins: Vec<String>,
}

/// `[issuer]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Issuer {
    /// The exact issuer URL.
    pub url: String,
    /// Development only: allow an http:// issuer.
    pub allow_insecure_http: bool,
    /// ES256, EdDSA or RS256.
    pub key_algorithm: KeyAlgorithm,
    /// Access token lifetime, seconds.
    pub access_token_ttl: i64,
    /// Refresh token lifetime, seconds.
    pub refresh_token_ttl: i64,
    /// A grant's absolute lifetime from sign-in, seconds: no refresh outlives it.
    pub grant_ttl: i64,
    /// The tenant whose `platform-admin` role manages every tenant; empty: none.
    pub platform_tenant: String,
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Database {
    /// A reference to the connection URL (it may hold credentials).
    pub url: SecretRef,
}

/// `[keys]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Keys {
    /// A reference to the key-encryption key; empty uses the development key file.
    pub key_encryption_key: String,
    /// Development only: where the key-encryption key is kept when no reference is set.
    pub development_key_file: PathBuf,
}

/// `[secrets]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Secrets {
    /// `managed_identity`, `workload_identity`, `developer_tools` or `{ user_assigned_identity = "<client id>" }`.
    pub azure_credential: AzureCredentialSource,
}

/// `[audit]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Audit {
    /// `database` (the hash-chained store in this control plane's database) or `stdout`.
    pub sink: SinkKind,
    /// A reference to the private checkpoint key that signs every tenant's chain head; empty
    /// uses the development key file. Only with `sink = "database"`, which serves `/audit`.
    pub checkpoint_key: String,
    /// Development only: where the checkpoint key is kept when no reference is set.
    pub development_checkpoint_key_file: PathBuf,
    /// How often every grown chain is checkpointed and expired entries are purged.
    pub checkpoint_interval_seconds: u64,
}

/// `[bootstrap]`.
/// `[policies]`: the policy service (services' Cedar schemas and sets, their signed bundles).
#[derive(Debug, Clone, Deserialize)]
pub struct Policies {
    /// A reference to the Ed25519 key (PKCS#8, base64) that signs bundles.
    pub signing_key: String,
    /// Development only, when `signing_key` is empty: a key file created on first start.
    pub development_signing_key_file: PathBuf,
    /// The cvc5 executable of the symbolic diff.
    pub solver: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Bootstrap {
    /// Create the development tenant and client on first start.
    pub development_tenant: bool,
}

/// Configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(#[from] config::ConfigError);

impl Config {
    /// Loads `config/default.toml`, then `config/<APP_PROFILE>.toml` when it exists, then `APP__*`
    /// environment variables; later sources win. Paths are relative to the working directory.
    pub fn load() -> Result<Self, ConfigError> {
        let profile = std::env::var("APP_PROFILE").ok();
        let builder =
            config::Config::builder().add_source(config::File::with_name("config/default"));
        let builder = match profile {
            Some(p) => {
                builder.add_source(config::File::with_name(&format!("config/{p}")).required(false))
            }
            None => builder,
        };
        let config = builder
            .add_source(
                config::Environment::with_prefix("APP")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()?;
        Ok(config.try_deserialize()?)
    }

    /// Parses configuration from TOML texts, later ones winning (tests).
    pub fn from_toml(texts: &[&str]) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        for text in texts {
            builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        Ok(builder.build()?.try_deserialize()?)
    }
}
