//! Against a real PostgreSQL (`PALISADE_TEST_DATABASE_URL`, set by `.ci/run`): row-level security through
//! `begin_tenant_tx`, and the hash-chained audit store.

use palisade_runtime::TenantId;
use palisade_runtime::audit::{AuditEntry, Outcome, SqlAuditStore};
use palisade_runtime::tenant::begin_tenant_tx;
use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, Executor};

use crate::support::skip;

fn database_url(test: &str) -> Option<String> {
    let url = std::env::var("PALISADE_TEST_DATABASE_URL").ok();
    if url.is_none() {
        skip(test, "PALISADE_TEST_DATABASE_URL is not set");
    }
    url
}

#[tokio::test]
async fn row_level_security_confines_a_transaction_to_its_tenant() {
    let Some(url) = database_url("row_level_security_confines_a_transaction_to_its_tenant") else {
        return;
    };
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let table = format!("notes_{}", uuid::Uuid::new_v4().simple());
    // The service role neither owns the table nor bypasses RLS; FORCE makes the policy bind the owner too.
    let setup = format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'palisade_rls_app') THEN CREATE ROLE palisade_rls_app NOLOGIN; END IF; END $$;
         CREATE TABLE {table} (id BIGSERIAL PRIMARY KEY, tenant_id TEXT NOT NULL, body TEXT NOT NULL);
         ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
         ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
         CREATE POLICY tenant_isolation ON {table}
           USING (tenant_id = current_setting('app.tenant_id', true))
           WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
         GRANT SELECT, INSERT ON {table} TO palisade_rls_app;
         GRANT USAGE ON SEQUENCE {table}_id_seq TO palisade_rls_app;"
    );
    admin.execute(AssertSqlSafe(setup)).await.unwrap();

    let app = PgPoolOptions::new()
        .max_connections(2)
        .after_connect(|conn, _| {
            Box::pin(async move { conn.execute("SET ROLE palisade_rls_app").await.map(|_| ()) })
        })
        .connect(&url)
        .await
        .unwrap();
    let acme = TenantId::new("acme").unwrap();
    let globex = TenantId::new("globex").unwrap();
    for (tenant, body) in [(&acme, "a1"), (&acme, "a2"), (&globex, "g1")] {
        let mut tx = begin_tenant_tx(&app, tenant).await.unwrap();
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (tenant_id, body) VALUES ($1, $2)"
        )))
        .bind(tenant.as_str())
        .bind(body)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    let count = |tenant: Option<&TenantId>| {
        let app = app.clone();
        let table = table.clone();
        let tenant = tenant.cloned();
        async move {
            let sql = AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
            match tenant {
                Some(t) => {
                    let mut tx = begin_tenant_tx(&app, &t).await.unwrap();
                    sqlx::query_scalar::<_, i64>(sql)
                        .fetch_one(&mut *tx)
                        .await
                        .unwrap()
                }
                None => sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&app)
                    .await
                    .unwrap(),
            }
        }
    };
    assert_eq!(count(Some(&acme)).await, 2);
    assert_eq!(count(Some(&globex)).await, 1);
    assert_eq!(
        count(None).await,
        0,
        "without a tenant nothing is visible, and the setting did not leak to the pool"
    );

    let mut tx = begin_tenant_tx(&app, &acme).await.unwrap();
    let cross = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (tenant_id, body) VALUES ('globex', 'sneaky')"
    )))
    .execute(&mut *tx)
    .await;
    assert!(
        cross
            .unwrap_err()
            .to_string()
            .contains("row-level security"),
        "a cross-tenant write is refused"
    );
    drop(tx);
    admin
        .execute(AssertSqlSafe(format!("DROP TABLE {table}")))
        .await
        .unwrap();
}

#[tokio::test]
async fn audit_chain_on_postgres() {
    let Some(url) = database_url("audit_chain_on_postgres") else {
        return;
    };
    let store = SqlAuditStore::connect(&url).await.unwrap();
    let tenant = TenantId::new(format!(
        "t{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))
    .unwrap();
    let batch: Vec<AuditEntry> = (0..50)
        .map(|i| {
            AuditEntry::new(
                "urn:test",
                "palisade.test",
                &format!("a{i}"),
                Outcome::Success,
            )
            .tenant(&tenant)
        })
        .collect();
    store.append(&batch[..20]).await.unwrap();
    store.append(&batch[20..]).await.unwrap();
    assert_eq!(
        store
            .verify(tenant.as_str())
            .await
            .unwrap()
            .unwrap()
            .entries,
        50
    );
    sqlx::query("UPDATE palisade_audit_log SET entry = replace(entry, '\"a7\"', '\"a8\"') WHERE chain = $1 AND seq = 8")
        .bind(tenant.as_str())
        .execute(store.pool())
        .await
        .unwrap();
    let broken = store.verify(tenant.as_str()).await.unwrap().unwrap_err();
    assert_eq!(broken.seq, 8);
    assert_eq!(broken.id.as_deref(), Some(batch[7].id.as_str()));
}
