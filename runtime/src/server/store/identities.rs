//! Rows of tenants, users, clients and API tokens, and the statements that read and write them.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{GrantType, Store, StoreError, duplicate, from_list, tenant, to_list};
use crate::principal::TenantId;
use crate::server::identity::ApiTokenInfo;

/// A client as stored (a service identity when it has the client-credentials grant).
#[derive(Debug, Clone)]
pub(crate) struct ClientRow {
    pub(crate) client_id: String,
    pub(crate) tenant_id: TenantId,
    pub(crate) name: String,
    pub(crate) secret_hash: Option<String>,
    pub(crate) jwks: Option<Value>,
    pub(crate) grant_types: Vec<GrantType>,
    pub(crate) scopes: Vec<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) post_logout_redirect_uris: Vec<String>,
    /// A resource server allowed to introspect tokens of its tenant and audiences.
    pub(crate) may_introspect: bool,
    pub(crate) disabled: bool,
}

impl ClientRow {
    pub(crate) fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    pub(crate) fn is_public(&self) -> bool {
        self.secret_hash.is_none() && self.jwks.is_none()
    }
}

/// A user as stored, without the password hash.
#[derive(Debug, Clone)]
pub(crate) struct UserRow {
    pub(crate) id: String,
    pub(crate) tenant_id: TenantId,
    pub(crate) username: String,
    pub(crate) roles: Vec<String>,
    pub(crate) disabled: bool,
}

/// An API token to insert: only the hash of its value.
pub(crate) struct NewApiToken<'a> {
    pub(crate) id: &'a str,
    pub(crate) tenant: &'a TenantId,
    pub(crate) name: &'a str,
    pub(crate) token_hash: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) audiences: &'a [String],
    pub(crate) scopes: &'a [String],
    pub(crate) roles: &'a [String],
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
}

