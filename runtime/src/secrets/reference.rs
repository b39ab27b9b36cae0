//! `SecretRef`: the parsed, validated form of every secret reference syntax, and its canonical text.

use std::fmt;
use std::path::{Component, PathBuf};

/// The DNS suffixes of Azure Key Vault in the public and sovereign clouds.
pub const KEY_VAULT_SUFFIXES: &[&str] = &[
    ".vault.azure.net",
    ".vault.azure.cn",
    ".vault.usgovcloudapi.net",
    ".vault.microsoftazure.de",
];

const PUBLIC_SUFFIX: &str = ".vault.azure.net";

/// A reference to a secret; the value itself is never part of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretRef {
    /// A secret in Azure Key Vault.
    KeyVault {
        /// The vault's host name, e.g. `contoso.vault.azure.net` (a port only where a test allowed it).
        host: String,
        /// The secret's name.
        name: String,
        /// A pinned version; `None` follows the latest (and so picks up rotation).
        version: Option<String>,
    },
    /// An environment variable (development).
    Env(String),
    /// A file's content, trailing newline removed (development, or mounted secrets).
    File(PathBuf),
}

/// Why a string is not a valid [`SecretRef`]. The message names the reference, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretRefError {
    /// The text matched none of the supported syntaxes.
    #[error(
        "unsupported secret reference syntax (expected keyvault://, @Microsoft.KeyVault(...), env:// or file://)"
    )]
    UnknownSyntax,
    /// A vault URL was not `https://`.
    #[error("key vault url must use https: {0}")]
    NotHttps(String),
    /// The vault host is not under an Azure Key Vault DNS suffix and was not explicitly allowed.
    #[error("host {0:?} is not an Azure Key Vault host")]
    UntrustedHost(String),
    /// A vault name is not 3 to 24 letters, digits and dashes.
    #[error("invalid key vault name {0:?}")]
    InvalidVaultName(String),
    /// A secret name is not 1 to 127 letters, digits and dashes.
    #[error("invalid key vault secret name {0:?}")]
    InvalidSecretName(String),
    /// A version is not 32 hexadecimal digits.
    #[error("invalid key vault secret version {0:?}")]
    InvalidVersion(String),
    /// The Key Vault URL path is not `/secrets/<name>[/<version>]`.
    #[error("key vault url path must be /secrets/<name>[/<version>]: {0:?}")]
    InvalidPath(String),
    /// An `@Microsoft.KeyVault(...)` reference misses a part or has an unknown one.
    #[error("malformed @Microsoft.KeyVault reference: {0}")]
    MalformedAppServiceReference(&'static str),
    /// An environment variable name is not `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("invalid environment variable name {0:?}")]
    InvalidEnvName(String),
    /// A file reference is not absolute or walks up with `..`.
    #[error("file reference must be an absolute path without '..': {0:?}")]
    InvalidFilePath(String),
}

/// Which vault hosts a parse accepts. The default accepts only Azure Key Vault DNS suffixes;
/// [`allow_host`](Self::allow_host) loosens that for a local test server and must never be used in production.
#[derive(Clone, Debug, Default)]
pub struct VaultHostPolicy {
    extra_hosts: Vec<String>,
}

impl VaultHostPolicy {
    /// Also accepts this exact `host[:port]` (tests against a local Key Vault-compatible server).
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.extra_hosts.push(host.into().to_ascii_lowercase());
        self
    }

    fn check(&self, host: &str) -> Result<(), SecretRefError> {
        let host = host.to_ascii_lowercase();
        if self.extra_hosts.contains(&host) {
            return Ok(());
        }
        for suffix in KEY_VAULT_SUFFIXES {
            if let Some(vault) = host.strip_suffix(suffix) {
                return validate_vault_name(vault);
            }
        }
        Err(SecretRefError::UntrustedHost(host))
    }
}

impl SecretRef {
    /// Parses any supported syntax with the strict default host policy.
    pub fn parse(text: &str) -> Result<Self, SecretRefError> {
        Self::parse_with(text, &VaultHostPolicy::default())
    }

    /// Parses any supported syntax with the given host policy.
    pub fn parse_with(text: &str, hosts: &VaultHostPolicy) -> Result<Self, SecretRefError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("keyvault://") {
            return parse_keyvault_scheme(rest);
        }
        if let Some(inner) = text
            .strip_prefix("@Microsoft.KeyVault(")
            .and_then(|r| r.strip_suffix(')'))
        {
            return parse_app_service(inner, hosts);
        }
        if let Some(name) = text.strip_prefix("env://") {
            let valid = name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return if valid {
                Ok(Self::Env(name.to_owned()))
            } else {
                Err(SecretRefError::InvalidEnvName(name.to_owned()))
            };
        }
        if let Some(path) = text.strip_prefix("file://") {
            let p = PathBuf::from(path);
            let clean = p.is_absolute()
                && p.components()
                    .all(|c| !matches!(c, Component::ParentDir | Component::CurDir));
            return if clean {
                Ok(Self::File(p))
            } else {
                Err(SecretRefError::InvalidFilePath(path.to_owned()))
            };
        }
        Err(SecretRefError::UnknownSyntax)
    }

    /// Whether the reference names a development-only source (`env://` or `file://`).
    pub fn is_development_source(&self) -> bool {
        matches!(self, Self::Env(_) | Self::File(_))
    }
}

