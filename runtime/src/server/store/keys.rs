//! Rows of the signing keys (public JWK and the sealed private half) and the two changes made to them under a database-wide lock: the first pair, and rotation.

use sqlx::Row;

use super::{Store, StoreError};
use crate::server::keys::KeyState;

/// A signing key as stored; the private half stays sealed under the key-encryption key.
pub(crate) struct KeyRow {
    pub(crate) kid: String,
    pub(crate) alg: String,
    pub(crate) public_jwk: String,
    pub(crate) sealed_private_key: String,
    pub(crate) state: KeyState,
    pub(crate) retired_at: Option<i64>,
}

/// A freshly generated key to store.
pub(crate) struct NewKey {
    pub(crate) kid: String,
    pub(crate) alg: &'static str,
    pub(crate) public_jwk: String,
    pub(crate) sealed_private_key: String,
}

/// The advisory lock every key change takes on PostgreSQL.
const KEY_LOCK: i64 = 727_275;

impl Store {
    /// A transaction for a change to the keys, holding the key lock (an advisory lock on
    /// PostgreSQL, the write lock on SQLite), so replicas change keys one at a time.
    async fn key_change(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        if !self.postgres {
            // SQLite: the write lock up front, since the change reads before it writes.
            return Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(KEY_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Every stored key, oldest first.
    pub(crate) async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT kid, alg, public_jwk, private_key, state, retired_at FROM palisade_signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let state: String = row.try_get("state")?;
                Ok(KeyRow {
                    kid: row.try_get("kid")?,
                    alg: row.try_get("alg")?,
                    public_jwk: row.try_get("public_jwk")?,
                    sealed_private_key: row.try_get("private_key")?,
                    state: KeyState::parse(&state).ok_or(StoreError::Corrupt {
                        column: "palisade_signing_keys.state",
                        value: state,
                    })?,
                    retired_at: row.try_get("retired_at")?,
                })
            })
            .collect()
    }

    /// Stores the first active key and the next one, unless an active key exists: replicas
    /// starting together check under the lock, so exactly one pair is created.
    pub(crate) async fn insert_first_keys(
        &self,
        active: &NewKey,
        next: &NewKey,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.key_change().await?;
        let count: i64 =
            sqlx::query("SELECT COUNT(*) FROM palisade_signing_keys WHERE state = 'active'")
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        if count == 0 {
            insert_key(&mut tx, active, KeyState::Active, now).await?;
            insert_key(&mut tx, next, KeyState::Next, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Revokes a key that is not revoked yet. When it was the active one, the next key becomes
    /// active and `new_next` is stored as the next key, so something always signs. False when
    /// no such key exists.
    pub(crate) async fn revoke_key(
        &self,
        kid: &str,
        new_next: &NewKey,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.key_change().await?;
        let state: Option<String> = sqlx::query_scalar(
            "SELECT state FROM palisade_signing_keys WHERE kid = $1 AND state <> 'revoked'",
        )
        .bind(kid)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(state) = state else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE palisade_signing_keys SET state = 'revoked', retired_at = $1 WHERE kid = $2",
        )
        .bind(now)
        .bind(kid)
        .execute(&mut *tx)
        .await?;
        let replace_next = state == KeyState::Next.as_str();
        if state == KeyState::Active.as_str() {
            sqlx::query("UPDATE palisade_signing_keys SET state = 'active', activated_at = $1 WHERE state = 'next'")
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        if replace_next || state == KeyState::Active.as_str() {
            insert_key(&mut tx, new_next, KeyState::Next, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Rotation: the next key becomes active, the active one retires, and `new_next` is stored as
    /// the next key.
    pub(crate) async fn rotate_keys(&self, new_next: &NewKey, now: i64) -> Result<(), StoreError> {
        let mut tx = self.key_change().await?;
        let has_next: i64 =
            sqlx::query("SELECT COUNT(*) FROM palisade_signing_keys WHERE state = 'next'")
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        if has_next > 0 {
            sqlx::query("UPDATE palisade_signing_keys SET state = 'retired', retired_at = $1 WHERE state = 'active'")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE palisade_signing_keys SET state = 'active', activated_at = $1 WHERE state = 'next'")
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        insert_key(&mut tx, new_next, KeyState::Next, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Stores a new key in `state` (an active one is activated now).
async fn insert_key(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    key: &NewKey,
    state: KeyState,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO palisade_signing_keys (kid, alg, public_jwk, private_key, state, created_at, activated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key.kid)
    .bind(key.alg)
    .bind(&key.public_jwk)
    .bind(&key.sealed_private_key)
    .bind(state.as_str())
    .bind(now)
    .bind((state == KeyState::Active).then_some(now))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
