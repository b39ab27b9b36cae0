//! The audit ingest benchmark (`scripts/bench-audit.sh`): an authorization server serving its audit log (SQLite in the given folder, or the PostgreSQL URL given), and in the same process a service shipping ENTRIES entries to it over loopback HTTP through a `ControlPlaneSink`; prints one JSON line with the time to spool them and the time until the control plane has stored every one in its tenant's hash chain.

#![expect(
    clippy::print_stdout,
    reason = "a benchmark: its result goes to stdout"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_runtime::audit::{
    AUDIT_AUDIENCE, AUDIT_WRITE_SCOPE, AuditEmitter, ControlPlaneConfig, ControlPlaneSink,
    EmitterConfig, Outcome, SqlAuditStore,
};
use palisade_runtime::principal::{PrincipalKind, TenantId};
use palisade_runtime::server::{AuditLog, ClientSpec};

mod support;

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [folder, entries, rest @ ..] = args.as_slice() else {
        return Err("usage: audit_ingest FOLDER ENTRIES [POSTGRES_URL]".to_owned());
    };
    let entries: usize = entries.parse().map_err(|e| format!("ENTRIES: {e}"))?;
    let audit_url = rest
        .first()
        .cloned()
        .unwrap_or_else(|| format!("sqlite://{folder}/audit.db?mode=rwc"));
    let (server, listener, issuer) = support::server(folder, None).await?;
    let tenant = format!("bench-{}", std::process::id());
    server
        .identities()
        .create_tenant(&tenant, "Bench")
        .await
        .map_err(|e| e.to_string())?;
    let client = server
        .identities()
        .create_client(ClientSpec {
            tenant: tenant.clone(),
            name: "shipper".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec![AUDIT_WRITE_SCOPE.into()],
            audiences: vec![AUDIT_AUDIENCE.into()],
            ..ClientSpec::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let audit_store = SqlAuditStore::connect(&audit_url)
        .await
        .map_err(|e| e.to_string())?;
    let private = AuditLog::generate_key(&issuer).map_err(|e| e.to_string())?;
    server
        .serve_audit_log(AuditLog::new(audit_store.clone(), &private).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let router = server.router();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let secret = client.client_secret.ok_or("no secret")?;
    let sink = ControlPlaneSink::start(ControlPlaneConfig::new(
        &issuer,
        &client.client_id,
        secret,
        format!("{folder}/spool"),
    ))
    .map_err(|e| e.to_string())?;
    let emitter = AuditEmitter::spawn(
        "urn:palisade:service:billing",
        Arc::new(sink.clone()),
        EmitterConfig::default(),
    );
    let tenant_id = TenantId::new(tenant.as_str()).map_err(|e| e.to_string())?;
    let started = Instant::now();
    for n in 0..entries {
        let entry = emitter
            .entry("palisade.authz.decision", "invoice.read", Outcome::Success)
            .tenant(&tenant_id)
            .resource(&format!("invoice:{n}"))
            .actor("user-1", PrincipalKind::User, Some("billing-web"));
        emitter.emit(entry).await;
    }
    emitter.flush().await;
    let spooled = started.elapsed();
    while sink.sent() < entries as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = started.elapsed();
    let verified = audit_store
        .verify(&tenant)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::json!({
            "entries": entries,
            "database": if rest.is_empty() { "sqlite" } else { "postgres" },
            "spooled_seconds": spooled.as_secs_f64(),
            "stored_seconds": stored.as_secs_f64(),
            "entries_per_second": entries as f64 / stored.as_secs_f64(),
            "chain_verified": verified.entries,
            "lost": sink.lost() + emitter.lost(),
        })
    );
    Ok(())
}
