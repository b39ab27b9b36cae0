//! Retention settings and legal holds of the SQL audit store's chains (the control plane's tables `palisade_audit_retention` and `palisade_audit_hold`, made on first use): who set what, when.

use sqlx::Row;
use time::OffsetDateTime;

use super::AuditError;
use super::store::SqlAuditStore;

pub(super) const TABLES: &str = "
CREATE TABLE IF NOT EXISTS palisade_audit_retention (
    chain TEXT PRIMARY KEY,
    days BIGINT NOT NULL,
    class TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS palisade_audit_hold (
    id TEXT PRIMARY KEY,
    chain TEXT NOT NULL,
    filter TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    released_by TEXT,
    released_at TEXT
)";

/// A chain's retention as set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Entries older than this many days may be purged.
    pub days: i64,
    /// The compliance class whose platform minimum applies.
    pub class: String,
}

/// A legal hold: entries its filter matches (JSON; `{}` is every entry) are never purged while it
/// is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Its id.
    pub id: String,
    /// The filter, as JSON.
    pub filter: String,
    /// Why.
    pub reason: String,
    /// Who set it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// When it was released, if it was.
    pub released_at: Option<String>,
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl SqlAuditStore {
    /// `chain`'s retention, if one was set.
    pub async fn retention(&self, chain: &str) -> Result<Option<Retention>, AuditError> {
        self.log_tables().await?;
        let row = sqlx::query("SELECT days, class FROM palisade_audit_retention WHERE chain = $1")
            .bind(chain)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(row) => Some(Retention {
                days: row.try_get(0)?,
                class: row.try_get(1)?,
            }),
            None => None,
        })
    }

    /// Sets `chain`'s retention (the caller checks it against the platform minimum).
    pub async fn set_retention(
        &self,
        chain: &str,
        retention: &Retention,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<(), AuditError> {
        self.log_tables().await?;
        sqlx::query(
            "INSERT INTO palisade_audit_retention (chain, days, class, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (chain) DO UPDATE SET days = excluded.days, class = excluded.class, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(chain)
        .bind(retention.days)
        .bind(&retention.class)
        .bind(by)
        .bind(rfc3339(at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// `chain`'s holds, active ones only unless `all`.
    pub async fn holds(&self, chain: &str, all: bool) -> Result<Vec<Hold>, AuditError> {
        self.log_tables().await?;
        let sql = if all {
            "SELECT id, filter, reason, created_by, created_at, released_at FROM palisade_audit_hold WHERE chain = $1 ORDER BY created_at, id"
        } else {
            "SELECT id, filter, reason, created_by, created_at, released_at FROM palisade_audit_hold WHERE chain = $1 AND released_at IS NULL ORDER BY created_at, id"
        };
        let rows = sqlx::query(sql).bind(chain).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                Ok(Hold {
                    id: row.try_get(0)?,
                    filter: row.try_get(1)?,
                    reason: row.try_get(2)?,
                    created_by: row.try_get(3)?,
                    created_at: row.try_get(4)?,
                    released_at: row.try_get(5)?,
                })
            })
            .collect()
    }

    /// Sets a hold on `chain`; its id.
    pub async fn add_hold(
        &self,
        chain: &str,
        filter: &str,
        reason: &str,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<String, AuditError> {
        self.log_tables().await?;
        let id = format!("hold-{}", uuid::Uuid::new_v4().simple());
        sqlx::query(
            "INSERT INTO palisade_audit_hold (id, chain, filter, reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(chain)
        .bind(filter)
        .bind(reason)
        .bind(by)
        .bind(rfc3339(at))
        .execute(self.pool())
        .await?;
        Ok(id)
    }

    /// Releases an active hold of `chain`; whether there was one.
    pub async fn release_hold(
        &self,
        chain: &str,
        id: &str,
        by: &str,
        at: OffsetDateTime,
    ) -> Result<bool, AuditError> {
        self.log_tables().await?;
        let done = sqlx::query(
            "UPDATE palisade_audit_hold SET released_by = $1, released_at = $2 \
             WHERE chain = $3 AND id = $4 AND released_at IS NULL",
        )
        .bind(by)
        .bind(rfc3339(at))
        .bind(chain)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Every chain that has entries.
    pub async fn chains(&self) -> Result<Vec<String>, AuditError> {
        let rows = sqlx::query("SELECT chain FROM palisade_audit_head ORDER BY chain")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
    }
}
