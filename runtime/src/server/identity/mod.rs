//! Tenants, clients / service identities, API tokens, signing-key operations and development tokens: the administrative operations, each audited (users are in `users.rs`).

mod users;

pub use super::client_spec::ClientSpec;
use super::store::{ClientRow, NewApiToken, Store, StoreError, UserRow};
use super::{
    API_TOKEN_PREFIX, AuthorizationServer, CLIENT_SECRET_PREFIX, ServerError, digest, new_secret,
};
use crate::audit::{Outcome, event_type};
use crate::principal::{PrincipalKind, TenantId};
use crate::secrets::Secret;
pub use users::{MAX_PASSWORD, MAX_USERNAME};

/// A created client: the secret is shown once and only its hash is kept.
#[derive(Debug)]
pub struct CreatedClient {
    /// The client id.
    pub client_id: String,
    /// The secret, for a confidential client that authenticates with one.
    pub client_secret: Option<Secret>,
}

/// A user to create.
#[derive(Debug)]
pub struct NewUser {
    /// The tenant.
    pub tenant: String,
    /// The sign-in name, unique in the tenant.
    pub username: String,
    /// The password (hashed with argon2id, never stored).
    pub password: Secret,
    /// Roles the user's tokens carry.
    pub roles: Vec<String>,
}

/// A client as stored.
pub(crate) type Client = ClientRow;
/// A user as stored.
pub(crate) type User = UserRow;

/// The `client_id` of development tokens: no client has it.
pub const DEVELOPMENT_CLIENT_ID: &str = "palisade-development";

/// A development access token to sign ([`Identities::development_token`]).
#[derive(Debug, Clone, Default)]
pub struct DevelopmentToken {
    /// The tenant (`tenant_id`).
    pub tenant: String,
    /// The service it is for (`aud`).
    pub audience: String,
    /// Who it names (`sub`).
    pub subject: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its scopes.
    pub scopes: Vec<String>,
}

/// An API token to create.
#[derive(Debug, Clone, Default)]
pub struct ApiTokenSpec {
    /// The tenant.
    pub tenant: String,
    /// A display name.
    pub name: String,
    /// The resource servers (`aud`) it is good for; at least one. Introspection answers it as
    /// inactive to any other.
    pub audiences: Vec<String>,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its lifetime in seconds.
    pub ttl: i64,
}

/// A created API token: the value is shown once.
#[derive(Debug)]
pub struct CreatedApiToken {
    /// Its id, for listing and revocation.
    pub id: String,
    /// The token (`plsd_at_...`).
    pub token: Secret,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

/// An API token as listed: never its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiTokenInfo {
    /// Its id.
    pub id: String,
    /// The tenant.
    pub tenant: TenantId,
    /// A display name.
    pub name: String,
    /// The subject its introspection names.
    pub subject: String,
    /// The resource servers (`aud`) it is good for.
    pub audiences: Vec<String>,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// Its roles.
    pub roles: Vec<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Expires, Unix seconds.
    pub expires_at: i64,
    /// Revoked, Unix seconds.
    pub revoked_at: Option<i64>,
}

/// The administrative operations. Every change is audited.
#[derive(Debug, Clone)]
pub struct Identities {
    server: AuthorizationServer,
    /// Who the changes are made by, for the audit entries: a subject and its client.
    actor: Option<(String, Option<String>)>,
}

impl Identities {
    pub(crate) fn new(server: AuthorizationServer) -> Self {
        Self {
            server,
            actor: None,
        }
    }

    /// Names who makes the changes (an admin token's subject and client, or a local operator),
    /// so every audit entry says who acted.
    pub fn acting_as(mut self, subject: &str, client_id: Option<&str>) -> Self {
        self.actor = Some((subject.to_owned(), client_id.map(str::to_owned)));
        self
    }

    /// Names the operating-system user and host as the actor (`operator:alice@host`): what a
    /// command line that changes identities directly should use.
    pub fn acting_as_local_operator(self) -> Self {
        let subject = local_operator();
        self.acting_as(&subject, None)
    }

