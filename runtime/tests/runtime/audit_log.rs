//! The governance audit API over real HTTP, on SQLite and on PostgreSQL (`PALISADE_TEST_DATABASE_URL`): the public checkpoint key, tenant-scoped checkpoints and exports (a cross-tenant read is 403 and audited), exports that `palisade-audit` verifies offline, and entries edited in the database afterwards caught, naively and with the hashes recomputed.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use palisade_audit::{Tamper, VerifyError, chain_hash, verify_checkpoint, verify_export};
use palisade_runtime::audit::{
    AuditEntry, AuditError, AuditQuery, AuditSink, MemorySink, Outcome, SqlAuditStore, event_type,
};
use palisade_runtime::principal::{PrincipalKind, TenantId};
use palisade_runtime::secrets::Secret;
use palisade_runtime::server::AuditLog;
use reqwest::StatusCode;
use sqlx::Row;

use crate::server::{Harness, start_with_sink};
use crate::support::{report, skip};

/// Every entry to the harness's memory sink and to the SQL store.
struct Tee(Arc<MemorySink>, SqlAuditStore);

impl AuditSink for Tee {
    fn write<'a>(&'a self, batch: &'a [AuditEntry]) -> BoxFuture<'a, Result<(), AuditError>> {
        Box::pin(async move {
            self.0.write(batch).await?;
            self.1.write(batch).await
        })
    }
}

async fn start(database: &str, audit_database: &str) -> (Harness, SqlAuditStore, String) {
    start_every(
        database,
        audit_database,
        palisade_runtime::server::audit_api::CHECKPOINT_INTERVAL,
    )
    .await
}

