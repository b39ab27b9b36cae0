//! Rows of the browser and grant state: login requests, sessions, grant families with their codes and refresh tokens, access-token revocations and spent client-assertion ids.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, from_list, tenant, to_list};
use crate::principal::TenantId;

/// A pending login form: the hash of its CSRF token and the authorization request it answers.
pub(crate) struct LoginRequestRow {
    pub(crate) csrf_hash: String,
    /// The authorization request, as JSON.
    pub(crate) request: String,
    pub(crate) expires_at: i64,
}

/// A browser session after a sign-in.
pub(crate) struct SessionRow {
    pub(crate) tenant_id: TenantId,
    pub(crate) user_id: String,
    pub(crate) auth_time: i64,
    pub(crate) expires_at: i64,
}

/// One grant to a user, with every code, refresh and access token issued from it.
#[derive(Debug, Clone)]
pub(crate) struct FamilyRow {
    pub(crate) id: String,
    pub(crate) client_id: String,
    pub(crate) tenant_id: TenantId,
    pub(crate) user_id: String,
    pub(crate) scope: Vec<String>,
    pub(crate) auth_time: i64,
    /// When the grant began: its absolute lifetime runs from here.
    pub(crate) created_at: i64,
    pub(crate) revoked: bool,
}

/// An authorization code, by the hash of its value.
pub(crate) struct CodeRow {
    pub(crate) redirect_uri: String,
    pub(crate) nonce: Option<String>,
    pub(crate) code_challenge: String,
    pub(crate) expires_at: i64,
}

/// A refresh token, by the hash of its value.
pub(crate) struct RefreshRow {
    pub(crate) expires_at: i64,
    pub(crate) used: bool,
}

const FAMILY_COLUMNS: &str = "f.id AS family_id, f.client_id, f.tenant_id, f.user_id, f.scope, f.auth_time, f.created_at, f.revoked_at";

