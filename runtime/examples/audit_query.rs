//! The audit query benchmark (`scripts/bench-audit.sh`): fills a PostgreSQL audit store with ENTRIES synthetic entries across TENANTS tenants (once; a later run reuses them), serves it through an authorization server, and times filtered `GET /audit` pages over loopback HTTP as a platform auditor; prints one JSON line per query kind with its p50, p99 and max, and one for all of them.

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark: its result goes to stdout, its progress to stderr"
)]

use std::time::{Duration, Instant};

use palisade_runtime::audit::SqlAuditStore;
use palisade_runtime::server::{AuditLog, ClientSpec};
use sqlx::Row as _;

mod support;

/// The actions the synthetic entries take, one in twenty of them administrative.
const ACTIONS: [&str; 20] = [
    "note.read",
    "note.list",
    "note.create",
    "note.update",
    "note.delete",
    "invoice.read",
    "invoice.list",
    "invoice.create",
    "invoice.pay",
    "invoice.void",
    "report.read",
    "report.export",
    "user.read",
    "user.update",
    "session.create",
    "session.delete",
    "token.refresh",
    "file.upload",
    "file.download",
    "admin.client.create",
];

/// Inserts rows `from..to` of the synthetic log in one statement: entry `g` goes to tenant
/// `g % tenants`, at sequence `g / tenants + 1`, three seconds after entry `g - 1`. The rows are
/// what the store writes except that `prev_hash` and `hash` are left empty: the query path never
/// reads them, and this fills ten million rows in minutes.
fn fill_sql(from: i64, to: i64, tenants: i64) -> String {
    let actions = ACTIONS.map(|a| format!("'{a}'")).join(",");
    format!(
        "INSERT INTO palisade_audit_log (chain, seq, id, time, event_type, entry, prev_hash, hash, \
                                         actor, client_id, action, resource, outcome, trace_id)
         SELECT chain, seq, id, to_char(at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), event_type,
                json_build_object(
                  'specversion', '1.0', 'id', id, 'source', 'urn:palisade:service:bench',
                  'type', event_type, 'time', to_char(at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                  'datacontenttype', 'application/json', 'traceparent', '00-' || trace || '-00f067aa0ba902b7-01',
                  'tenantid', chain,
                  'data', json_build_object(
                    'tenant', chain,
                    'actor', json_build_object('subject', actor, 'kind', 'user', 'client_id', client),
                    'action', action, 'resource', resource, 'outcome', outcome, 'reason', NULL))::text,
                '', '', actor, client, action, resource, outcome, trace
         FROM (
           SELECT 'tenant-' || lpad((g % {tenants})::text, 3, '0') AS chain,
                  g / {tenants} + 1 AS seq,
                  md5('id' || g) AS id,
                  timestamp '2026-01-01' + g * interval '3 seconds' AS at,
                  CASE WHEN g % 50 = 7 THEN 'palisade.authn.failure' ELSE 'palisade.authz.decision' END AS event_type,
                  'user-' || (g / {tenants}) % 10 AS actor,
                  'app-' || (g / {tenants}) % 3 AS client,
                  (ARRAY[{actions}])[1 + (g / {tenants} / 7) % 20] AS action,
                  'note:' || (g / {tenants}) % 50000 AS resource,
                  CASE WHEN g % 50 = 7 THEN 'failure' WHEN g % 25 = 3 THEN 'denied' ELSE 'success' END AS outcome,
                  md5('trace' || g) AS trace
           FROM generate_series({from}, {to} - 1) AS g
         ) AS synthetic"
    )
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [folder, database, entries, tenants, queries] = args.as_slice() else {
        return Err(
            "usage: audit_query FOLDER POSTGRES_URL ENTRIES TENANTS QUERIES_PER_KIND".to_owned(),
        );
    };
    let number = |name: &str, text: &str| -> Result<i64, String> {
        text.parse().map_err(|e| format!("{name}: {e}"))
    };
    let (entries, tenants, queries) = (
        number("ENTRIES", entries)?,
        number("TENANTS", tenants)?,
        number("QUERIES", queries)?,
    );
    let mut store = SqlAuditStore::connect(database)
        .await
        .map_err(|e| e.to_string())?;
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM palisade_audit_log")
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())?;
    if stored < entries {
        // From scratch (also after an interrupted fill): the schema and indexes as the store
        // makes them.
        sqlx::raw_sql("DROP TABLE IF EXISTS palisade_audit_log, palisade_audit_head")
            .execute(store.pool())
            .await
            .map_err(|e| e.to_string())?;
        store = SqlAuditStore::connect(database)
            .await
            .map_err(|e| e.to_string())?;
        // The store's own indexes (as it created them), dropped for the fill and built again
        // after it: building an index once is far faster than keeping nine up to date per row.
        let indexes: Vec<(String,)> = sqlx::query_as(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'palisade_audit_log' ORDER BY indexname",
        )
        .fetch_all(store.pool())
        .await
        .map_err(|e| e.to_string())?;
        sqlx::raw_sql(
            "ALTER TABLE palisade_audit_log DROP CONSTRAINT IF EXISTS palisade_audit_log_pkey; \
             DROP INDEX IF EXISTS palisade_audit_log_pkey",
        )
        .execute(store.pool())
        .await
        .map_err(|e| e.to_string())?;
        for (definition,) in &indexes {
            let mut words = definition.split_whitespace().skip_while(|w| *w != "INDEX");
            let name = words.nth(1).unwrap_or_default();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}")))
                .execute(store.pool())
                .await
                .map_err(|e| e.to_string())?;
        }
        let started = Instant::now();
        let step = 500_000;
        for from in (0..entries).step_by(step as usize) {
            let sql = fill_sql(from, (from + step).min(entries), tenants);
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(store.pool())
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("filled {} of {entries}", (from + step).min(entries));
        }
        for (definition,) in &indexes {
            sqlx::raw_sql(sqlx::AssertSqlSafe(definition.clone()))
                .execute(store.pool())
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("{definition}");
        }
        // As autovacuum leaves a table that has taken inserts: statistics, and the visibility
        // map that lets the filter indexes answer on their own.
        sqlx::raw_sql("VACUUM ANALYZE palisade_audit_log")
            .execute(store.pool())
            .await
            .map_err(|e| e.to_string())?;
        eprintln!("filled in {:.0} s", started.elapsed().as_secs_f64());
    }

    let (server, listener, issuer) = support::server(folder, Some("platform")).await?;
    let ids = server.identities();
    ids.create_tenant("platform", "Platform")
        .await
        .map_err(|e| e.to_string())?;
    for t in 0..tenants {
        let tenant = format!("tenant-{t:03}");
        ids.create_tenant(&tenant, &tenant)
            .await
            .map_err(|e| e.to_string())?;
    }
    let auditor = ids
        .create_client(ClientSpec {
            tenant: "platform".into(),
            name: "auditor".into(),
            grant_types: vec!["client_credentials".into()],
            audiences: vec!["palisade-admin".into()],
            roles: vec!["platform-auditor".into()],
            ..ClientSpec::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let private = AuditLog::generate_key(&issuer).map_err(|e| e.to_string())?;
    server
        .serve_audit_log(AuditLog::new(store.clone(), &private).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let router = server.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let http = reqwest::Client::new();
    let secret = auditor.client_secret.ok_or("no secret")?;
    let token: serde_json::Value = http
        .post(format!("{issuer}/token"))
        .basic_auth(&auditor.client_id, Some(secret.expose()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", "palisade-admin"),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let token = token["access_token"]
        .as_str()
        .ok_or(format!("no token: {token}"))?
        .to_owned();

    // A trace id and a resource that exist, from the middle of the first tenant's chain.
    let row = sqlx::query(
        "SELECT trace_id, resource FROM palisade_audit_log WHERE chain = 'tenant-000' AND seq = $1",
    )
    .bind(entries / tenants / 2)
    .fetch_one(store.pool())
    .await
    .map_err(|e| e.to_string())?;
    let trace: String = row.try_get(0).map_err(|e| e.to_string())?;
    let resource: String = row.try_get(1).map_err(|e| e.to_string())?;
    let kinds: [(&str, String); 10] = [
        ("no filter", String::new()),
        ("actor", "&actor=user-3".into()),
        ("action", "&action=invoice.pay".into()),
        ("action prefix", "&action=admin.*".into()),
        ("outcome", "&outcome=denied".into()),
        ("event type", "&event_type=palisade.authn.failure".into()),
        ("resource", format!("&resource={resource}")),
        ("trace id", format!("&trace_id={trace}")),
        (
            "one day",
            "&since=2026-06-01T00:00:00Z&until=2026-06-02T00:00:00Z".into(),
        ),
        ("actor and outcome", "&actor=user-3&outcome=denied".into()),
    ];
    let mut all = Vec::new();
    for (kind, filter) in &kinds {
        let mut times = Vec::new();
        for n in 0..queries {
            let tenant = format!("tenant-{:03}", (n * 37) % tenants);
            let url = format!("{issuer}/audit?tenant={tenant}&limit=100{filter}");
            let started = Instant::now();
            let response = http
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| e.to_string())?;
            times.push(started.elapsed());
            if !status.is_success() {
                return Err(format!(
                    "{url}: {status} {}",
                    String::from_utf8_lossy(&body)
                ));
            }
        }
        println!("{}", summary(kind, &mut times));
        all.extend(times);
    }
    println!("{}", summary("all", &mut all));
    Ok(())
}

/// p50, p99 and max of `times`, in milliseconds, as a JSON line.
fn summary(kind: &str, times: &mut [Duration]) -> serde_json::Value {
    times.sort();
    let at = |q: f64| {
        let index = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        times.get(index).map_or(0.0, |t| t.as_secs_f64() * 1000.0)
    };
    serde_json::json!({
        "query": kind,
        "queries": times.len(),
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
    })
}