fn parse_keyvault_scheme(rest: &str) -> Result<SecretRef, SecretRefError> {
    let mut parts = rest.split('/');
    let vault = parts.next().unwrap_or_default();
    let name = parts
        .next()
        .ok_or(SecretRefError::InvalidSecretName(String::new()))?;
    let version = parts.next();
    if parts.next().is_some() {
        return Err(SecretRefError::InvalidPath(rest.to_owned()));
    }
    // A dotted vault is a full host, which must still be a Key Vault host.
    let host = if vault.contains('.') {
        VaultHostPolicy::default().check(vault)?;
        vault.to_ascii_lowercase()
    } else {
        validate_vault_name(vault)?;
        format!("{}{PUBLIC_SUFFIX}", vault.to_ascii_lowercase())
    };
    build_keyvault(host, name, version)
}

fn parse_app_service(inner: &str, hosts: &VaultHostPolicy) -> Result<SecretRef, SecretRefError> {
    if let Some(uri) = inner.strip_prefix("SecretUri=") {
        return parse_secret_uri(uri, hosts);
    }
    let (mut vault, mut name, mut version) = (None, None, None);
    for pair in inner.split(';').filter(|p| !p.is_empty()) {
        let (key, value) =
            pair.split_once('=')
                .ok_or(SecretRefError::MalformedAppServiceReference(
                    "expected Key=Value",
                ))?;
        let slot = match key {
            "VaultName" => &mut vault,
            "SecretName" => &mut name,
            "SecretVersion" => &mut version,
            _ => return Err(SecretRefError::MalformedAppServiceReference("unknown key")),
        };
        if slot.replace(value).is_some() {
            return Err(SecretRefError::MalformedAppServiceReference(
                "duplicate key",
            ));
        }
    }
    let vault = vault.ok_or(SecretRefError::MalformedAppServiceReference(
        "VaultName is missing",
    ))?;
    let name = name.ok_or(SecretRefError::MalformedAppServiceReference(
        "SecretName is missing",
    ))?;
    validate_vault_name(vault)?;
    build_keyvault(
        format!("{}{PUBLIC_SUFFIX}", vault.to_ascii_lowercase()),
        name,
        version,
    )
}

fn parse_secret_uri(uri: &str, hosts: &VaultHostPolicy) -> Result<SecretRef, SecretRefError> {
    // The URL parser would resolve dot segments (`a/../b` becomes `b`); refuse them instead.
    if uri
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
    {
        return Err(SecretRefError::InvalidPath(uri.to_owned()));
    }
    let url = url::Url::parse(uri).map_err(|_| SecretRefError::InvalidPath(uri.to_owned()))?;
    if url.scheme() != "https" {
        return Err(SecretRefError::NotHttps(uri.to_owned()));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(SecretRefError::InvalidPath(uri.to_owned()));
    }
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(SecretRefError::UntrustedHost(String::new())),
    };
    hosts.check(&host)?;
    let path = url.path().trim_end_matches('/');
    let mut parts = path.split('/').skip(1);
    if parts.next() != Some("secrets") {
        return Err(SecretRefError::InvalidPath(path.to_owned()));
    }
    let name = parts
        .next()
        .ok_or_else(|| SecretRefError::InvalidPath(path.to_owned()))?;
    let version = parts.next();
    if parts.next().is_some() {
        return Err(SecretRefError::InvalidPath(path.to_owned()));
    }
    build_keyvault(host.to_ascii_lowercase(), name, version)
}

fn build_keyvault(
    host: String,
    name: &str,
    version: Option<&str>,
) -> Result<SecretRef, SecretRefError> {
    let name_ok = (1..=127).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !name_ok {
        return Err(SecretRefError::InvalidSecretName(name.to_owned()));
    }
    let version = match version {
        None | Some("") => None,
        Some(v) if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(v.to_ascii_lowercase())
        }
        Some(v) => return Err(SecretRefError::InvalidVersion(v.to_owned())),
    };
    Ok(SecretRef::KeyVault {
        host,
        name: name.to_owned(),
        version,
    })
}

fn validate_vault_name(vault: &str) -> Result<(), SecretRefError> {
    let b = vault.as_bytes();
    let ok = (3..=24).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !vault.ends_with('-')
        && !vault.contains("--");
    if ok {
        Ok(())
    } else {
        Err(SecretRefError::InvalidVaultName(vault.to_owned()))
    }
}

impl fmt::Display for SecretRef {
    /// The canonical form: `keyvault://` with the short vault name in the public cloud, else the host.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyVault {
                host,
                name,
                version,
            } => {
                let vault = host.strip_suffix(PUBLIC_SUFFIX).unwrap_or(host);
                write!(f, "keyvault://{vault}/{name}")?;
                match version {
                    Some(v) => write!(f, "/{v}"),
                    None => Ok(()),
                }
            }
            Self::Env(name) => write!(f, "env://{name}"),
            Self::File(path) => write!(f, "file://{}", path.display()),
        }
    }
}

impl std::str::FromStr for SecretRef {
    type Err = SecretRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
