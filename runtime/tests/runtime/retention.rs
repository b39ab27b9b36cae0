//! Retention purges of the SQL audit store: a property test over random appends, retention changes, holds and purges (no entry goes before its retention ends or while held; what stays verifies), and a purge followed by an export that verifies from the signed cut and still catches an entry edited after it.

use palisade_audit::{CheckpointSigner, Tamper, VerifyError, verify_export};
use palisade_runtime::audit::{AuditEntry, Outcome, SealedField, SqlAuditStore};
use palisade_runtime::principal::TenantId;
use proptest::prelude::*;
use time::{Duration, OffsetDateTime};

const KEY_NAME: &str = "cp.test/audit";

fn day(n: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap() + Duration::days(n)
}

fn entry(tenant: &TenantId, id: String, at: OffsetDateTime, resource: u8) -> AuditEntry {
    let mut entry = AuditEntry::new(
        "urn:palisade:test",
        "palisade.admin.change",
        "note.write",
        Outcome::Success,
    )
    .tenant(tenant)
    .resource(&format!("case:{resource}"));
    entry.id = id;
    entry.time = at;
    entry
}

/// A store that seals the resource too: a hold (by resource here) must see the values, not
/// their seals.
async fn store(dir: &std::path::Path) -> SqlAuditStore {
    SqlAuditStore::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("audit.db").display()
    ))
    .await
    .unwrap()
    .sealing(&[SealedField::ActorSubject, SealedField::Resource])
}

#[derive(Debug, Clone)]
enum Op {
    /// Entries stamped `day`, with resources `case:<r>`.
    Append {
        day: i64,
        resources: Vec<u8>,
    },
    SetRetention(i64),
    Hold(u8),
    Release(u8),
    /// A purge run on `day`.
    Purge {
        day: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0i64..60, proptest::collection::vec(0u8..4, 1..6)).prop_map(|(day, resources)| Op::Append { day, resources }),
        1 => (1i64..40).prop_map(Op::SetRetention),
        1 => (0u8..4).prop_map(Op::Hold),
        1 => (0u8..4).prop_map(Op::Release),
        2 => (0i64..90).prop_map(|day| Op::Purge { day }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Across random sequences, a purge removes only entries older than the retention at that
    /// time and not held then; the chain that stays verifies, and so does its export.
    #[test]
    fn no_entry_goes_before_its_retention_ends_or_while_held(ops in proptest::collection::vec(op(), 1..25)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let dir = std::env::temp_dir().join(format!("palisade-retention-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            let store = store(&dir).await;
            let (signer, _) = CheckpointSigner::generate(KEY_NAME).unwrap();
            let tenant = TenantId::new("acme").unwrap();
            let mut retention = 30i64;
            let mut held = std::collections::BTreeSet::new();
            // id -> (time, resource)
            let mut appended = std::collections::BTreeMap::new();
            let mut present: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
            let mut n = 0;
            for op in ops {
                match op {
                    Op::Append { day: d, resources } => {
                        let batch: Vec<AuditEntry> = resources.iter().map(|r| {
                            n += 1;
                            entry(&tenant, format!("e{n}"), day(d), *r)
                        }).collect();
                        for e in &batch {
                            appended.insert(e.id.clone(), (e.time, e.data.resource.as_deref().unwrap().trim_start_matches("case:").parse::<u8>().unwrap()));
                            present.insert(e.id.clone());
                        }
                        store.append(&batch).await.unwrap();
                    }
                    Op::SetRetention(days) => retention = days,
                    Op::Hold(r) => { held.insert(r); }
                    Op::Release(r) => { held.remove(&r); }
                    Op::Purge { day: d } => {
                        let cutoff = day(d) - Duration::days(retention);
                        let holds = held.clone();
                        store.purge("acme", cutoff, |e| {
                            let r: u8 = e.data.resource.as_deref().unwrap_or("case:9").trim_start_matches("case:").parse().unwrap_or(9);
                            holds.contains(&r)
                        }, KEY_NAME, &signer, day(d)).await.unwrap();
                        let now: std::collections::BTreeSet<String> = store.entries("acme", 0, 1_000_000).await.unwrap().into_iter().map(|s| s.entry.id).collect();
                        for gone in present.difference(&now) {
                            let (time, resource) = appended[gone];
                            assert!(time < cutoff, "{gone} removed before its retention ended");
                            assert!(!held.contains(&resource), "{gone} removed while held");
                        }
                        assert!(now.is_subset(&present), "nothing appears");
                        present = now;
                        assert!(store.verify("acme").await.unwrap().is_ok(), "what stays verifies");
                    }
                }
            }
            if !present.is_empty() {
                let lines = store.export("acme", &format!("{KEY_NAME}/acme"), &signer, day(100), false).await.unwrap();
                let text: Vec<u8> = futures_util::TryStreamExt::try_concat(lines).await.unwrap();
                let report = verify_export(&text[..], signer.verifier_key(), &[]).unwrap();
                assert_eq!(report.entries, present.len() as u64);
            }
            let _ = std::fs::remove_dir_all(&dir);
        });
    }
}

/// A purge leaves a signed checkpoint at the cut: the export after it verifies from there, and an
/// entry edited after the cut is still caught.
#[tokio::test]
async fn an_export_after_a_purge_verifies_from_the_cut_and_catches_a_later_edit() {
    let dir = std::env::temp_dir().join(format!("palisade-purge-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = store(&dir).await;
    let (signer, _) = CheckpointSigner::generate(KEY_NAME).unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let batch: Vec<AuditEntry> = (0..20)
        .map(|i| entry(&tenant, format!("e{i}"), day(i), 0))
        .collect();
    store.append(&batch).await.unwrap();
    // Retention of 10 days on day 20: entries of days 0 to 9 go.
    let purged = store
        .purge(
            "acme",
            day(20) - Duration::days(10),
            |_| false,
            KEY_NAME,
            &signer,
            day(20),
        )
        .await
        .unwrap();
    assert_eq!((purged.removed, purged.cut), (10, 10));
    let text = export(&store, &signer).await;
    let report = verify_export(&text[..], signer.verifier_key(), &[]).unwrap();
    assert_eq!((report.first_seq, report.last_seq), (11, 20));
    assert!(store.verify("acme").await.unwrap().is_ok());
    // An entry after the cut is edited in the database.
    sqlx::query("UPDATE palisade_audit_log SET entry = REPLACE(entry, 'note.write', 'note.erase') WHERE chain = 'acme' AND seq = 14")
        .execute(store.pool())
        .await
        .unwrap();
    let text = export(&store, &signer).await;
    match verify_export(&text[..], signer.verifier_key(), &[]) {
        Err(VerifyError::Tampered {
            seq: 14,
            tamper: Tamper::Edited,
            ..
        }) => {}
        other => panic!("expected entry 14 edited, got {other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The export of chain `acme`, as bytes.
async fn export(store: &SqlAuditStore, signer: &CheckpointSigner) -> Vec<u8> {
    let lines = store
        .export("acme", &format!("{KEY_NAME}/acme"), signer, day(21), false)
        .await
        .unwrap();
    futures_util::TryStreamExt::try_concat(lines).await.unwrap()
}