impl Store {
    pub(crate) async fn insert_login_request(
        &self,
        id: &str,
        row: &LoginRequestRow,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO palisade_login_requests (id, csrf_hash, request, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(&row.csrf_hash)
            .bind(&row.request)
            .bind(row.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn login_request(
        &self,
        id: &str,
    ) -> Result<Option<LoginRequestRow>, StoreError> {
        let row = sqlx::query(
            "SELECT csrf_hash, request, expires_at FROM palisade_login_requests WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(LoginRequestRow {
                csrf_hash: r.try_get("csrf_hash")?,
                request: r.try_get("request")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub(crate) async fn delete_login_request(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM palisade_login_requests WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn insert_session(
        &self,
        id_hash: &str,
        row: &SessionRow,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO palisade_sessions (id_hash, tenant_id, user_id, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id_hash)
            .bind(row.tenant_id.as_str())
            .bind(&row.user_id)
            .bind(row.auth_time)
            .bind(row.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>, StoreError> {
        let row = sqlx::query("SELECT tenant_id, user_id, auth_time, expires_at FROM palisade_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(SessionRow {
                tenant_id: tenant("palisade_sessions.tenant_id", r.try_get("tenant_id")?)?,
                user_id: r.try_get("user_id")?,
                auth_time: r.try_get("auth_time")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    pub(crate) async fn delete_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM palisade_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Starts a grant: its family row and its single-use code, together or not at all.
    pub(crate) async fn insert_code_grant(
        &self,
        family: &FamilyRow,
        code_hash: &str,
        code: &CodeRow,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO palisade_families (id, client_id, tenant_id, user_id, scope, auth_time, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&family.id)
            .bind(&family.client_id)
            .bind(family.tenant_id.as_str())
            .bind(&family.user_id)
            .bind(to_list(&family.scope))
            .bind(family.auth_time)
            .bind(family.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO palisade_codes (code_hash, family_id, redirect_uri, nonce, code_challenge, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(code_hash)
            .bind(&family.id)
            .bind(&code.redirect_uri)
            .bind(code.nonce.as_deref())
            .bind(&code.code_challenge)
            .bind(code.expires_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A code and its grant, whether or not it was used.
    pub(crate) async fn code(
        &self,
        code_hash: &str,
    ) -> Result<Option<(CodeRow, FamilyRow)>, StoreError> {
        let sql = format!(
            "SELECT c.redirect_uri, c.nonce, c.code_challenge, c.expires_at, {FAMILY_COLUMNS} FROM palisade_codes c JOIN palisade_families f ON f.id = c.family_id WHERE c.code_hash = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(code_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let code = CodeRow {
                redirect_uri: r.try_get("redirect_uri")?,
                nonce: r.try_get("nonce")?,
                code_challenge: r.try_get("code_challenge")?,
                expires_at: r.try_get("expires_at")?,
            };
            Ok((code, family_row(&r)?))
        })
        .transpose()
    }

    /// Marks a code used; false when it already was (a replay).
    pub(crate) async fn spend_code(&self, code_hash: &str, now: i64) -> Result<bool, StoreError> {
        let spent = sqlx::query(
            "UPDATE palisade_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(code_hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(spent == 1)
    }

    /// Revokes a grant: its refresh tokens and every access token issued from it stop working.
    pub(crate) async fn revoke_family(&self, family_id: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE palisade_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revokes every grant of a user and ends its browser sessions: its refresh tokens, and the
    /// access tokens issued from them, stop working at once.
    pub(crate) async fn revoke_user_grants(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let revoked = sqlx::query(
            "UPDATE palisade_families SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM palisade_sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(revoked)
    }

    pub(crate) async fn insert_refresh_token(
        &self,
        token_hash: &str,
        family_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO palisade_refresh_tokens (token_hash, family_id, expires_at) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(family_id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A refresh token and its grant, whatever their state.
    pub(crate) async fn refresh_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<(RefreshRow, FamilyRow)>, StoreError> {
        let sql = format!(
            "SELECT r.expires_at, r.used_at, {FAMILY_COLUMNS} FROM palisade_refresh_tokens r JOIN palisade_families f ON f.id = r.family_id WHERE r.token_hash = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let refresh = RefreshRow {
                expires_at: r.try_get("expires_at")?,
                used: r.try_get::<Option<i64>, _>("used_at")?.is_some(),
            };
            Ok((refresh, family_row(&r)?))
        })
        .transpose()
    }

    /// Marks a refresh token used (rotated); false when it already was (a replay).
    pub(crate) async fn spend_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let rotated = sqlx::query(
            "UPDATE palisade_refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(token_hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(rotated == 1)
    }

    /// Records an access token issued from a grant, so revoking the grant reaches it.
    pub(crate) async fn insert_access_token(
        &self,
        jti: &str,
        family_id: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO palisade_access_tokens (jti, family_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(jti)
        .bind(family_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether an access token, or the grant it came from, is revoked.
    pub(crate) async fn access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT a.revoked_at, f.revoked_at AS family_revoked FROM palisade_access_tokens a LEFT JOIN palisade_families f ON f.id = a.family_id WHERE a.jti = $1",
        )
        .bind(jti)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => false,
            Some(r) => {
                r.try_get::<Option<i64>, _>("revoked_at")?.is_some()
                    || r.try_get::<Option<i64>, _>("family_revoked")?.is_some()
            }
        })
    }

    /// Revokes one access token until it expires (the row goes with the purge after that).
    pub(crate) async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO palisade_access_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO UPDATE SET revoked_at = $3")
            .bind(jti)
            .bind(expires_at)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Counts one attempt under `key` in the current window of `window` seconds; false when the
    /// window already holds `limit` attempts. One statement, so concurrent attempts on any
    /// replica are counted exactly.
    pub(crate) async fn reserve_attempt(
        &self,
        key: &str,
        now: i64,
        window: i64,
        limit: i64,
    ) -> Result<bool, StoreError> {
        let attempts: i64 = sqlx::query_scalar(
            "INSERT INTO palisade_login_attempts (throttle_key, window_start, attempts) VALUES ($1, $2, 1) \
             ON CONFLICT (throttle_key) DO UPDATE SET \
             attempts = CASE WHEN palisade_login_attempts.window_start <= $3 THEN 1 ELSE palisade_login_attempts.attempts + 1 END, \
             window_start = CASE WHEN palisade_login_attempts.window_start <= $3 THEN $2 ELSE palisade_login_attempts.window_start END \
             RETURNING attempts",
        )
        .bind(key)
        .bind(now)
        .bind(now - window)
        .fetch_one(&self.pool)
        .await?;
        Ok(attempts <= limit)
    }

    /// Takes back an attempt reserved under `key` (it succeeded): only failures stay counted.
    pub(crate) async fn release_attempt(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE palisade_login_attempts SET attempts = attempts - 1 WHERE throttle_key = $1 AND attempts > 0",
        )
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a client assertion's id until it expires; false when it was seen before (a
    /// replay, on this replica or another).
    pub(crate) async fn record_assertion_id(
        &self,
        id: &str,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query("INSERT INTO palisade_assertion_ids (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(id)
            .bind(expires_at)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(inserted == 1)
    }
}

fn family_row(r: &AnyRow) -> Result<FamilyRow, StoreError> {
    Ok(FamilyRow {
        id: r.try_get("family_id")?,
        client_id: r.try_get("client_id")?,
        tenant_id: tenant("palisade_families.tenant_id", r.try_get("tenant_id")?)?,
        user_id: r.try_get("user_id")?,
        scope: from_list(&r.try_get::<String, _>("scope")?),
        auth_time: r.try_get("auth_time")?,
        created_at: r.try_get("created_at")?,
        revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
    })
}