    /// Withdraws a compromised signing key at once (see [`KeyRing`](super::KeyRing)), audited
    /// with this caller as the actor.
    pub async fn revoke_key(&self, kid: &str) -> Result<(), ServerError> {
        if !self
            .server
            .inner
            .keys
            .revoke(kid, self.server.now())
            .await?
        {
            return Err(ServerError::NotFound(format!("signing key {kid}")));
        }
        // Claims verified under that key must not be served from the cache.
        self.server.inner.verified.invalidate_all();
        self.audit("keys.revoke", None, &format!("key/{kid}")).await;
        Ok(())
    }

    /// Signs an access token for a local service in development, without a client: the
    /// control plane's `token` command, so a freshly generated service can be called at once.
    /// Refused unless plain HTTP is allowed (the development profile); audited with this caller
    /// as the actor. Its `client_id` is [`DEVELOPMENT_CLIENT_ID`], which no client has, so
    /// introspection answers it inactive: it is for services that validate JWTs themselves.
    pub async fn development_token(&self, spec: DevelopmentToken) -> Result<String, ServerError> {
        let config = self.server.config();
        if !config.allow_insecure_http {
            return Err(ServerError::Invalid(
                "development tokens are signed only in development (issuer.allow_insecure_http)"
                    .into(),
            ));
        }
        let tenant = self.existing_tenant(&spec.tenant).await?;
        if spec.audience.is_empty() || spec.subject.is_empty() {
            return Err(ServerError::Invalid(
                "a development token needs an audience and a subject".into(),
            ));
        }
        let now = self.server.now();
        let (token, jti) = super::token::access_token(
            &self.server,
            &super::token::AccessClaims {
                subject: &spec.subject,
                client_id: DEVELOPMENT_CLIENT_ID,
                tenant: &tenant,
                roles: &spec.roles,
                scopes: &spec.scopes,
                audience: &spec.audience,
                kind: Some("user"),
            },
            now,
        )
        .await
        .map_err(|e| ServerError::Invalid(e.description))?;
        self.audit_event(
            event_type::TOKEN_ISSUED,
            "token.development",
            Some(&tenant),
            &format!("jti/{jti}"),
        )
        .await;
        Ok(token)
    }

    /// Rotates the signing keys, audited with this caller as the actor.
    pub async fn rotate_keys(&self) -> Result<(), ServerError> {
        self.server.inner.keys.rotate(self.server.now()).await?;
        self.audit("keys.rotate", None, "keys").await;
        Ok(())
    }

    fn store(&self) -> &Store {
        &self.server.inner.store
    }

    async fn audit(&self, action: &str, tenant: Option<&TenantId>, resource: &str) {
        self.audit_event(event_type::ADMIN_CHANGE, action, tenant, resource)
            .await;
    }

    /// An audit entry naming this caller as the actor.
    async fn audit_event(
        &self,
        event_type: &str,
        action: &str,
        tenant: Option<&TenantId>,
        resource: &str,
    ) {
        let mut entry = self
            .server
            .entry(event_type, action, Outcome::Success)
            .resource(resource);
        if let Some((subject, client_id)) = &self.actor {
            let kind = if client_id.as_deref() == Some(subject.as_str()) {
                PrincipalKind::Service
            } else {
                PrincipalKind::User
            };
            entry = entry.actor(subject, kind, client_id.as_deref());
        }
        if let Some(tenant) = tenant {
            entry = entry.tenant(tenant);
        }
        self.server.audit(entry).await;
    }

    /// Creates a tenant.
    pub async fn create_tenant(&self, id: &str, name: &str) -> Result<(), ServerError> {
        let tenant = tenant_id(id)?;
        no_secret("tenant name", [name])?;
        match self
            .store()
            .insert_tenant(&tenant, name, self.server.now())
            .await
        {
            Err(StoreError::Duplicate) => {
                return Err(ServerError::Invalid(format!("tenant {id} already exists")));
            }
            other => other?,
        }
        self.audit("tenant.create", Some(&tenant), &format!("tenant/{id}"))
            .await;
        Ok(())
    }

    /// The tenants' ids, sorted.
    pub async fn tenants(&self) -> Result<Vec<String>, ServerError> {
        let ids = self.store().tenant_ids().await?;
        Ok(ids.into_iter().map(String::from).collect())
    }

