//! Signed checkpoints of the SQL audit store's chains, and tenant exports: a checkpoint signs a chain's size and head (C2SP signed note, `palisade-audit`) and is kept in `palisade_audit_checkpoint`; an export is a header, the checkpoints that cover it and every entry with its stored hash, as JSON lines, up to a checkpoint signed for it.

use futures_util::stream::{self, Stream};
use palisade_audit::{Checkpoint, CheckpointSigner, EXPORT_FORMAT, ExportLine, GENESIS};
use sqlx::Row;
use time::OffsetDateTime;

use super::AuditError;
use super::store::SqlAuditStore;

/// Made on first use by the control plane, which owns its database; a service's own audit store
/// (whose login cannot create tables) never checkpoints.
pub(super) const TABLE: &str = "CREATE TABLE IF NOT EXISTS palisade_audit_checkpoint (
    chain TEXT NOT NULL,
    size BIGINT NOT NULL,
    head TEXT NOT NULL,
    note TEXT NOT NULL,
    time TEXT NOT NULL,
    PRIMARY KEY (chain, size)
)";

/// Entries read per query while exporting.
const PAGE: i64 = 1000;

impl SqlAuditStore {
    /// Creates the governance tables (checkpoints, ingest, retention, holds) when missing, once
    /// per store rather than before every statement.
    pub(crate) async fn log_tables(&self) -> Result<(), AuditError> {
        let create = async {
            sqlx::query(TABLE).execute(self.pool()).await?;
            sqlx::query(super::ingest::TABLE)
                .execute(self.pool())
                .await?;
            sqlx::raw_sql(super::retention::TABLES)
                .execute(self.pool())
                .await?;
            Ok::<(), AuditError>(())
        };
        self.log_tables.get_or_try_init(|| create).await?;
        Ok(())
    }

    /// Signs `chain`'s current head as a checkpoint of `origin` and keeps it; the note. A chain's
    /// head at a given size never changes, so a second checkpoint of the same size keeps the first.
    pub async fn checkpoint(
        &self,
        chain: &str,
        origin: &str,
        signer: &CheckpointSigner,
        now: OffsetDateTime,
    ) -> Result<String, AuditError> {
        self.log_tables().await?;
        let head = sqlx::query("SELECT seq, hash FROM palisade_audit_head WHERE chain = $1")
            .bind(chain)
            .fetch_optional(self.pool())
            .await?;
        let (size, head) = match head {
            Some(row) => (row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?),
            None => (0, GENESIS.to_owned()),
        };
        let checkpoint = Checkpoint {
            origin: origin.to_owned(),
            size: u64::try_from(size).unwrap_or_default(),
            head: head.clone(),
            time: now,
        };
        let note = signer
            .sign(&checkpoint)
            .map_err(|e| AuditError::Checkpoint(e.to_string()))?;
        let time = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        sqlx::query(
            "INSERT INTO palisade_audit_checkpoint (chain, size, head, note, time) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chain, size) DO NOTHING",
        )
        .bind(chain)
        .bind(size)
        .bind(head)
        .bind(note)
        .bind(time)
        .execute(self.pool())
        .await?;
        let kept: String = sqlx::query(
            "SELECT note FROM palisade_audit_checkpoint WHERE chain = $1 AND size = $2",
        )
        .bind(chain)
        .bind(size)
        .fetch_one(self.pool())
        .await?
        .try_get(0)?;
        Ok(kept)
    }

    /// Signs a checkpoint of every chain that grew since its last one (origin: `key_name/chain`);
    /// how many were signed.
    pub async fn checkpoint_changed(
        &self,
        key_name: &str,
        signer: &CheckpointSigner,
        now: OffsetDateTime,
    ) -> Result<usize, AuditError> {
        self.log_tables().await?;
        let rows = sqlx::query(
            "SELECT h.chain FROM palisade_audit_head h LEFT JOIN \
             (SELECT chain, MAX(size) AS size FROM palisade_audit_checkpoint GROUP BY chain) c \
             ON c.chain = h.chain WHERE c.size IS NULL OR c.size < h.seq",
        )
        .fetch_all(self.pool())
        .await?;
        for row in &rows {
            let chain: String = row.try_get(0)?;
            self.checkpoint(&chain, &format!("{key_name}/{chain}"), signer, now)
                .await?;
        }
        Ok(rows.len())
    }

