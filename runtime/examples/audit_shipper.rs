//! A service that ships its audit entries to a control plane, for the crash test: `audit_shipper URL CLIENT_ID CLIENT_SECRET SPOOL TENANT COUNT` emits COUNT entries (ids `shipped-<n>`) through a `ControlPlaneSink`, prints `acknowledged COUNT` once they are in the spool, then keeps draining until killed.

#![expect(
    clippy::print_stdout,
    reason = "the test reads the acknowledgement from stdout"
)]

use std::sync::Arc;

use palisade_runtime::audit::{
    AuditEmitter, ControlPlaneConfig, ControlPlaneSink, EmitterConfig, Outcome,
};
use palisade_runtime::principal::{PrincipalKind, TenantId};
use palisade_runtime::secrets::Secret;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, client_id, secret, spool, tenant, count] = args.as_slice() else {
        return Err(
            "usage: audit_shipper URL CLIENT_ID CLIENT_SECRET SPOOL TENANT COUNT".to_owned(),
        );
    };
    let count: usize = count.parse().map_err(|e| format!("COUNT: {e}"))?;
    let tenant = TenantId::new(tenant.as_str()).map_err(|e| e.to_string())?;
    let sink = ControlPlaneSink::start(ControlPlaneConfig::new(
        url,
        client_id,
        Secret::new(secret.as_str()),
        spool.as_str(),
    ))
    .map_err(|e| e.to_string())?;
    let emitter = AuditEmitter::spawn(
        "urn:palisade:service:shipper",
        Arc::new(sink.clone()),
        EmitterConfig::default(),
    );
    for n in 0..count {
        let mut entry = emitter
            .entry("palisade.authz.decision", "invoice.read", Outcome::Success)
            .tenant(&tenant)
            .resource(&format!("invoice:{n}"))
            .actor("user-1", PrincipalKind::User, Some("billing-web"));
        entry.id = format!("shipped-{n}");
        emitter.emit(entry).await;
    }
    emitter.flush().await;
    println!("acknowledged {count}");
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}
