//! A stand-alone authorization server for load tests (`scripts/bench-server.sh`): SQLite in the given folder, one tenant and one service client; prints the issuer and credentials as one JSON line, then serves until killed.

use std::sync::Arc;

use palisade_runtime::audit::{AuditEmitter, EmitterConfig, JsonLinesSink};
use palisade_runtime::server::{
    AuthorizationServer, ClientSpec, KeyEncryptionKey, ServerConfig, Store, SystemClock,
};

#[tokio::main]
async fn main() {
    let folder = std::env::args()
        .nth(1)
        .expect("usage: authorization_server <folder>");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("address"));
    let mut config = ServerConfig::new(&issuer);
    config.allow_insecure_http = true;
    let store = Store::connect(&format!("sqlite://{folder}/auth.db?mode=rwc"))
        .await
        .expect("store");
    // Audit goes to a file, as it would in production (not discarded).
    let log = std::fs::File::create(format!("{folder}/audit.jsonl")).expect("audit log");
    let audit = AuditEmitter::spawn(
        "urn:palisade:bench",
        Arc::new(JsonLinesSink::new(log)),
        EmitterConfig::default(),
    );
    let server = AuthorizationServer::open(
        config,
        store,
        KeyEncryptionKey::from_secret(&KeyEncryptionKey::generate()).expect("kek"),
        audit,
        Arc::new(SystemClock),
    )
    .await
    .expect("server");
    server
        .identities()
        .create_tenant("bench", "Bench")
        .await
        .expect("tenant");
    let client = server
        .identities()
        .create_client(ClientSpec {
            tenant: "bench".into(),
            name: "load".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["bench".into()],
            roles: vec!["worker".into()],
            audiences: vec!["bench-api".into()],
            // The load client introspects its own tokens, as a resource server of bench-api.
            introspection: true,
            ..ClientSpec::default()
        })
        .await
        .expect("client");
    let secret = client.client_secret.expect("a secret");
    let line = serde_json::json!({ "issuer": issuer, "client_id": client.client_id, "client_secret": secret.expose() });
    // The one line a load script reads; this example has no other output.
    #[allow(clippy::print_stdout)]
    {
        println!("{line}");
    }
    axum::serve(listener, server.router()).await.expect("serve");
}
