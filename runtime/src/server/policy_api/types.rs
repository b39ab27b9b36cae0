//! The policy service's public types: the typed error (one HTTP status each), which set, its mode, a version as read, a set's state, a put's outcome and a listed service.

use serde::Serialize;

use super::*;

/// Why a policy operation was refused or failed. Each variant is one HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// This server was not given a policy service (404).
    #[error("this server does not serve policies")]
    NotServed,
    /// The service, set or version does not exist (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The set, or the service's state it was checked against, changed meanwhile (412).
    #[error("{0}")]
    Stale(String),
    /// The policies would not load: the set, file, line and column (422).
    #[error("{0}")]
    Invalid(String),
    /// The store failed (503).
    #[error("policy store: {0}")]
    Store(String),
}

impl PolicyError {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotServed | Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Stale(_) => StatusCode::PRECONDITION_FAILED,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl From<PolicyError> for Problem {
    fn from(error: PolicyError) -> Self {
        match error {
            PolicyError::NotServed | PolicyError::NotFound(_) => {
                Problem::new(StatusCode::NOT_FOUND, "not found").with_detail(error.to_string())
            }
            PolicyError::Store(_) => {
                tracing::error!(%error, "policy service failure");
                Problem::unavailable()
            }
            other => bad(other.status(), other.to_string()),
        }
    }
}

pub(super) fn store_failed(error: impl std::fmt::Display) -> PolicyError {
    PolicyError::Store(error.to_string())
}

/// A service's policy set: the base set (its repository's `policies/`, for every tenant) or a
/// tenant's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySet {
    /// The service's base set.
    Base,
    /// A tenant's set.
    Tenant(TenantId),
}

impl PolicySet {
    pub(super) fn key(&self) -> &str {
        match self {
            Self::Base => "",
            Self::Tenant(t) => t.as_str(),
        }
    }

    /// `base` or `tenant <id>`, as messages and audit entries name it.
    pub fn name(&self) -> String {
        match self {
            Self::Base => "base".to_owned(),
            Self::Tenant(t) => format!("tenant {}", t.as_str()),
        }
    }
}

/// How a version is used: in force, or decided beside the active one and only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Enforced.
    Active,
    /// Evaluated beside the active set; a different decision is audited as a flip.
    Shadow,
}

impl PolicyMode {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Shadow => "shadow",
        }
    }
}

/// One version of a set.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyVersion {
    /// The version (per service, across its schema and sets).
    pub version: i64,
    /// `active` or `shadow`.
    pub mode: String,
    /// SHA-256 (hex) of the files as stored.
    pub hash: String,
    /// Who put it.
    pub author: String,
    /// When, Unix seconds.
    pub created_at: i64,
    /// Its files (left out of a history).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<BundleFile>>,
}

impl PolicyVersion {
    pub(super) fn of(row: &PolicySetRow, files: bool) -> Result<Self, PolicyError> {
        Ok(Self {
            version: row.version,
            mode: row.mode.clone(),
            hash: row.hash.clone(),
            author: row.author.clone(),
            created_at: row.created_at,
            files: if files {
                Some(files_of(Some(row))?)
            } else {
                None
            },
        })
    }
}

/// A set as it stands: its newest version (what `If-Match` names), the active version and a
/// newer shadow one.
#[derive(Clone, Debug, Serialize)]
pub struct SetState {
    /// `base` or `tenant <id>`.
    pub set: String,
    /// The newest version, active or shadow (0 for none).
    pub newest: i64,
    /// The version in force.
    pub active: Option<PolicyVersion>,
    /// A shadow version newer than it.
    pub shadow: Option<PolicyVersion>,
}

/// A version stored by a put or a rollback.
#[derive(Clone, Debug, Serialize)]
pub struct PutOutcome {
    /// Its version.
    pub version: i64,
    /// Its mode.
    pub mode: PolicyMode,
    /// SHA-256 (hex) of its files.
    pub hash: String,
}

/// A service with policies, as listed.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceSummary {
    /// The service (its client id).
    pub service: String,
    /// Its newest version: its bundle's.
    pub version: i64,
    /// The tenants with a set of their own (those the caller may see).
    pub tenants: Vec<String>,
}