    /// The tenant, if it exists.
    pub(crate) async fn existing_tenant(&self, tenant: &str) -> Result<TenantId, ServerError> {
        let not_found = || ServerError::NotFound(format!("tenant {tenant}"));
        let id = TenantId::new(tenant).map_err(|_| not_found())?;
        if self.store().tenant_exists(&id).await? {
            Ok(id)
        } else {
            Err(not_found())
        }
    }

    /// Creates a client (a service identity when it has the client-credentials grant).
    pub async fn create_client(&self, spec: ClientSpec) -> Result<CreatedClient, ServerError> {
        let tenant = self.existing_tenant(&spec.tenant).await?;
        no_secret("client name", [&spec.name])?;
        no_secret("redirect URI", &spec.redirect_uris)?;
        no_secret("post-logout redirect URI", &spec.post_logout_redirect_uris)?;
        no_secret("audience", &spec.audiences)?;
        no_secret("scope", &spec.scopes)?;
        no_secret("role", &spec.roles)?;
        let grant_types = spec.validate(self.server.config().allow_insecure_http)?;
        let client_id = format!(
            "{}-{}",
            spec.tenant,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let secret =
            (!spec.public && spec.jwks.is_none()).then(|| new_secret(CLIENT_SECRET_PREFIX));
        let row = ClientRow {
            client_id,
            tenant_id: tenant,
            name: spec.name,
            secret_hash: secret.as_deref().map(digest),
            jwks: spec.jwks,
            grant_types,
            scopes: spec.scopes,
            roles: spec.roles,
            audiences: spec.audiences,
            redirect_uris: spec.redirect_uris,
            post_logout_redirect_uris: spec.post_logout_redirect_uris,
            may_introspect: spec.introspection,
            disabled: false,
        };
        self.store().insert_client(&row, self.server.now()).await?;
        self.audit(
            "client.create",
            Some(&row.tenant_id),
            &format!("client/{}", row.client_id),
        )
        .await;
        Ok(CreatedClient {
            client_id: row.client_id,
            client_secret: secret.map(Secret::new),
        })
    }

    /// Replaces a confidential client's secret; the old one stops working at once.
    pub async fn rotate_client_secret(&self, client_id: &str) -> Result<Secret, ServerError> {
        let client = self
            .client(client_id)
            .await?
            .filter(|c| c.secret_hash.is_some())
            .ok_or_else(|| ServerError::NotFound(format!("client {client_id} with a secret")))?;
        let secret = new_secret(CLIENT_SECRET_PREFIX);
        self.store()
            .set_client_secret_hash(client_id, &digest(&secret))
            .await?;
        self.server.inner.clients.invalidate(client_id);
        self.audit(
            "client.rotate_secret",
            Some(&client.tenant_id),
            &format!("client/{client_id}"),
        )
        .await;
        Ok(Secret::new(secret))
    }

    /// Disables or re-enables a client: a disabled client authenticates nowhere.
    pub async fn set_client_disabled(
        &self,
        client_id: &str,
        disabled: bool,
    ) -> Result<(), ServerError> {
        let client = self.store().client(client_id).await?;
        let done = self
            .store()
            .set_client_disabled(client_id, disabled)
            .await?;
        self.server.inner.clients.invalidate(client_id);
        let (Some(client), true) = (client, done) else {
            return Err(ServerError::NotFound(format!("client {client_id}")));
        };
        let action = if disabled {
            "client.disable"
        } else {
            "client.enable"
        };
        self.audit(
            action,
            Some(&client.tenant_id),
            &format!("client/{client_id}"),
        )
        .await;
        Ok(())
    }

    pub(crate) async fn client(&self, client_id: &str) -> Result<Option<Client>, ServerError> {
        let cache = &self.server.inner.clients;
        if let Some(cached) = cache.get(client_id) {
            return Ok(cached.map(|c| (*c).clone()));
        }
        let client = self.store().client(client_id).await?;
        cache.insert(
            client_id.to_owned(),
            client.clone().map(std::sync::Arc::new),
        );
        Ok(client)
    }

    /// Creates an API token: opaque, prefixed, bound to its audiences, scoped, expiring in `ttl`
    /// seconds (at most the configured maximum); only its SHA-256 is stored.
    pub async fn create_api_token(
        &self,
        spec: ApiTokenSpec,
    ) -> Result<CreatedApiToken, ServerError> {
        let ApiTokenSpec {
            tenant,
            name,
            audiences,
            scopes,
            roles,
            ttl,
        } = spec;
        let tenant = self.existing_tenant(&tenant).await?;
        no_secret("API token name", [&name])?;
        no_secret("audience", &audiences)?;
        no_secret("scope", &scopes)?;
        no_secret("role", &roles)?;
        if audiences.is_empty() || audiences.iter().any(String::is_empty) {
            return Err(ServerError::Invalid(
                "an API token needs at least one audience (the resource servers it is for)".into(),
            ));
        }
        let max = self.server.config().api_token_max_ttl;
        if ttl <= 0 || ttl > max {
            return Err(ServerError::Invalid(format!(
                "an API token lives 1 to {max} seconds, not {ttl}"
            )));
        }
        let token = new_secret(API_TOKEN_PREFIX);
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.server.now();
        self.store()
            .insert_api_token(&NewApiToken {
                id: &id,
                tenant: &tenant,
                name: &name,
                token_hash: &digest(&token),
                subject: &format!("api-token:{id}"),
                audiences: &audiences,
                scopes: &scopes,
                roles: &roles,
                created_at: now,
                expires_at: now + ttl,
            })
            .await?;
        self.audit(
            "api_token.create",
            Some(&tenant),
            &format!("api-token/{id}"),
        )
        .await;
        Ok(CreatedApiToken {
            id,
            token: Secret::new(token),
            expires_at: now + ttl,
        })
    }

    /// A tenant's API tokens, without their values.
    pub async fn api_tokens(&self, tenant: &str) -> Result<Vec<ApiTokenInfo>, ServerError> {
        // An id that cannot be a tenant has no tokens.
        let Ok(tenant) = TenantId::new(tenant) else {
            return Ok(Vec::new());
        };
        Ok(self.store().api_tokens(&tenant).await?)
    }

    /// Revokes an API token of `tenant`.
    pub async fn revoke_api_token(&self, tenant: &str, id: &str) -> Result<(), ServerError> {
        let not_found =
            || ServerError::NotFound(format!("active API token {id} in tenant {tenant}"));
        let tenant = TenantId::new(tenant).map_err(|_| not_found())?;
        if !self
            .store()
            .revoke_api_token(&tenant, id, self.server.now())
            .await?
        {
            return Err(not_found());
        }
        self.audit_event(
            event_type::TOKEN_REVOKED,
            "api_token.revoke",
            Some(&tenant),
            &format!("api-token/{id}"),
        )
        .await;
        Ok(())
    }
}

/// `operator:<user>@<host>` from the environment (`USER` or `USERNAME`; `HOSTNAME`, else
/// `/etc/hostname`), with `unknown` for what cannot be found.
pub(crate) fn local_operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!("operator:{user}@{host}")
}

/// A tenant id from an administrative request, or why it is not one.
fn tenant_id(id: &str) -> Result<TenantId, ServerError> {
    TenantId::new(id).map_err(|e| ServerError::Invalid(format!("tenant id {id:?}: {e}")))
}

/// Refuses free text that holds what the secret scanner finds (a token pasted into a client's
/// name, a URI with a password): it would be kept in the database and copied into the audit trail.
/// The message names the field and the rule, never the value.
pub(crate) fn no_secret<I, S>(field: &str, values: I) -> Result<(), ServerError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    static SCANNER: std::sync::OnceLock<palisade_scan::Scanner> = std::sync::OnceLock::new();
    let scanner = SCANNER.get_or_init(palisade_scan::Scanner::builtin);
    for value in values {
        if let Some(found) = scanner.scan_text(field, value.as_ref()).findings.first() {
            return Err(ServerError::Invalid(format!(
                "the {field} holds what looks like a secret ({}): keep secrets out of names, \
                 URIs and descriptions",
                found.rule
            )));
        }
    }
    Ok(())
}
