//! Rows of the policy service: each service's schema versions and its policy sets' versions (the base set as tenant `''`), with versions allocated per service under a lock so the highest is always the bundle's.

use sqlx::Row;

use super::{Store, StoreError};

/// A service's newest version across its schema and sets (0 for none).
const NEWEST_VERSION: &str = "SELECT COALESCE(MAX(v), 0) FROM (\
             SELECT MAX(version) AS v FROM palisade_policy_schemas WHERE service = $1 \
             UNION ALL SELECT MAX(version) AS v FROM palisade_policy_sets WHERE service = $1) m";

/// The advisory lock every policy change takes on PostgreSQL.
const POLICY_LOCK: i64 = 727_276;

/// One version of a policy set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PolicySetRow {
    pub(crate) tenant: String,
    pub(crate) version: i64,
    /// `active` or `shadow`.
    pub(crate) mode: String,
    /// JSON: `[{name, text}]`.
    pub(crate) files: String,
    pub(crate) hash: String,
    pub(crate) author: String,
    pub(crate) created_at: i64,
}

/// A new version of a set, stored only over version `expected`.
pub(crate) struct NewPolicySet<'a> {
    pub(crate) service: &'a str,
    pub(crate) tenant: &'a str,
    pub(crate) expected: i64,
    pub(crate) mode: &'a str,
    pub(crate) files: &'a str,
    pub(crate) hash: &'a str,
    pub(crate) author: &'a str,
    pub(crate) now: i64,
    /// The service's version the change was validated against.
    pub(crate) validated: i64,
}

/// What a service's bundle is made of: its newest schema, and per set (base and tenants) the
/// newest active version and a newer shadow one.
pub(crate) struct ServicePolicies {
    pub(crate) version: i64,
    pub(crate) schema: String,
    /// By tenant (`''` for the base set): (active, shadow newer than it).
    pub(crate) sets:
        std::collections::BTreeMap<String, (Option<PolicySetRow>, Option<PolicySetRow>)>,
}

