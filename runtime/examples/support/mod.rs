//! What the audit benchmarks share: an authorization server on a loopback port, its store in SQLite in the run's folder, its own audit entries in a file beside it (not in the store being measured).

use std::sync::Arc;

use palisade_runtime::audit::{AuditEmitter, EmitterConfig, JsonLinesSink};
use palisade_runtime::server::{
    AuthorizationServer, KeyEncryptionKey, ServerConfig, Store, SystemClock,
};

/// A server for `http://127.0.0.1:<port>` (plain HTTP allowed), with `platform` as its platform
/// tenant when given; the listener it is to serve on, and its issuer.
pub(crate) async fn server(
    folder: &str,
    platform: Option<&str>,
) -> Result<(AuthorizationServer, tokio::net::TcpListener, String), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let issuer = format!("http://{address}");
    let mut config = ServerConfig::new(&issuer);
    config.allow_insecure_http = true;
    config.platform_tenant = platform.map(str::to_owned);
    let store = Store::connect(&format!("sqlite://{folder}/auth.db?mode=rwc"))
        .await
        .map_err(|e| e.to_string())?;
    let own =
        std::fs::File::create(format!("{folder}/server-audit.jsonl")).map_err(|e| e.to_string())?;
    let audit = AuditEmitter::spawn(
        "urn:palisade:bench",
        Arc::new(JsonLinesSink::new(own)),
        EmitterConfig::default(),
    );
    let kek =
        KeyEncryptionKey::from_secret(&KeyEncryptionKey::generate()).map_err(|e| e.to_string())?;
    let server = AuthorizationServer::open(config, store, kek, audit, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    Ok((server, listener, issuer))
}
