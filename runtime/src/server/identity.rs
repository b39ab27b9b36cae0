//! Tenants, users (argon2id passwords), clients / service identities and API tokens: the administrative operations, each audited.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde_json::Value;
use sqlx::Row;

pub use super::client_spec::{ClientSpec, GRANT_TYPES};
use super::store::{from_list, opt_text, to_list};
use super::{
    API_TOKEN_PREFIX, AuthorizationServer, CLIENT_SECRET_PREFIX, ServerError, digest, new_secret,
};
use crate::audit::{Outcome, event_type};
use crate::principal::{PrincipalKind, TenantId};
use crate::secrets::Secret;

/// A created client: the secret is shown once and only its hash is kept.
#[derive(Debug)]
pub struct CreatedClient {
    /// The client id.
    pub client_id: String,
    /// The secret, for a confidential client that authenticates with one.
    pub client_secret: Option<Secret>,
}

/// A client as stored.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) client_id: String,
    pub(crate) tenant_id: String,
    pub(crate) name: String,
    pub(crate) secret_hash: Option<String>,
    pub(crate) jwks: Option<Value>,
    pub(crate) grant_types: Vec<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) post_logout_redirect_uris: Vec<String>,
    pub(crate) disabled: bool,
}

impl Client {
    pub(crate) fn allows(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    pub(crate) fn is_public(&self) -> bool {
        self.secret_hash.is_none() && self.jwks.is_none()
    }
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

/// A user as stored.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) username: String,
    pub(crate) roles: Vec<String>,
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
    pub tenant: String,
    /// A display name.
    pub name: String,
    /// The subject its introspection names.
    pub subject: String,
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

/// The longest user name and password looked at; longer ones never verify.
const MAX_NAME: usize = 200;
const MAX_PASSWORD: usize = 1024;

/// A fixed argon2id hash that unknown users are verified against, so both answers take as long.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$cGFsaXNhZGVkdW1teQ$9e2mLMLS2O6m4i7F3VqxUw6jI3I2yWc9k6V7o0dQ1dY";

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

    fn pool(&self) -> &sqlx::AnyPool {
        &self.server.inner.store.pool
    }

    async fn audit(&self, action: &str, tenant: Option<&str>, resource: &str) {
        let mut entry = self
            .server
            .entry(event_type::ADMIN_CHANGE, action, Outcome::Success)
            .resource(resource);
        if let Some((subject, client_id)) = &self.actor {
            let kind = if client_id.as_deref() == Some(subject.as_str()) {
                PrincipalKind::Service
            } else {
                PrincipalKind::User
            };
            entry = entry.actor(subject, kind, client_id.as_deref());
        }
        if let Some(tenant) = tenant.and_then(|t| TenantId::new(t).ok()) {
            entry = entry.tenant(&tenant);
        }
        self.server.audit(entry).await;
    }

    /// Creates a tenant.
    pub async fn create_tenant(&self, id: &str, name: &str) -> Result<(), ServerError> {
        TenantId::new(id).map_err(|e| ServerError::Invalid(format!("tenant id {id:?}: {e}")))?;
        let exists = sqlx::query("SELECT id FROM palisade_tenants WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        if exists.is_some() {
            return Err(ServerError::Invalid(format!("tenant {id} already exists")));
        }
        sqlx::query("INSERT INTO palisade_tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(self.server.now())
            .execute(self.pool())
            .await
            .map_err(|e| match e {
                // Another replica created it between the check and the insert.
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    ServerError::Invalid(format!("tenant {id} already exists"))
                }
                other => other.into(),
            })?;
        self.audit("tenant.create", Some(id), &format!("tenant/{id}"))
            .await;
        Ok(())
    }

    /// The tenants' ids, sorted.
    pub async fn tenants(&self) -> Result<Vec<String>, ServerError> {
        let rows = sqlx::query("SELECT id FROM palisade_tenants ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(ServerError::from))
            .collect()
    }

    async fn require_tenant(&self, tenant: &str) -> Result<(), ServerError> {
        sqlx::query("SELECT id FROM palisade_tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(self.pool())
            .await?
            .map(|_| ())
            .ok_or_else(|| ServerError::NotFound(format!("tenant {tenant}")))
    }

    /// Creates a user with an argon2id password hash.
    pub async fn create_user(&self, user: NewUser) -> Result<String, ServerError> {
        self.require_tenant(&user.tenant).await?;
        if user.username.is_empty() || user.username.len() > MAX_NAME {
            return Err(ServerError::Invalid(
                "username must be 1 to 200 characters".into(),
            ));
        }
        if user.password.expose().chars().count() < 12 {
            return Err(ServerError::Invalid(
                "password must have at least 12 characters".into(),
            ));
        }
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let hash = Argon2::default()
            .hash_password(user.password.expose().as_bytes(), &salt)
            .map_err(|_| ServerError::PasswordHash)?
            .to_string();
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO palisade_users (id, tenant_id, username, password_hash, roles, disabled, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6)",
        )
        .bind(&id)
        .bind(&user.tenant)
        .bind(&user.username)
        .bind(hash)
        .bind(to_list(&user.roles))
        .bind(self.server.now())
        .execute(self.pool())
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => ServerError::Invalid(format!(
                "user {} already exists in tenant {}",
                user.username, user.tenant
            )),
            other => other.into(),
        })?;
        self.audit("user.create", Some(&user.tenant), &format!("user/{id}"))
            .await;
        Ok(id)
    }