impl Store {
    async fn policy_change(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        if !self.postgres {
            return Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(POLICY_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// The service's next version, inside a policy change.
    async fn next_policy_version(
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        service: &str,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(NEWEST_VERSION)
            .bind(service)
            .fetch_one(&mut **tx)
            .await?;
        Ok(row.try_get::<i64, _>(0)? + 1)
    }

    /// Stores a new schema version, when the service's policies are still at `validated` (the
    /// version the change was checked against): its number, or `None` when anything changed.
    pub(crate) async fn put_policy_schema(
        &self,
        service: &str,
        schema: &str,
        author: &str,
        now: i64,
        validated: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.policy_change().await?;
        let version = Self::next_policy_version(&mut tx, service).await?;
        if version != validated + 1 {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO palisade_policy_schemas (service, version, schema_text, author, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(service)
        .bind(version)
        .bind(schema)
        .bind(author)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(version))
    }

    /// Stores a new version of a set when the set's newest version is `expected` (its
    /// `If-Match`; 0 for a set with none yet) and nothing of the service changed since version
    /// `validated` (what the change was checked against: another set or the schema changed
    /// meanwhile could make the combination invalid): `Ok(None)` otherwise.
    pub(crate) async fn put_policy_set(
        &self,
        set: NewPolicySet<'_>,
    ) -> Result<Option<i64>, StoreError> {
        let NewPolicySet {
            service,
            tenant,
            expected,
            mode,
            files,
            hash,
            author,
            now,
            validated,
        } = set;
        let mut tx = self.policy_change().await?;
        let newest = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) FROM palisade_policy_sets WHERE service = $1 AND tenant_id = $2",
        )
        .bind(service)
        .bind(tenant)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>(0)?;
        if newest != expected {
            return Ok(None);
        }
        let version = Self::next_policy_version(&mut tx, service).await?;
        if version != validated + 1 {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO palisade_policy_sets (service, tenant_id, version, mode, files, hash, author, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(service)
        .bind(tenant)
        .bind(version)
        .bind(mode)
        .bind(files)
        .bind(hash)
        .bind(author)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(version))
    }

    /// Every version of a set, newest first.
    pub(crate) async fn policy_history(
        &self,
        service: &str,
        tenant: &str,
    ) -> Result<Vec<PolicySetRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, version, mode, files, hash, author, created_at FROM palisade_policy_sets \
             WHERE service = $1 AND tenant_id = $2 ORDER BY version DESC",
        )
        .bind(service)
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(set_row).collect()
    }

    /// What the service's bundle is made of, or `None` before its schema is registered.
    pub(crate) async fn service_policies(
        &self,
        service: &str,
    ) -> Result<Option<ServicePolicies>, StoreError> {
        // Two reads: when the service changed between them, read again, so the version always
        // names exactly what was read (a bundle's ETag must never cover other content).
        loop {
            let read = self.service_policies_once(service).await?;
            let newest = self.policy_version(service).await?;
            match read {
                Some(read) if read.version != newest => continue,
                read => return Ok(read),
            }
        }
    }

    /// The services with a schema, by name.
    pub(crate) async fn policy_services(&self) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT DISTINCT service FROM palisade_policy_schemas ORDER BY service")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    /// The service's newest version (0 for none).
    pub(crate) async fn policy_version(&self, service: &str) -> Result<i64, StoreError> {
        let row = sqlx::query(NEWEST_VERSION)
            .bind(service)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    async fn service_policies_once(
        &self,
        service: &str,
    ) -> Result<Option<ServicePolicies>, StoreError> {
        let Some(schema) = sqlx::query(
            "SELECT version, schema_text FROM palisade_policy_schemas WHERE service = $1 \
             ORDER BY version DESC LIMIT 1",
        )
        .bind(service)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let mut version: i64 = schema.try_get(0)?;
        let rows = sqlx::query(
            "SELECT tenant_id, version, mode, files, hash, author, created_at FROM palisade_policy_sets \
             WHERE service = $1 ORDER BY tenant_id, version DESC",
        )
        .bind(service)
        .fetch_all(&self.pool)
        .await?;
        let mut sets = std::collections::BTreeMap::<
            String,
            (Option<PolicySetRow>, Option<PolicySetRow>),
        >::new();
        for row in &rows {
            let row = set_row(row)?;
            version = version.max(row.version);
            let entry = sets.entry(row.tenant.clone()).or_default();
            // Newest first: the first active one is in force; a shadow counts only above it.
            match (row.mode.as_str(), &entry.0) {
                ("active", None) => entry.0 = Some(row),
                ("shadow", None) if entry.1.is_none() => entry.1 = Some(row),
                _ => {}
            }
        }
        Ok(Some(ServicePolicies {
            version,
            schema: schema.try_get(1)?,
            sets,
        }))
    }
}

fn set_row(row: &sqlx::any::AnyRow) -> Result<PolicySetRow, StoreError> {
    Ok(PolicySetRow {
        tenant: row.try_get(0)?,
        version: row.try_get(1)?,
        mode: row.try_get(2)?,
        files: row.try_get(3)?,
        hash: row.try_get(4)?,
        author: row.try_get(5)?,
        created_at: row.try_get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set<'a>(tenant: &'a str, expected: i64, validated: i64) -> NewPolicySet<'a> {
        NewPolicySet {
            service: "notes",
            tenant,
            expected,
            mode: "active",
            files: "[]",
            hash: "h",
            author: "admin",
            now: 0,
            validated,
        }
    }

    /// Review finding (session 8, 2): a change was validated against a snapshot, then stored if
    /// its own set had not changed, though another set or the schema had: two changes each
    /// valid alone (a base policy id and a tenant policy of the same id) made a bundle no
    /// service could load. A change now stores only over the version it was validated against.
    #[tokio::test]
    async fn a_change_checked_against_an_older_state_of_the_service_is_not_stored() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        assert_eq!(
            store
                .put_policy_schema("notes", "s", "admin", 0, 0)
                .await
                .unwrap(),
            Some(1)
        );
        assert_eq!(store.put_policy_set(set("", 0, 1)).await.unwrap(), Some(2));
        // acme and globex both validated against version 2; globex is stored first.
        assert_eq!(
            store.put_policy_set(set("globex", 0, 2)).await.unwrap(),
            Some(3)
        );
        assert_eq!(store.put_policy_set(set("acme", 0, 2)).await.unwrap(), None);
        assert_eq!(
            store.put_policy_set(set("acme", 0, 3)).await.unwrap(),
            Some(4)
        );
        // A schema checked before acme's change is not stored either.
        assert_eq!(
            store
                .put_policy_schema("notes", "s2", "admin", 0, 3)
                .await
                .unwrap(),
            None
        );
        let read = store.service_policies("notes").await.unwrap().unwrap();
        assert_eq!((read.version, read.schema.as_str()), (4, "s"));
    }
}
