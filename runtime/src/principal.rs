//! The authenticated caller as plain values: `Principal`, `TenantId` and `PrincipalKind`, with their axum extractors.

use std::fmt;
use std::str::FromStr;

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// The longest tenant identifier accepted anywhere (path, header, token or subdomain).
pub const MAX_TENANT_ID_LEN: usize = 63;

/// A tenant identifier: 1 to 63 characters of ASCII lowercase letters, digits, `-` and `_`,
/// starting with a letter or digit, so it is safe in a DNS label, a path segment and a SQL setting.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

/// Why a string is not a [`TenantId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TenantIdError {
    /// The identifier was empty.
    #[error("tenant id is empty")]
    Empty,
    /// The identifier was longer than [`MAX_TENANT_ID_LEN`].
    #[error("tenant id is longer than {MAX_TENANT_ID_LEN} characters")]
    TooLong,
    /// The identifier held a character outside `[a-z0-9_-]` or started with `-` or `_`.
    #[error("tenant id may only hold a-z, 0-9, '-' and '_' and must start with a letter or digit")]
    InvalidCharacter,
}

impl TenantId {
    /// Parses and validates a tenant identifier.
    pub fn new(value: impl Into<String>) -> Result<Self, TenantIdError> {
        let value = value.into();
        if value.is_empty() {
            return Err(TenantIdError::Empty);
        }
        if value.len() > MAX_TENANT_ID_LEN {
            return Err(TenantIdError::TooLong);
        }
        let valid_char =
            |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_';
        let first_ok = value.as_bytes()[0].is_ascii_alphanumeric();
        if !first_ok || !value.bytes().all(valid_char) {
            return Err(TenantIdError::InvalidCharacter);
        }
        Ok(Self(value))
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantId {
    type Err = TenantIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for TenantId {
    type Error = TenantIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

/// What kind of party a principal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PrincipalKind {
    /// A human signed in through an interactive flow.
    User,
    /// A service identity using client credentials.
    Service,
    /// The bearer of an opaque API token.
    ApiToken,
    /// An agent acting within the scope its definition grants.
    Agent,
}

impl PrincipalKind {
    /// The kind's name as used in tokens, policies and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Service => "service",
            Self::ApiToken => "api_token",
            Self::Agent => "agent",
        }
    }

    /// Parses a kind's name; `None` for an unknown one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(Self::User),
            "service" => Some(Self::Service),
            "api_token" => Some(Self::ApiToken),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }
}

/// An authenticated caller. It is only ever built by the authentication layer (or by tests),
/// and handlers read it from request extensions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The tenant the caller belongs to; authoritative for every tenant check.
    pub tenant: TenantId,
    /// The subject (`sub`): a user id, a service identity or a token id.
    pub subject: String,
    /// What kind of party the caller is.
    pub kind: PrincipalKind,
    /// Coarse roles. The authentication layer keeps them sorted and without duplicates, but
    /// nothing relies on that: a principal built by hand may list them in any order.
    pub roles: Vec<String>,
    /// OAuth scopes, kept like `roles`: sorted by the authentication layer, in any order otherwise.
    pub scopes: Vec<String>,
    /// The OAuth client the token was issued to, when known.
    pub client_id: Option<String>,
}

impl Principal {
    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        // A linear scan, not a binary search: the fields are public, so sortedness cannot be
        // promised, and role lists are short.
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the principal holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Sorts and de-duplicates roles and scopes, so equal principals compare and serialise equal.
    pub fn normalized(mut self) -> Self {
        self.roles.sort();
        self.roles.dedup();
        self.scopes.sort();
        self.scopes.dedup();
        self
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(Problem::missing_layer)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TenantId {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .map(|p| p.tenant.clone())
            .ok_or_else(Problem::missing_layer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<(), TenantIdError>) {
        assert_eq!(
            TenantId::new(input).map(|_| ()),
            expected,
            "input {input:?}"
        );
    }

    #[test]
    fn tenant_ids() {
        check("acme", Ok(()));
        check("a-1_b", Ok(()));
        check("", Err(TenantIdError::Empty));
        check(&"a".repeat(64), Err(TenantIdError::TooLong));
        check("Acme", Err(TenantIdError::InvalidCharacter));
        check("-acme", Err(TenantIdError::InvalidCharacter));
        check("ac/me", Err(TenantIdError::InvalidCharacter));
        check("ac me", Err(TenantIdError::InvalidCharacter));
        check("acmé", Err(TenantIdError::InvalidCharacter));
        check("..", Err(TenantIdError::InvalidCharacter));
    }
}