    /// Checks a password. Unknown users are verified against a fixed hash, so the answer takes
    /// the same time; a disabled user never verifies.
    pub(crate) async fn verify_user(
        &self,
        tenant: &str,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, ServerError> {
        if username.len() > MAX_NAME || password.len() > MAX_PASSWORD {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, tenant_id, username, password_hash, roles, disabled FROM palisade_users WHERE tenant_id = $1 AND username = $2",
        )
        .bind(tenant)
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        let stored = match &row {
            Some(r) => r.try_get::<String, _>("password_hash")?,
            None => DUMMY_HASH.to_owned(),
        };
        // argon2 takes memory and a core for a while: off the async threads, a few at a time.
        let _permit = self
            .server
            .inner
            .password_checks
            .acquire()
            .await
            .map_err(|_| ServerError::PasswordHash)?;
        let password = zeroize::Zeroizing::new(password.to_owned());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&stored).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .map_err(|_| ServerError::PasswordHash)?;
        match row {
            Some(r) if ok && r.try_get::<i64, _>("disabled")? == 0 => Ok(Some(user_of(&r)?)),
            _ => Ok(None),
        }
    }

    pub(crate) async fn user(&self, id: &str) -> Result<Option<User>, ServerError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, username, roles, disabled FROM palisade_users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) if r.try_get::<i64, _>("disabled")? == 0 => Ok(Some(user_of(&r)?)),
            _ => Ok(None),
        }
    }

    /// Creates a client (a service identity when it has the client-credentials grant).
    pub async fn create_client(&self, spec: ClientSpec) -> Result<CreatedClient, ServerError> {
        self.require_tenant(&spec.tenant).await?;
        spec.validate(self.server.config().allow_insecure_http)?;
        let client_id = format!(
            "{}-{}",
            spec.tenant,
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let secret =
            (!spec.public && spec.jwks.is_none()).then(|| new_secret(CLIENT_SECRET_PREFIX));
        sqlx::query(
            "INSERT INTO palisade_clients (client_id, tenant_id, name, secret_hash, jwks, grant_types, scopes, roles, audiences, redirect_uris, post_logout_redirect_uris, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, $12)",
        )
        .bind(&client_id)
        .bind(&spec.tenant)
        .bind(&spec.name)
        .bind(secret.as_deref().map(digest))
        .bind(spec.jwks.as_ref().map(Value::to_string))
        .bind(to_list(&spec.grant_types))
        .bind(to_list(&spec.scopes))
        .bind(to_list(&spec.roles))
        .bind(to_list(&spec.audiences))
        .bind(to_list(&spec.redirect_uris))
        .bind(to_list(&spec.post_logout_redirect_uris))
        .bind(self.server.now())
        .execute(self.pool())
        .await?;
        self.audit(
            "client.create",
            Some(&spec.tenant),
            &format!("client/{client_id}"),
        )
        .await;
        Ok(CreatedClient {
            client_id,
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
        sqlx::query("UPDATE palisade_clients SET secret_hash = $1 WHERE client_id = $2")
            .bind(digest(&secret))
            .bind(client_id)
            .execute(self.pool())
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
        let done = sqlx::query("UPDATE palisade_clients SET disabled = $1 WHERE client_id = $2")
            .bind(i64::from(disabled))
            .bind(client_id)
            .execute(self.pool())
            .await?
            .rows_affected();
        self.server.inner.clients.invalidate(client_id);
        if done == 0 {
            return Err(ServerError::NotFound(format!("client {client_id}")));
        }
        let action = if disabled {
            "client.disable"
        } else {
            "client.enable"
        };
        self.audit(action, None, &format!("client/{client_id}"))
            .await;
        Ok(())
    }

    pub(crate) async fn client(&self, client_id: &str) -> Result<Option<Client>, ServerError> {
        let cache = &self.server.inner.clients;
        if let Some(cached) = cache.get(client_id) {
            return Ok(cached.map(|c| (*c).clone()));
        }
        let client = self.read_client(client_id).await?;
        cache.insert(
            client_id.to_owned(),
            client.clone().map(std::sync::Arc::new),
        );
        Ok(client)
    }

    async fn read_client(&self, client_id: &str) -> Result<Option<Client>, ServerError> {
        let row = sqlx::query("SELECT * FROM palisade_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(self.pool())
            .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(Client {
            client_id: r.try_get("client_id")?,
            tenant_id: r.try_get("tenant_id")?,
            name: r.try_get("name")?,
            secret_hash: opt_text(&r, "secret_hash")?,
            jwks: opt_text(&r, "jwks")?.and_then(|j| serde_json::from_str(&j).ok()),
            grant_types: from_list(&r.try_get::<String, _>("grant_types")?),
            scopes: from_list(&r.try_get::<String, _>("scopes")?),
            roles: from_list(&r.try_get::<String, _>("roles")?),
            audiences: from_list(&r.try_get::<String, _>("audiences")?),
            redirect_uris: from_list(&r.try_get::<String, _>("redirect_uris")?),
            post_logout_redirect_uris: from_list(
                &r.try_get::<String, _>("post_logout_redirect_uris")?,
            ),
            disabled: r.try_get::<i64, _>("disabled")? != 0,
        }))
    }

    /// Creates an API token: opaque, prefixed, scoped, expiring in `ttl` seconds (at most the
    /// configured maximum); only its SHA-256 is stored.
    pub async fn create_api_token(
        &self,
        tenant: &str,
        name: &str,
        scopes: &[String],
        roles: &[String],
        ttl: i64,
    ) -> Result<CreatedApiToken, ServerError> {
        self.require_tenant(tenant).await?;
        let max = self.server.config().api_token_max_ttl;
        if ttl <= 0 || ttl > max {
            return Err(ServerError::Invalid(format!(
                "an API token lives 1 to {max} seconds, not {ttl}"
            )));
        }
        let token = new_secret(API_TOKEN_PREFIX);
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.server.now();
        sqlx::query(
            "INSERT INTO palisade_api_tokens (id, tenant_id, name, token_hash, subject, scopes, roles, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(tenant)
        .bind(name)
        .bind(digest(&token))
        .bind(format!("api-token:{id}"))
        .bind(to_list(scopes))
        .bind(to_list(roles))
        .bind(now)
        .bind(now + ttl)
        .execute(self.pool())
        .await?;
        self.audit("api_token.create", Some(tenant), &format!("api-token/{id}"))
            .await;
        Ok(CreatedApiToken {
            id,
            token: Secret::new(token),
            expires_at: now + ttl,
        })
    }

    /// A tenant's API tokens, without their values.
    pub async fn api_tokens(&self, tenant: &str) -> Result<Vec<ApiTokenInfo>, ServerError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, name, subject, scopes, roles, created_at, expires_at, revoked_at FROM palisade_api_tokens WHERE tenant_id = $1 ORDER BY created_at, id",
        )
        .bind(tenant)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiTokenInfo {
                    id: r.try_get("id")?,
                    tenant: r.try_get("tenant_id")?,
                    name: r.try_get("name")?,
                    subject: r.try_get("subject")?,
                    scopes: from_list(&r.try_get::<String, _>("scopes")?),
                    roles: from_list(&r.try_get::<String, _>("roles")?),
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// Revokes an API token of `tenant`.
    pub async fn revoke_api_token(&self, tenant: &str, id: &str) -> Result<(), ServerError> {
        let done = sqlx::query(
            "UPDATE palisade_api_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(self.server.now())
        .bind(tenant)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if done == 0 {
            return Err(ServerError::NotFound(format!(
                "active API token {id} in tenant {tenant}"
            )));
        }
        self.server
            .audit(
                self.server
                    .entry(
                        event_type::TOKEN_REVOKED,
                        "api_token.revoke",
                        Outcome::Success,
                    )
                    .tenant(
                        &TenantId::new(tenant).map_err(|e| ServerError::Invalid(e.to_string()))?,
                    )
                    .resource(&format!("api-token/{id}")),
            )
            .await;
        Ok(())
    }
}

fn user_of(r: &sqlx::any::AnyRow) -> Result<User, ServerError> {
    Ok(User {
        id: r.try_get("id")?,
        tenant_id: r.try_get("tenant_id")?,
        username: r.try_get("username")?,
        roles: from_list(&r.try_get::<String, _>("roles")?),
    })
}