async fn start_every(
    database: &str,
    audit_database: &str,
    every: std::time::Duration,
) -> (Harness, SqlAuditStore, String) {
    let store = SqlAuditStore::connect(audit_database).await.unwrap();
    let sink_store = store.clone();
    let harness = start_with_sink(
        database,
        |_| {},
        move |memory| Arc::new(Tee(memory, sink_store)),
    )
    .await;
    let name = AuditLog::key_name(&harness.issuer);
    let private = AuditLog::generate_key(&harness.issuer).unwrap();
    harness
        .server
        .serve_audit_log(
            AuditLog::new(store.clone(), &private)
                .unwrap()
                .checkpoint_every(every),
        )
        .unwrap();
    let key = harness
        .http
        .get(format!("{}/.well-known/palisade-audit-key", harness.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .trim()
        .to_owned();
    assert!(key.starts_with(&format!("{name}+")), "{key}");
    (harness, store, key)
}

async fn get(h: &Harness, path: &str, token: &str) -> (StatusCode, String) {
    let response = h
        .http
        .get(format!("{}{path}", h.issuer))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn suite(database: &str, audit_database: &str) {
    let (h, store, key) = start(database, audit_database).await;
    query_suite(&h, &store).await;
    let admin = h.admin_token(&h.tenant, &["admin"]).await;
    let auditor = h.admin_token(&h.tenant, &["auditor"]).await;
    let platform = h.admin_token(&h.platform, &["platform-auditor"]).await;
    let reader = h.admin_token(&h.tenant, &["reader"]).await;
    // Activity in the tenant: administrative changes, audited into its chain.
    for i in 0..5 {
        let body = serde_json::json!({ "username": format!("user{i}"), "password": "a long enough password 1", "roles": ["reader"] });
        let response = h
            .http
            .post(format!("{}/admin/tenants/{}/users", h.issuer, h.tenant))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    h.emitter.flush().await;

    // The tenant's own auditor exports its log; it verifies offline with the public key.
    let (status, export) = get(&h, "/audit/export", &auditor).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let verified = verify_export(export.as_bytes(), &key, &[]).unwrap();
    assert_eq!(verified.tenant, h.tenant);
    assert!(verified.entries >= 6, "{verified:?}");
    assert!(
        export.contains("\\\"audit.export\\\""),
        "the export holds its own read"
    );

    // Its checkpoints: the one the export signed, which the tenant keeps.
    let (status, body) = get(&h, "/audit/checkpoints", &auditor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let kept = list["checkpoints"][0]["note"].as_str().unwrap().to_owned();
    let checkpoint = verify_checkpoint(&kept, &key).unwrap();
    assert_eq!(
        checkpoint.origin,
        format!("{}/{}", AuditLog::key_name(&h.issuer), h.tenant)
    );

    // Scoping: another tenant named by a tenant auditor is 403, and audited; a platform auditor
    // must name the tenant; a caller with neither role is 403.
    let (status, _) = get(
        &h,
        &format!("/audit/export?tenant={}", h.platform),
        &auditor,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    h.emitter.flush().await;
    assert!(
        h.audit
            .entries()
            .iter()
            .any(|e| e.event_type == event_type::AUDIT_READ
                && e.data.outcome == Outcome::Denied
                && e.data.resource.as_deref() == Some(&format!("tenant:{}", h.platform)))
    );
    assert_eq!(
        get(&h, "/audit/export", &platform).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, other) = get(&h, &format!("/audit/export?tenant={}", h.tenant), &platform).await;
    assert_eq!(status, StatusCode::OK);
    verify_export(other.as_bytes(), &key, std::slice::from_ref(&kept)).unwrap();
    assert_eq!(
        get(&h, "/audit/export", &reader).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&h, "/audit/export?tenant=no-such-tenant", &platform)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    redaction(&h, &store, &key, &auditor, &admin).await;

    // An entry edited in the database: the next export names it.
    let pool = store.pool();
    let edited = 2i64;
    sqlx::query("UPDATE palisade_audit_log SET entry = REPLACE(entry, '\"success\"', '\"denied\"') WHERE chain = $1 AND seq = $2")
        .bind(&h.tenant)
        .bind(edited)
        .execute(pool)
        .await
        .unwrap();
    let (_, export) = get(&h, "/audit/export", &auditor).await;
    match verify_export(export.as_bytes(), &key, &[]) {
        Err(VerifyError::Tampered {
            seq,
            tamper: Tamper::Edited,
            ..
        }) => assert_eq!(seq, 2),
        other => panic!("expected entry 2 edited, got {other:?}"),
    }

    // The same edit with every later hash and the head recomputed: the checkpoints signed before
    // the rewrite no longer match, and the one the tenant kept says so.
    let rows = sqlx::query("SELECT seq, entry, prev_hash FROM palisade_audit_log WHERE chain = $1 AND seq >= $2 ORDER BY seq")
        .bind(&h.tenant)
        .bind(edited)
        .fetch_all(pool)
        .await
        .unwrap();
    let mut prev: String = rows[0].try_get(2).unwrap();
    for row in &rows {
        let seq: i64 = row.try_get(0).unwrap();
        let json: String = row.try_get(1).unwrap();
        let hash = chain_hash(&prev, &json);
        sqlx::query(
            "UPDATE palisade_audit_log SET prev_hash = $1, hash = $2 WHERE chain = $3 AND seq = $4",
        )
        .bind(&prev)
        .bind(&hash)
        .bind(&h.tenant)
        .bind(seq)
        .execute(pool)
        .await
        .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE palisade_audit_head SET hash = $1 WHERE chain = $2")
        .bind(&prev)
        .bind(&h.tenant)
        .execute(pool)
        .await
        .unwrap();
    let (_, export) = get(&h, "/audit/export", &auditor).await;
    match verify_export(export.as_bytes(), &key, &[kept]) {
        Err(VerifyError::Tampered {
            tamper: Tamper::CheckpointMismatch | Tamper::Rewritten,
            seq,
            ..
        }) => {
            assert_eq!(
                seq, checkpoint.size,
                "caught at the first signed head after the edit"
            );
        }
        other => panic!("expected a signed head to catch the rewrite, got {other:?}"),
    }
}

/// Sealed values (the actor's subject): left out of an export unless an admin asks for an
/// unredacted one with a reason (audited); both verify offline; `GET /audit` shows the values; a
/// value changed beside the chain is caught by the store's verification, by the unredacted
/// export's verifier and by reading it.
async fn redaction(h: &Harness, store: &SqlAuditStore, key: &str, auditor: &str, admin: &str) {
    let tenant = TenantId::new(h.tenant.as_str()).unwrap();
    let person = "alice.sealed@example.com";
    let entry = AuditEntry::new(
        "urn:palisade:test:billing",
        event_type::AUTHZ_DECISION,
        "note.read",
        Outcome::Success,
    )
    .tenant(&tenant)
    .actor(person, PrincipalKind::User, Some("billing-web"));
    store.append(std::slice::from_ref(&entry)).await.unwrap();
    let (raw,): (String,) = sqlx::query_as("SELECT entry FROM palisade_audit_log WHERE id = $1")
        .bind(&entry.id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(
        !raw.contains(person) && raw.contains("sealed:sha256:"),
        "{raw}"
    );

    let (status, redacted) = get(h, "/audit/export", auditor).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !redacted.contains(person),
        "a redacted export leaves the value out"
    );
    assert_eq!(
        verify_export(redacted.as_bytes(), key, &[]).unwrap().opened,
        0
    );
    // The query API shows the value to the tenant's readers.
    let (status, page) = get(h, "/audit?actor=alice.sealed%40example.com", auditor).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let page: serde_json::Value = serde_json::from_str(&page).unwrap();
    assert_eq!(
        page["items"][0]["entry"]["data"]["actor"]["subject"],
        person
    );

    // Unredacted: not for auditors; an admin must give a reason; the export is audited with it.
    let unredacted = "/audit/export?unredacted=true&reason=subject%20access%20request%2042";
    assert_eq!(get(h, unredacted, auditor).await.0, StatusCode::FORBIDDEN);
    let (status, body) = get(h, "/audit/export?unredacted=true", admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("needs a reason"), "{body}");
    let (status, opened) = get(h, unredacted, admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(opened.contains(person));
    let report = verify_export(opened.as_bytes(), key, &[]).unwrap();
    assert!(report.opened >= 1, "{report:?}");
    h.emitter.flush().await;
    assert!(
        h.audit
            .entries()
            .iter()
            .any(|e| e.data.action == "audit.export.unredacted"
                && e.data.reason.as_deref() == Some("subject access request 42"))
    );

    // The value changed beside the chain: every reader catches it.
    let forge = |from: &str, to: &str| {
        sqlx::query(
            "UPDATE palisade_audit_log SET openings = REPLACE(openings, $1, $2) WHERE id = $3",
        )
        .bind(from.to_owned())
        .bind(to.to_owned())
        .bind(entry.id.clone())
        .execute(store.pool())
    };
    forge(person, "mallory@example.com").await.unwrap();
    let broken = store.verify(&h.tenant).await.unwrap().unwrap_err();
    assert_eq!(broken.id.as_deref(), Some(entry.id.as_str()));
    assert!(broken.reason.contains("seal"), "{broken}");
    let (_, forged) = get(h, unredacted, admin).await;
    match verify_export(forged.as_bytes(), key, &[]) {
        Err(VerifyError::Tampered {
            tamper: Tamper::BadOpening(field),
            id,
            ..
        }) => {
            assert_eq!(field, "data.actor.subject");
            assert_eq!(id.as_deref(), Some(entry.id.as_str()));
        }
        other => panic!("expected the forged value caught, got {other:?}"),
    }
    assert!(store.entries(&h.tenant, 0, 10_000).await.is_err());
    forge("mallory@example.com", person).await.unwrap();
    store.verify(&h.tenant).await.unwrap().unwrap();
}

/// Without any export, every chain that grew gets a signed checkpoint on the log's interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grown_chains_are_checkpointed_on_the_interval() {
    let dir = std::env::temp_dir().join(format!("palisade-audit-every-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());
    let (h, store, key) = start_every(
        &url("auth.db"),
        &url("audit.db"),
        std::time::Duration::from_secs(1),
    )
    .await;
    h.emitter.flush().await;
    let head = store
        .entries(&h.tenant, 0, 100_000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .seq;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let signed = store.checkpoints(&h.tenant, head).await.unwrap();
        if let Some((size, note)) = signed.first() {
            assert!(*size >= head);
            assert_eq!(
                verify_checkpoint(note, &key).unwrap().size,
                u64::try_from(*size).unwrap()
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint of size {head} within 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_api_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("palisade-audit-log-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());
    suite(&url("auth.db"), &url("audit.db")).await;
    report("audit log API suite passed on SQLite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_api_on_postgres() {
    let Ok(url) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        skip(
            "audit_log_api_on_postgres",
            "PALISADE_TEST_DATABASE_URL is not set",
        );
        return;
    };
    suite(&url, &url).await;
    report("audit log API suite passed on PostgreSQL");
}

/// A store made before the filter columns (its log table without them) gains them when opened,
/// filled in from the stored entries, so queries find the old entries too; the chain still
/// verifies.
async fn filter_columns_upgrade(url: &str) {
    let store = SqlAuditStore::connect(url).await.unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let entries = synthetic(&tenant, 60, 0);
    store.append(&entries).await.unwrap();
    for column in [
        "actor",
        "client_id",
        "action",
        "resource",
        "outcome",
        "trace_id",
    ] {
        for sql in [
            format!("DROP INDEX IF EXISTS palisade_audit_log_{column}"),
            format!("ALTER TABLE palisade_audit_log DROP COLUMN {column}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(store.pool())
                .await
                .unwrap();
        }
    }
    // An older store wrote times with the offset they came with: the first entry's, at -05:00.
    let offset = "UPDATE palisade_audit_log SET time = '2030-03-17T12:46:40-05:00' \
                  WHERE chain = 'acme' AND seq = 1";
    sqlx::raw_sql(offset).execute(store.pool()).await.unwrap();
    store.pool().close().await;
    let store = SqlAuditStore::connect(url).await.unwrap();
    let at = |text: &str| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
    };
    let queries = [
        AuditQuery {
            since: Some(at("2030-03-17T17:00:00Z")),
            until: Some(at("2030-03-17T17:47:00Z")),
            ..AuditQuery::default()
        },
        AuditQuery {
            actor: Some("client-1".into()),
            action: Some("admin.*".into()),
            ..AuditQuery::default()
        },
        AuditQuery {
            trace_id: Some(format!("{:032x}", 4)),
            outcome: Some(Outcome::Success),
            resource: Some("note:3".into()),
            ..AuditQuery::default()
        },
    ];
    for query in queries {
        let expected: Vec<&str> = (entries.iter())
            .filter(|e| query.matches(e))
            .map(|e| e.id.as_str())
            .collect();
        assert!(!expected.is_empty(), "{query:?} selects something");
        let found = store.query("acme", &query, 0, 1000).await.unwrap();
        let found: Vec<&str> = found.iter().map(|s| s.entry.id.as_str()).collect();
        assert_eq!(found, expected, "{query:?}");
    }
    let verified = store.verify("acme").await.unwrap().unwrap();
    assert_eq!(verified.entries, 60);
}

#[tokio::test]
async fn a_store_made_before_the_filter_columns_gains_them_filled_in_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("palisade-audit-cols-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    filter_columns_upgrade(&format!("sqlite://{}?mode=rwc", dir.join("a.db").display())).await;
}

#[tokio::test]
async fn a_store_made_before_the_filter_columns_gains_them_filled_in_on_postgres() {
    let Ok(admin) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        skip(
            "a_store_made_before_the_filter_columns_gains_them_filled_in_on_postgres",
            "PALISADE_TEST_DATABASE_URL is not set",
        );
        return;
    };
    // A database of its own: the test changes the log table's schema.
    let name = format!("palisade_cols_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    filter_columns_upgrade(&format!("{base}/{name}")).await;
}

/// Synthetic entries in `tenant`'s chain: actors, actions, resources, outcomes, event types,
/// traces and times varied by a small deterministic sequence.
fn synthetic(tenant: &TenantId, n: usize, salt: usize) -> Vec<AuditEntry> {
    let start = time::OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
    (0..n)
        .map(|i| {
            let k = i * 7 + salt;
            let actions = [
                "note.read",
                "note.write",
                "admin.user.create",
                "admin.client.create",
            ];
            let outcomes = [Outcome::Success, Outcome::Denied, Outcome::Failure];
            let mut entry = AuditEntry::new(
                "urn:palisade:test:billing",
                ["palisade.authz.decision", "palisade.admin.change"][k % 2],
                actions[k % 4],
                outcomes[k % 3],
            )
            .tenant(tenant)
            .resource(&format!("note:{}", k % 5))
            .actor(
                &format!("user-{}", k % 3),
                PrincipalKind::User,
                Some(&format!("client-{}", k % 2)),
            );
            entry.time = start + time::Duration::seconds((k % 60) as i64 * 60);
            entry.traceparent = Some(format!("00-{:032x}-{:016x}-01", k % 6 + 1, k + 1));
            entry
        })
        .collect()
}

/// The sequence numbers `GET /audit` returns for `filter`, paging `limit` at a time until
/// `more` is false.
async fn page_all(h: &Harness, token: &str, filter: &str, limit: u32) -> Vec<i64> {
    let mut seqs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/audit?limit={limit}{filter}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = get(h, &path, token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        seqs.extend(items.iter().map(|i| i["seq"].as_i64().unwrap()));
        cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
        if !page["more"].as_bool().unwrap() {
            return seqs;
        }
    }
}

/// Which entries a filter should select, decided entry by entry.
type Reference = Box<dyn Fn(&AuditEntry) -> bool>;

/// `GET /audit` against a brute-force reference over the same entries, with paging, an
/// authenticated cursor and late arrivals.
async fn query_suite(h: &Harness, store: &SqlAuditStore) {
    let tenant = TenantId::new(h.tenant.as_str()).unwrap();
    store.append(&synthetic(&tenant, 240, 0)).await.unwrap();
    h.emitter.flush().await;
    let auditor = h.admin_token(&h.tenant, &["auditor"]).await;
    let snapshot = store.entries(&h.tenant, 0, 100_000).await.unwrap();
    let last = snapshot.last().unwrap().seq;
    let cases: [(&str, Reference); 8] = [
        (
            "&action=note.read",
            Box::new(|e| e.data.action == "note.read"),
        ),
        (
            "&action=admin.*",
            Box::new(|e| e.data.action.starts_with("admin.")),
        ),
        (
            "&actor=user-1&outcome=denied",
            Box::new(|e| {
                e.data.actor.as_ref().is_some_and(|a| a.subject == "user-1")
                    && e.data.outcome == Outcome::Denied
            }),
        ),
        (
            "&actor=client-1&resource=note:3",
            Box::new(|e| {
                e.data.actor.as_ref().and_then(|a| a.client_id.as_deref()) == Some("client-1")
                    && e.data.resource.as_deref() == Some("note:3")
            }),
        ),
        (
            "&event_type=palisade.authz.decision&outcome=success",
            Box::new(|e| {
                e.event_type == "palisade.authz.decision" && e.data.outcome == Outcome::Success
            }),
        ),
        (
            "&trace_id=00000000000000000000000000000004",
            Box::new(|e| {
                e.traceparent
                    .as_deref()
                    .is_some_and(|t| t.contains("-00000000000000000000000000000004-"))
            }),
        ),
        (
            // Bounds within a second: the store compares seconds, the exact check is the API's.
            "&since=2030-03-17T17:46:40.5Z&until=2030-03-17T17:56:40.000000001Z",
            Box::new(|e| {
                let since = time::OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
                e.time >= since + time::Duration::milliseconds(500)
                    && e.time <= since + time::Duration::seconds(600)
            }),
        ),
        (
            "&since=2030-03-17T17:46:40Z&until=2030-03-17T18:10:00Z",
            Box::new(|e| {
                let since = time::OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
                e.time >= since && e.time < since + time::Duration::seconds(1400)
            }),
        ),
    ];
    for (filter, reference) in &cases {
        let expected: Vec<i64> = snapshot
            .iter()
            .filter(|s| reference(&s.entry))
            .map(|s| s.seq)
            .collect();
        assert!(!expected.is_empty(), "{filter} selects something");
        let got: Vec<i64> = page_all(h, &auditor, filter, 7)
            .await
            .into_iter()
            .filter(|s| *s <= last)
            .collect();
        assert_eq!(got, expected, "{filter}");
    }

    // Cursors: altered, from other filters, or from another tenant are refused.
    let (_, body) = get(h, "/audit?limit=3&action=note.read", &auditor).await;
    let cursor = serde_json::from_str::<serde_json::Value>(&body).unwrap()["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let (seq, tag) = cursor.split_once('.').unwrap();
    let altered = format!("{}.{tag}", seq.parse::<i64>().unwrap() + 1);
    assert_eq!(
        get(
            h,
            &format!("/audit?limit=3&action=note.read&cursor={altered}"),
            &auditor
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(
            h,
            &format!("/audit?limit=3&action=note.write&cursor={cursor}"),
            &auditor
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    let platform = h.admin_token(&h.platform, &["platform-auditor"]).await;
    let (status, _) = get(
        h,
        &format!(
            "/audit?tenant={}&limit=3&action=note.read&cursor={cursor}",
            h.tenant
        ),
        &platform,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same tenant and filters, another reader"
    );
    let (status, _) = get(
        h,
        &format!(
            "/audit?tenant={}&limit=3&action=note.read&cursor={cursor}",
            h.platform
        ),
        &platform,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "another tenant");
    for bad in [
        "limit=0",
        "limit=1001",
        "since=yesterday",
        "outcome=maybe",
        "colour=red",
    ] {
        assert_eq!(
            get(h, &format!("/audit?{bad}"), &auditor).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }

    // A reader paging on sees entries that arrive after it started, and skips none.
    let (_, body) = get(h, "/audit?limit=5&action=note.write", &auditor).await;
    let first: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut seen: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["seq"].as_i64().unwrap())
        .collect();
    store.append(&synthetic(&tenant, 40, 1)).await.unwrap();
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let (_, body) = get(
            h,
            &format!("/audit?limit=5&action=note.write&cursor={cursor}"),
            &auditor,
        )
        .await;
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["seq"].as_i64().unwrap()),
        );
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if !page["more"].as_bool().unwrap() {
            break;
        }
    }
    let all = store.entries(&h.tenant, 0, 100_000).await.unwrap();
    let expected: Vec<i64> = all
        .iter()
        .filter(|s| s.entry.data.action == "note.write")
        .map(|s| s.seq)
        .collect();
    assert_eq!(seen, expected, "late arrivals are read, none skipped");
    h.emitter.flush().await;
    assert!(
        h.audit
            .entries()
            .iter()
            .any(|e| e.data.action == "audit.query"),
        "queries are audited"
    );
}

/// A TCP proxy in front of the control plane that can be taken down: while down it closes every
/// connection, open or new, as an unreachable control plane would.
struct Switch {
    addr: std::net::SocketAddr,
    up: tokio::sync::watch::Sender<bool>,
}

async fn switch(target: &str) -> Switch {
    let target: std::net::SocketAddr = target.trim_start_matches("http://").parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (up, watch) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let mut watch = watch.clone();
            if !*watch.borrow() {
                continue;
            }
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = watch.wait_for(|up| !*up) => {}
                }
            });
        }
    });
    Switch { addr, up }
}

/// A service client allowed to ship audit entries for its tenant.
async fn shipper_client(h: &Harness) -> (String, String) {
    let client = h
        .server
        .identities()
        .create_client(palisade_runtime::server::ClientSpec {
            tenant: h.tenant.clone(),
            name: "billing audit shipper".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec![palisade_runtime::audit::AUDIT_WRITE_SCOPE.into()],
            audiences: vec![palisade_runtime::audit::AUDIT_AUDIENCE.into()],
            ..palisade_runtime::server::ClientSpec::default()
        })
        .await
        .unwrap();
    (
        client.client_id,
        client.client_secret.unwrap().expose().to_owned(),
    )
}

/// How many times each id appears in `tenant`'s chain.
async fn stored_ids(
    store: &SqlAuditStore,
    tenant: &str,
) -> std::collections::BTreeMap<String, usize> {
    let mut ids = std::collections::BTreeMap::new();
    for stored in store.entries(tenant, 0, 1_000_000).await.unwrap() {
        *ids.entry(stored.entry.id).or_insert(0) += 1;
    }
    ids
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A service keeps emitting while the control plane is unreachable and restarts meanwhile;
/// when the control plane is back, every acknowledged entry arrives once, with its sender;
/// entries of an unknown or another tenant are refused, counted and audited.
async fn shipping_suite(database: &str, audit_database: &str) {
    use palisade_runtime::audit::{ControlPlaneConfig, ControlPlaneSink, EmitterConfig};
    let (h, store, _) = start(database, audit_database).await;
    let (client_id, secret) = shipper_client(&h).await;
    let proxy = switch(&h.issuer).await;
    let spool = std::env::temp_dir().join(format!("palisade-spool-{}", uuid::Uuid::new_v4()));
    let config = ControlPlaneConfig::new(
        &format!("http://{}", proxy.addr),
        &client_id,
        Secret::new(secret.as_str()),
        &spool,
    );
    let tenant = TenantId::new(h.tenant.as_str()).unwrap();
    // Ids unique to this run: ingest is idempotent by id across runs on one database.
    let id = |n: usize| format!("{}-outage-{n}", h.tenant);
    let emit = async |sink: &ControlPlaneSink, from: usize, to: usize| {
        let emitter = palisade_runtime::audit::AuditEmitter::spawn(
            "urn:palisade:service:billing",
            Arc::new(sink.clone()),
            EmitterConfig::default(),
        );
        for n in from..to {
            let mut entry = emitter
                .entry("palisade.authz.decision", "invoice.read", Outcome::Success)
                .tenant(&tenant)
                .resource(&format!("invoice:{n}"));
            entry.id = id(n);
            emitter.emit(entry).await;
        }
        emitter.flush().await;
        assert_eq!(emitter.lost(), 0);
    };
    // Down from the start: 300 entries are acknowledged into the spool; nothing arrives.
    let first = ControlPlaneSink::start(config.clone()).unwrap();
    emit(&first, 0, 300).await;
    assert!(first.pending_bytes() > 0);
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert!(!stored_ids(&store, &h.tenant).await.contains_key(&id(0)));
    // The service restarts while the control plane is still down, and goes on emitting.
    first.stop();
    drop(first);
    let second = ControlPlaneSink::start(config.clone()).unwrap();
    emit(&second, 300, 400).await;
    // Entries the control plane must refuse: an unknown tenant and another tenant.
    let refused = palisade_runtime::audit::AuditEmitter::spawn(
        "urn:palisade:service:billing",
        Arc::new(second.clone()),
        EmitterConfig::default(),
    );
    for (id, other) in [
        ("refused-unknown", "no-such-tenant"),
        ("refused-foreign", h.platform.as_str()),
    ] {
        let mut entry = refused
            .entry("palisade.authz.decision", "invoice.read", Outcome::Success)
            .tenant(&TenantId::new(other).unwrap());
        entry.id = id.to_owned();
        refused.emit(entry).await;
    }
    refused.flush().await;
    proxy.up.send(true).unwrap();
    wait_until("the spool drains", async || second.pending_bytes() == 0).await;
    let ids = stored_ids(&store, &h.tenant).await;
    for n in 0..400 {
        assert_eq!(ids.get(&id(n)), Some(&1), "entry {n} arrives once");
    }
    assert_eq!(
        store.sender_of(&id(7)).await.unwrap().as_deref(),
        Some(client_id.as_str())
    );
    assert_eq!(second.sent(), 400);
    assert_eq!(second.lost(), 2, "the two refused entries are counted");
    assert!(
        !stored_ids(&store, &h.platform)
            .await
            .contains_key("refused-foreign")
    );
    h.emitter.flush().await;
    assert!(
        h.audit
            .entries()
            .iter()
            .any(|e| e.event_type == event_type::AUDIT_INGEST && e.data.outcome == Outcome::Denied)
    );
    // The chain with the shipped entries still verifies.
    assert!(store.verify(&h.tenant).await.unwrap().is_ok());
    let _ = std::fs::remove_dir_all(&spool);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_entries_survive_an_outage_and_a_restart_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("palisade-audit-ship-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());
    shipping_suite(&url("auth.db"), &url("audit.db")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_entries_survive_an_outage_and_a_restart_on_postgres() {
    let Ok(url) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        skip(
            "shipped_entries_survive_an_outage_and_a_restart_on_postgres",
            "PALISADE_TEST_DATABASE_URL is not set",
        );
        return;
    };
    shipping_suite(&url, &url).await;
}

/// `kill -9` of a shipping service right after its entries were acknowledged (while it may be
/// mid-batch): started again, it sends what was left, and every entry is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shipper_loses_no_acknowledged_entry_and_duplicates_none() {
    use std::io::BufRead as _;
    let dir = std::env::temp_dir().join(format!("palisade-audit-kill-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());
    let (h, store, _) = start(&url("auth.db"), &url("audit.db")).await;
    let (client_id, secret) = shipper_client(&h).await;
    let exe = std::env::current_exe().unwrap();
    let shipper = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/audit_shipper");
    assert!(
        shipper.exists(),
        "cargo test builds the audit_shipper example: {}",
        shipper.display()
    );
    let spool = dir.join("spool");
    let run = |count: &str| {
        std::process::Command::new(&shipper)
            .args([
                h.issuer.as_str(),
                &client_id,
                &secret,
                spool.to_str().unwrap(),
                &h.tenant,
                count,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let count = 2_000;
    let mut child = run(&count.to_string());
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), format!("acknowledged {count}"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let after_kill = stored_ids(&store, &h.tenant)
        .await
        .keys()
        .filter(|id| id.starts_with("shipped-"))
        .count();
    let mut again = run("0");
    wait_until("the restarted shipper drains the spool", async || {
        stored_ids(&store, &h.tenant)
            .await
            .keys()
            .filter(|id| id.starts_with("shipped-"))
            .count()
            == count
    })
    .await;
    again.kill().unwrap();
    again.wait().unwrap();
    let ids = stored_ids(&store, &h.tenant).await;
    for n in 0..count {
        assert_eq!(
            ids.get(&format!("shipped-{n}")),
            Some(&1),
            "shipped-{n} stored once"
        );
    }
    report(&format!(
        "kill -9 after acknowledgement: {after_kill} of {count} had arrived; the restart sent the rest, none twice"
    ));
}

async fn send(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, String) {
    let mut request = h
        .http
        .request(method, format!("{}{path}", h.issuer))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Retention and legal holds through the API: the class minimum refuses a lower setting (and the
/// refusal is audited), auditors cannot change either, the scheduled purge removes what is past
/// retention but stops at a held entry, a released hold lets it go on, and the export afterwards
/// verifies from the signed cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_holds_through_the_api() {
    use reqwest::Method;
    let dir = std::env::temp_dir().join(format!("palisade-audit-hold-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());
    let (h, store, key) = start_every(
        &url("auth.db"),
        &url("audit.db"),
        std::time::Duration::from_secs(1),
    )
    .await;
    let admin = h.admin_token(&h.tenant, &["admin"]).await;
    let auditor = h.admin_token(&h.tenant, &["auditor"]).await;
    let (status, body) = get(&h, "/audit/retention", &auditor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let retention: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            retention["days"].as_i64(),
            retention["class"].as_str(),
            retention["minimum"].as_i64()
        ),
        (Some(365), Some("standard"), Some(30))
    );
    let (status, body) = send(
        &h,
        Method::PUT,
        "/audit/retention",
        &admin,
        Some(serde_json::json!({ "days": 10 })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("30-day minimum"), "{body}");
    assert_eq!(
        send(
            &h,
            Method::PUT,
            "/audit/retention",
            &auditor,
            Some(serde_json::json!({ "days": 90 }))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(
            &h,
            Method::PUT,
            "/audit/retention",
            &admin,
            Some(serde_json::json!({ "days": 10, "class": "sox" }))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(
            &h,
            Method::PUT,
            "/audit/retention",
            &admin,
            Some(serde_json::json!({ "days": 30 }))
        )
        .await
        .0,
        StatusCode::OK
    );
    h.emitter.flush().await;
    assert!(
        h.audit
            .entries()
            .iter()
            .any(|e| e.data.action == "audit.retention.set" && e.data.outcome == Outcome::Denied)
    );

    // Entries: 10 of case:2, one of case:1 (to be held), 5 of case:2.
    let tenant = TenantId::new(h.tenant.as_str()).unwrap();
    let entry = |i: usize, case: u8| {
        let mut e = AuditEntry::new(
            "urn:palisade:test",
            "palisade.admin.change",
            "note.write",
            Outcome::Success,
        )
        .tenant(&tenant)
        .resource(&format!("case:{case}"));
        e.id = format!("kept-{i}");
        e
    };
    let batch: Vec<AuditEntry> = (0..16)
        .map(|i| entry(i, if i == 10 { 1 } else { 2 }))
        .collect();
    store.append(&batch).await.unwrap();
    let (status, body) = send(&h, Method::POST, "/audit/holds", &admin, Some(serde_json::json!({ "reason": "litigation 2026-17", "filter": { "resource": "case:1" } }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let hold = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        send(
            &h,
            Method::POST,
            "/audit/holds",
            &auditor,
            Some(serde_json::json!({ "reason": "x" }))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(
            &h,
            Method::POST,
            "/audit/holds",
            &admin,
            Some(serde_json::json!({ "reason": " " }))
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );

    // A year later: everything is past 30 days. The purge stops at the held entry. (Tokens of a
    // year ago have expired: new ones.)
    h.clock.advance(400 * 86_400);
    let admin = h.admin_token(&h.tenant, &["admin"]).await;
    let auditor = h.admin_token(&h.tenant, &["auditor"]).await;
    let held_seq = store
        .entries(&h.tenant, 0, 100_000)
        .await
        .unwrap()
        .iter()
        .find(|s| s.entry.id == "kept-10")
        .unwrap()
        .seq;
    wait_until("the purge reaches the held entry", async || {
        store
            .entries(&h.tenant, 0, 1)
            .await
            .unwrap()
            .first()
            .is_some_and(|s| s.seq == held_seq)
    })
    .await;
    let (_, export) = get(&h, "/audit/export", &auditor).await;
    let report = verify_export(export.as_bytes(), &key, &[]).unwrap();
    assert_eq!(
        report.first_seq,
        u64::try_from(held_seq).unwrap(),
        "the export starts at the held entry, after a signed cut"
    );

    // Released, the purge goes on: all but the newest entry.
    assert_eq!(
        send(
            &h,
            Method::POST,
            &format!("/audit/holds/{hold}/release"),
            &admin,
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(
            &h,
            Method::POST,
            &format!("/audit/holds/{hold}/release"),
            &admin,
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    wait_until("the purge passes the released entry", async || {
        store
            .entries(&h.tenant, 0, 1)
            .await
            .unwrap()
            .first()
            .is_some_and(|s| s.seq > held_seq)
    })
    .await;
    let (_, body) = get(&h, "/audit/holds", &auditor).await;
    assert!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["holds"][0]["released_at"]
            .is_string()
    );
    let (_, export) = get(&h, "/audit/export", &auditor).await;
    verify_export(export.as_bytes(), &key, &[]).unwrap();
    assert!(store.verify(&h.tenant).await.unwrap().is_ok());
    h.emitter.flush().await;
    assert!(
        h.audit
            .entries()
            .iter()
            .any(|e| e.event_type == event_type::AUDIT_PURGE)
    );
}
