//! Ingestion into the SQL audit store from other services: idempotent by entry id (an entry sent twice, after a lost acknowledgement or a restart, is stored once), with the identity that sent each entry recorded beside it in `palisade_audit_ingest`.

use sqlx::Row;

use super::store::SqlAuditStore;
use super::{AuditEntry, AuditError};

/// Made on first use by the control plane (see the checkpoint table).
pub(super) const TABLE: &str = "CREATE TABLE IF NOT EXISTS palisade_audit_ingest (
    id TEXT PRIMARY KEY,
    chain TEXT NOT NULL,
    sender TEXT NOT NULL,
    received TEXT NOT NULL
)";

/// What an ingested batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Entries appended.
    pub accepted: usize,
    /// Entries already stored (same id): skipped.
    pub duplicates: usize,
}

impl SqlAuditStore {
    /// Appends the entries of `batch` not stored before (by id), recording `sender` for each, in
    /// one transaction: a batch is stored whole or not at all.
    pub async fn ingest(
        &self,
        batch: &[AuditEntry],
        sender: &str,
        received: time::OffsetDateTime,
    ) -> Result<Ingested, AuditError> {
        self.log_tables().await?;
        let received = received
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut tx = self.begin().await?;
        // Multi-row inserts that return the ids they stored: an id already there is a duplicate.
        let mut stored = std::collections::HashSet::new();
        for chunk in batch.chunks(self.rows_per_insert()) {
            let mut sql = String::from(
                "INSERT INTO palisade_audit_ingest (id, chain, sender, received) VALUES ",
            );
            super::store::values(&mut sql, chunk.len(), 4, self.is_postgres());
            sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for entry in chunk {
                query = query
                    .bind(entry.id.clone())
                    .bind(entry.chain().to_owned())
                    .bind(sender.to_owned())
                    .bind(received.clone());
            }
            for row in query.fetch_all(&mut *tx).await? {
                stored.insert(row.try_get::<String, _>(0)?);
            }
        }
        // A batch may repeat an id: the first occurrence is the one stored.
        let mut fresh = Vec::with_capacity(stored.len());
        for entry in batch {
            if stored.remove(&entry.id) {
                fresh.push(entry);
            }
        }
        self.append_in(&mut tx, fresh.iter().copied()).await?;
        tx.commit().await?;
        Ok(Ingested {
            accepted: fresh.len(),
            duplicates: batch.len() - fresh.len(),
        })
    }

    /// The identity that sent the entry `id`, when it was ingested.
    pub async fn sender_of(&self, id: &str) -> Result<Option<String>, AuditError> {
        self.log_tables().await?;
        Ok(
            sqlx::query("SELECT sender FROM palisade_audit_ingest WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?
                .map(|row| row.try_get(0))
                .transpose()?,
        )
    }
}
