//! What a client registration may say: the grants on offer and the checks a `ClientSpec` passes before it is stored.

use serde_json::Value;

use super::ServerError;
use super::store::GrantType;

/// What to create a client with.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    /// The owning tenant.
    pub tenant: String,
    /// A display name (shown on the login page).
    pub name: String,
    /// Allowed grants (`client_credentials`, `authorization_code`, `refresh_token`).
    pub grant_types: Vec<String>,
    /// Scopes it may ask for.
    pub scopes: Vec<String>,
    /// Roles its own (client-credentials) tokens carry.
    pub roles: Vec<String>,
    /// Audiences (`aud`) its tokens may name; with more than one, a request names one (`resource`).
    pub audiences: Vec<String>,
    /// Redirect URIs for the code flow, compared exactly.
    pub redirect_uris: Vec<String>,
    /// Where `/end_session` may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; code flow with PKCE only).
    pub public: bool,
    /// A JWKS for `private_key_jwt` instead of a secret.
    pub jwks: Option<Value>,
    /// A resource server that may call `/introspect`: it learns about tokens of its own tenant
    /// whose audience is one of its `audiences`, and no others. Off unless asked for.
    pub introspection: bool,
}

impl ClientSpec {
    /// Checks the registration: a name, known grants that fit the client (no client credentials
    /// for a public client, redirect URIs for the code flow), an audience, https redirect URIs
    /// without fragments (http only on loopback unless plain HTTP is allowed), a usable JWKS.
    /// Returns the grants, parsed.
    pub(crate) fn validate(&self, allow_http: bool) -> Result<Vec<GrantType>, ServerError> {
        let spec = self;
        let invalid = |m: String| Err(ServerError::Invalid(m));
        if spec.name.is_empty() {
            return invalid("a client needs a name".into());
        }
        if spec.grant_types.is_empty() {
            return invalid("a client needs at least one grant type".into());
        }
        let mut grants = Vec::new();
        for name in &spec.grant_types {
            let Ok(grant) = name.parse::<GrantType>() else {
                let offered: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
                return invalid(format!(
                    "grant type {name:?} is not offered (only {})",
                    offered.join(", ")
                ));
            };
            if !grants.contains(&grant) {
                grants.push(grant);
            }
        }
        if spec.public && spec.introspection {
            return invalid("a public client cannot introspect tokens".into());
        }
        if spec.public && grants.contains(&GrantType::ClientCredentials) {
            return invalid("a public client cannot use client_credentials".into());
        }
        if grants.contains(&GrantType::AuthorizationCode) && spec.redirect_uris.is_empty() {
            return invalid("the authorization_code grant needs at least one redirect URI".into());
        }
        if spec.audiences.is_empty() {
            return invalid("a client needs at least one audience for its tokens".into());
        }
        for uri in spec
            .redirect_uris
            .iter()
            .chain(&spec.post_logout_redirect_uris)
        {
            let url = url::Url::parse(uri)
                .map_err(|e| ServerError::Invalid(format!("redirect URI {uri:?}: {e}")))?;
            let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
            let scheme_ok =
                url.scheme() == "https" || (url.scheme() == "http" && (loopback || allow_http));
            if !scheme_ok || url.fragment().is_some() {
                return invalid(format!(
                    "redirect URI {uri:?} must be https (http only on loopback) and without a fragment"
                ));
            }
        }
        if let Some(jwks) = &spec.jwks {
            let keys: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone())
                .map_err(|e| ServerError::Invalid(format!("client JWKS: {e}")))?;
            if keys.keys.is_empty() {
                return invalid("the client JWKS holds no key".into());
            }
        }
        Ok(grants)
    }
}
