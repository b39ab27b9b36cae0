//! The hash-chained SQL audit store and the emitter: tampering is found and named, and concurrent emission loses nothing.

use std::sync::Arc;

use palisade_runtime::TenantId;
use palisade_runtime::audit::{AuditEmitter, AuditEntry, EmitterConfig, Outcome, SqlAuditStore};

fn entry(tenant: &str, n: usize) -> AuditEntry {
    AuditEntry::new(
        "urn:test",
        "palisade.test",
        &format!("action-{n}"),
        Outcome::Success,
    )
    .tenant(&TenantId::new(tenant).unwrap())
}

async fn store_with(n: usize) -> SqlAuditStore {
    let store = SqlAuditStore::connect("sqlite::memory:").await.unwrap();
    let batch: Vec<AuditEntry> = (0..n).map(|i| entry("acme", i)).collect();
    store.append(&batch[..n / 2]).await.unwrap();
    store.append(&batch[n / 2..]).await.unwrap();
    store.append(&[entry("globex", 0)]).await.unwrap();
    store
}

async fn exec(store: &SqlAuditStore, sql: &'static str) {
    sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
}

/// Applies `tamper` to a fresh ten-entry chain and checks what `verify` reports.
async fn check(tamper: &'static str, expected_seq: i64, expected_reason: &str) {
    let store = store_with(10).await;
    assert_eq!(store.verify("acme").await.unwrap().unwrap().entries, 10);
    exec(&store, tamper).await;
    let broken = store.verify("acme").await.unwrap().expect_err(tamper);
    assert_eq!(
        (broken.seq, broken.reason),
        (expected_seq, expected_reason),
        "{tamper}"
    );
    assert_eq!(
        store.verify("globex").await.unwrap().unwrap().entries,
        1,
        "other tenants' chains are untouched"
    );
}

#[tokio::test]
async fn tampering_is_detected_and_the_first_bad_entry_named() {
    check(
        "UPDATE palisade_audit_log SET entry = replace(entry, 'action-4', 'action-x') WHERE chain = 'acme' AND seq = 5",
        5,
        "entry content does not match its hash",
    )
    .await;
    check(
        "DELETE FROM palisade_audit_log WHERE chain = 'acme' AND seq = 3",
        3,
        "entry is missing",
    )
    .await;
    check(
        "DELETE FROM palisade_audit_log WHERE chain = 'acme' AND seq = 10",
        10,
        "entries after this position were deleted",
    )
    .await;
    // Reordering: entries 6 and 7 swap places, each keeping its own hashes.
    check(
        "UPDATE palisade_audit_log SET seq = -seq WHERE chain = 'acme' AND seq IN (6, 7);
         UPDATE palisade_audit_log SET seq = CASE seq WHEN -6 THEN 7 ELSE 6 END WHERE chain = 'acme' AND seq IN (-6, -7);",
        6,
        "previous hash does not match the preceding entry",
    )
    .await;
}

#[tokio::test]
async fn concurrent_emission_loses_nothing() {
    let store = SqlAuditStore::connect("sqlite::memory:").await.unwrap();
    let config = EmitterConfig {
        capacity: 64,
        batch_size: 32,
        ..EmitterConfig::default()
    };
    let emitter = AuditEmitter::spawn("urn:test", Arc::new(store.clone()), config);
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let emitter = emitter.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    let tenant = if t % 2 == 0 { "acme" } else { "globex" };
                    emitter.emit(entry(tenant, t * 1000 + i)).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    emitter.flush().await;
    assert_eq!(emitter.lost(), 0);
    assert_eq!(store.verify("acme").await.unwrap().unwrap().entries, 1600);
    assert_eq!(store.verify("globex").await.unwrap().unwrap().entries, 1600);
    let first = store.entries("acme", 0, 1).await.unwrap();
    assert_eq!(first[0].seq, 1);
}

#[tokio::test]
async fn a_full_queue_counts_and_reports_loss() {
    let store = SqlAuditStore::connect("sqlite::memory:").await.unwrap();
    let emitter = AuditEmitter::spawn(
        "urn:test",
        Arc::new(store),
        EmitterConfig {
            capacity: 1,
            ..EmitterConfig::default()
        },
    );
    let mut refused = 0;
    for i in 0..1000 {
        if emitter.try_emit(entry("acme", i)).is_err() {
            refused += 1;
        }
    }
    assert!(refused > 0, "a one-slot queue overflows");
    assert_eq!(emitter.lost(), refused);
}

/// Two stores (two pools, as the control plane's server and audit sink have) appending to one
/// SQLite file at once: every batch is written and the chain verifies. A deferred transaction
/// that read the head and then wrote failed here with SQLITE_BUSY_SNAPSHOT ("database is locked").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_on_one_sqlite_file_never_conflict() {
    let dir = std::env::temp_dir().join(format!("palisade-audit-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("audit.db").display());
    let first = Arc::new(SqlAuditStore::connect(&url).await.unwrap());
    let second = Arc::new(SqlAuditStore::connect(&url).await.unwrap());
    let writers: Vec<_> = [first.clone(), second]
        .into_iter()
        .enumerate()
        .map(|(w, store)| {
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for i in 0..40 {
                    if let Err(e) = store.append(&[entry("acme", w * 100 + i)]).await {
                        failures.push(e.to_string());
                    }
                }
                failures
            })
        })
        .collect();
    let mut failures = Vec::new();
    for writer in writers {
        failures.extend(writer.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} failed appends: {:?}",
        failures.len(),
        failures.first()
    );
    let report = first
        .verify("acme")
        .await
        .unwrap()
        .expect("the chain verifies");
    assert_eq!(report.entries, 80);
}