impl Store {
    pub(crate) async fn tenant_exists(&self, id: &TenantId) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT id FROM palisade_tenants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// `Duplicate` when the tenant exists (also when another replica created it just now).
    pub(crate) async fn insert_tenant(
        &self,
        id: &TenantId,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO palisade_tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id.as_str())
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(duplicate)?;
        Ok(())
    }

    pub(crate) async fn tenant_ids(&self) -> Result<Vec<TenantId>, StoreError> {
        let rows = sqlx::query("SELECT id FROM palisade_tenants ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| tenant("palisade_tenants.id", r.try_get(0)?))
            .collect()
    }

    /// `Duplicate` when the tenant has a user of that name.
    pub(crate) async fn insert_user(
        &self,
        user: &UserRow,
        password_hash: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO palisade_users (id, tenant_id, username, password_hash, roles, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&user.id)
        .bind(user.tenant_id.as_str())
        .bind(&user.username)
        .bind(password_hash)
        .bind(to_list(&user.roles))
        .bind(i64::from(user.disabled))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(duplicate)?;
        Ok(())
    }

    /// A user of a tenant by sign-in name, with its password hash.
    pub(crate) async fn user_by_name(
        &self,
        tenant: &TenantId,
        username: &str,
    ) -> Result<Option<(UserRow, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, username, password_hash, roles, disabled FROM palisade_users WHERE tenant_id = $1 AND username = $2",
        )
        .bind(tenant.as_str())
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((user_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    pub(crate) async fn user(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, username, roles, disabled FROM palisade_users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_row).transpose()
    }

    /// Disables or enables a user; false when no such user exists.
    pub(crate) async fn set_user_disabled(
        &self,
        id: &str,
        disabled: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE palisade_users SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done > 0)
    }

    /// Replaces a user's password hash; false when no such user exists.
    pub(crate) async fn set_user_password_hash(
        &self,
        id: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE palisade_users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done > 0)
    }

    pub(crate) async fn insert_client(
        &self,
        client: &ClientRow,
        now: i64,
    ) -> Result<(), StoreError> {
        let grants: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
        sqlx::query(
            "INSERT INTO palisade_clients (client_id, tenant_id, name, secret_hash, jwks, grant_types, scopes, roles, audiences, redirect_uris, post_logout_redirect_uris, disabled, created_at, may_introspect) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&client.client_id)
        .bind(client.tenant_id.as_str())
        .bind(&client.name)
        .bind(client.secret_hash.as_deref())
        .bind(client.jwks.as_ref().map(Value::to_string))
        .bind(to_list(&grants))
        .bind(to_list(&client.scopes))
        .bind(to_list(&client.roles))
        .bind(to_list(&client.audiences))
        .bind(to_list(&client.redirect_uris))
        .bind(to_list(&client.post_logout_redirect_uris))
        .bind(i64::from(client.disabled))
        .bind(now)
        .bind(i64::from(client.may_introspect))
        .execute(&self.pool)
        .await
        .map_err(duplicate)?;
        Ok(())
    }

    pub(crate) async fn client(&self, client_id: &str) -> Result<Option<ClientRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM palisade_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = row else { return Ok(None) };
        // An unknown grant name (written by a newer version) grants nothing here.
        let grant_types = from_list(&r.try_get::<String, _>("grant_types")?)
            .iter()
            .filter_map(|g| g.parse().ok())
            .collect();
        Ok(Some(ClientRow {
            client_id: r.try_get("client_id")?,
            tenant_id: tenant("palisade_clients.tenant_id", r.try_get("tenant_id")?)?,
            name: r.try_get("name")?,
            secret_hash: r.try_get("secret_hash")?,
            jwks: r
                .try_get::<Option<String>, _>("jwks")?
                .and_then(|j| serde_json::from_str(&j).ok()),
            grant_types,
            scopes: from_list(&r.try_get::<String, _>("scopes")?),
            roles: from_list(&r.try_get::<String, _>("roles")?),
            audiences: from_list(&r.try_get::<String, _>("audiences")?),
            redirect_uris: from_list(&r.try_get::<String, _>("redirect_uris")?),
            post_logout_redirect_uris: from_list(
                &r.try_get::<String, _>("post_logout_redirect_uris")?,
            ),
            may_introspect: r.try_get::<i64, _>("may_introspect")? != 0,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
        }))
    }

    /// Replaces a client's secret hash; false when no such client exists.
    pub(crate) async fn set_client_secret_hash(
        &self,
        client_id: &str,
        secret_hash: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE palisade_clients SET secret_hash = $1 WHERE client_id = $2")
            .bind(secret_hash)
            .bind(client_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done > 0)
    }

    /// Disables or enables a client; false when no such client exists.
    pub(crate) async fn set_client_disabled(
        &self,
        client_id: &str,
        disabled: bool,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE palisade_clients SET disabled = $1 WHERE client_id = $2")
            .bind(i64::from(disabled))
            .bind(client_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done > 0)
    }

    pub(crate) async fn insert_api_token(&self, token: &NewApiToken<'_>) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO palisade_api_tokens (id, tenant_id, name, token_hash, subject, scopes, roles, created_at, expires_at, audiences) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(token.id)
        .bind(token.tenant.as_str())
        .bind(token.name)
        .bind(token.token_hash)
        .bind(token.subject)
        .bind(to_list(token.scopes))
        .bind(to_list(token.roles))
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(to_list(token.audiences))
        .execute(&self.pool)
        .await
        .map_err(duplicate)?;
        Ok(())
    }

    /// A tenant's API tokens, oldest first.
    pub(crate) async fn api_tokens(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<ApiTokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, name, subject, audiences, scopes, roles, created_at, expires_at, revoked_at FROM palisade_api_tokens WHERE tenant_id = $1 ORDER BY created_at, id",
        )
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(api_token_info).collect()
    }

    /// The API token whose value hashes to `token_hash`, whatever its state.
    pub(crate) async fn api_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<ApiTokenInfo>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, name, subject, audiences, scopes, roles, created_at, expires_at, revoked_at FROM palisade_api_tokens WHERE token_hash = $1",
        )
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(api_token_info).transpose()
    }

    /// Revokes an active API token of `tenant`; false when there is none by that id.
    pub(crate) async fn revoke_api_token(
        &self,
        tenant: &TenantId,
        id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE palisade_api_tokens SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(tenant.as_str())
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done > 0)
    }
}

fn user_row(r: &AnyRow) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: r.try_get("id")?,
        tenant_id: tenant("palisade_users.tenant_id", r.try_get("tenant_id")?)?,
        username: r.try_get("username")?,
        roles: from_list(&r.try_get::<String, _>("roles")?),
        disabled: r.try_get::<i64, _>("disabled")? != 0,
    })
}

fn api_token_info(r: &AnyRow) -> Result<ApiTokenInfo, StoreError> {
    Ok(ApiTokenInfo {
        id: r.try_get("id")?,
        tenant: tenant("palisade_api_tokens.tenant_id", r.try_get("tenant_id")?)?,
        name: r.try_get("name")?,
        subject: r.try_get("subject")?,
        audiences: from_list(&r.try_get::<String, _>("audiences")?),
        scopes: from_list(&r.try_get::<String, _>("scopes")?),
        roles: from_list(&r.try_get::<String, _>("roles")?),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}