    /// `chain`'s checkpoints from size `from` on, oldest first: (size, note).
    pub async fn checkpoints(
        &self,
        chain: &str,
        from: i64,
    ) -> Result<Vec<(i64, String)>, AuditError> {
        self.log_tables().await?;
        let rows = sqlx::query(
            "SELECT size, note FROM palisade_audit_checkpoint WHERE chain = $1 AND size >= $2 ORDER BY size",
        )
        .bind(chain)
        .bind(from)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    /// A tenant's export as JSON lines: a checkpoint is signed now, then the header, every kept
    /// checkpoint from the first exported entry on, and the entries up to the new checkpoint
    /// (entries appended meanwhile are left to the next export). Read a page at a time. Sealed
    /// values stay sealed (redacted) unless `unredacted`: then each entry carries its openings.
    pub async fn export(
        &self,
        chain: &str,
        origin: &str,
        signer: &CheckpointSigner,
        now: OffsetDateTime,
        unredacted: bool,
    ) -> Result<impl Stream<Item = Result<Vec<u8>, AuditError>> + Send + 'static, AuditError> {
        self.checkpoint(chain, origin, signer, now).await?;
        let first = sqlx::query("SELECT MIN(seq) FROM palisade_audit_log WHERE chain = $1")
            .bind(chain)
            .fetch_one(self.pool())
            .await?
            .try_get::<Option<i64>, _>(0)?
            .unwrap_or(1);
        let prev_hash = if first > 1 {
            sqlx::query("SELECT prev_hash FROM palisade_audit_log WHERE chain = $1 AND seq = $2")
                .bind(chain)
                .bind(first)
                .fetch_one(self.pool())
                .await?
                .try_get(0)?
        } else {
            GENESIS.to_owned()
        };
        let checkpoints = self.checkpoints(chain, first - 1).await?;
        let last = checkpoints.last().map_or(0, |(size, _)| *size);
        let mut head = vec![line(&ExportLine::Header {
            format: EXPORT_FORMAT,
            origin: origin.to_owned(),
            tenant: chain.to_owned(),
            first_seq: u64::try_from(first).unwrap_or(1),
            prev_hash,
        })?];
        for (_, note) in checkpoints {
            head.push(line(&ExportLine::Checkpoint { note })?);
        }
        let store = self.clone();
        let chain = chain.to_owned();
        let entries = stream::try_unfold(first - 1, move |after| {
            let store = store.clone();
            let chain = chain.clone();
            async move {
                if after >= last {
                    return Ok(None);
                }
                let rows = sqlx::query(
                    "SELECT seq, id, hash, entry, openings FROM palisade_audit_log \
                     WHERE chain = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4",
                )
                .bind(&chain)
                .bind(after)
                .bind(last)
                .bind(PAGE)
                .fetch_all(store.pool())
                .await?;
                let mut out = Vec::with_capacity(rows.len() * 512);
                let mut next = after;
                for row in &rows {
                    let seq: i64 = row.try_get(0)?;
                    let openings = match row.try_get::<Option<String>, _>(4)? {
                        Some(openings) if unredacted => Some(serde_json::from_str(&openings)?),
                        _ => None,
                    };
                    out.extend(line(&ExportLine::Entry {
                        seq: u64::try_from(seq).unwrap_or_default(),
                        id: row.try_get(1)?,
                        hash: row.try_get(2)?,
                        entry: row.try_get(3)?,
                        openings,
                    })?);
                    next = seq;
                }
                // A page that made no progress would loop: the stored chain has a gap.
                Ok((next > after).then_some((out, next)))
            }
        });
        Ok(futures_util::StreamExt::chain(
            stream::iter(head.into_iter().map(Ok)),
            entries,
        ))
    }
}

/// One JSON line.
fn line(item: &ExportLine) -> Result<Vec<u8>, AuditError> {
    let mut bytes = serde_json::to_vec(item)?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Entries deleted.
    pub removed: u64,
    /// The chain now starts after this sequence number (0: nothing was ever purged).
    pub cut: i64,
}

impl SqlAuditStore {
    /// Deletes the oldest entries of `chain` that are older than `cutoff` and not `held`: only a
    /// prefix of the chain, so what stays is contiguous and starts after a signed checkpoint of
    /// the cut (made here before anything is deleted). The first entry that is recent enough or
    /// held ends the prefix, and the newest entry always stays. The checkpoints before the cut go
    /// with it.
    pub async fn purge(
        &self,
        chain: &str,
        cutoff: OffsetDateTime,
        held: impl Fn(&crate::audit::AuditEntry) -> bool,
        key_name: &str,
        signer: &CheckpointSigner,
        now: OffsetDateTime,
    ) -> Result<Purged, AuditError> {
        self.log_tables().await?;
        let mut after = sqlx::query("SELECT MIN(seq) FROM palisade_audit_log WHERE chain = $1")
            .bind(chain)
            .fetch_one(self.pool())
            .await?
            .try_get::<Option<i64>, _>(0)?
            .map_or(0, |first| first - 1);
        let first = after;
        // The newest entry always stays: the chain's head is then an entry a verifier can see.
        let last = sqlx::query("SELECT seq FROM palisade_audit_head WHERE chain = $1")
            .bind(chain)
            .fetch_optional(self.pool())
            .await?
            .map(|row| row.try_get::<i64, _>(0))
            .transpose()?
            .unwrap_or(0);
        let mut cut = None;
        'scan: loop {
            let rows = sqlx::query(
                "SELECT seq, entry, hash, openings FROM palisade_audit_log WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(chain)
            .bind(after)
            .bind(PAGE)
            .fetch_all(self.pool())
            .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let seq: i64 = row.try_get(0)?;
                // Opened: a hold's filter (an actor) matches the values, not their seals.
                let entry =
                    super::store::read_entry(&row.try_get::<String, _>(1)?, row.try_get(3)?)?;
                if seq >= last || entry.time >= cutoff || held(&entry) {
                    break 'scan;
                }
                cut = Some((seq, row.try_get::<String, _>(2)?));
                after = seq;
            }
        }
        let Some((cut, head)) = cut else {
            return Ok(Purged {
                removed: 0,
                cut: first,
            });
        };
        // The checkpoint at the cut first: an export after the purge starts from it.
        let checkpoint = Checkpoint {
            origin: format!("{key_name}/{chain}"),
            size: u64::try_from(cut).unwrap_or_default(),
            head: head.clone(),
            time: now,
        };
        let note = signer
            .sign(&checkpoint)
            .map_err(|e| AuditError::Checkpoint(e.to_string()))?;
        let time = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO palisade_audit_checkpoint (chain, size, head, note, time) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (chain, size) DO NOTHING",
        )
        .bind(chain)
        .bind(cut)
        .bind(&head)
        .bind(note)
        .bind(time)
        .execute(&mut *tx)
        .await?;
        let removed = sqlx::query("DELETE FROM palisade_audit_log WHERE chain = $1 AND seq <= $2")
            .bind(chain)
            .bind(cut)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM palisade_audit_checkpoint WHERE chain = $1 AND size < $2")
            .bind(chain)
            .bind(cut)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Purged { removed, cut })
    }
}
