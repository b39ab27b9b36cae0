//! Two authorization server processes on one PostgreSQL: a token issued by one is introspected and revoked through the other, and both publish the same JWKS. The replicas are this test binary started again with `PALISADE_REPLICA_DATABASE` set.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use palisade_runtime::audit::{AuditEmitter, EmitterConfig, JsonLinesSink, MemorySink};
use palisade_runtime::secrets::Secret;
use palisade_runtime::server::{
    AuthorizationServer, ClientSpec, KeyEncryptionKey, ServerConfig, Store, SystemClock,
};
use serde_json::Value;

use crate::support::{report, skip};

const ISSUER: &str = "https://login.replicas.test";
const KEK: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

async fn open(
    database: &str,
    sink: Arc<dyn palisade_runtime::audit::AuditSink>,
) -> AuthorizationServer {
    let store = Store::connect(database).await.unwrap();
    let kek = KeyEncryptionKey::from_secret(&Secret::new(KEK)).unwrap();
    let audit = AuditEmitter::spawn("urn:palisade:test:replica", sink, EmitterConfig::default());
    AuthorizationServer::open(
        ServerConfig::new(ISSUER),
        store,
        kek,
        audit,
        Arc::new(SystemClock),
    )
    .await
    .unwrap()
}

/// The replica process's entry point, not a test of its own: with `PALISADE_REPLICA_DATABASE`
/// set it serves the authorization server until killed; without, there is nothing to run.
#[test]
fn replica_process_entry_point() {
    let (Ok(database), Ok(port_file)) = (
        std::env::var("PALISADE_REPLICA_DATABASE"),
        std::env::var("PALISADE_REPLICA_PORT_FILE"),
    ) else {
        return;
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let server = open(&database, Arc::new(JsonLinesSink::new(std::io::sink()))).await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            std::fs::write(&port_file, port.to_string()).unwrap();
            axum::serve(listener, server.router()).await.unwrap();
        });
}

struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn_replica(database: &str, name: &str) -> Replica {
    let port_file: PathBuf =
        std::env::temp_dir().join(format!("palisade-replica-{}-{name}", uuid::Uuid::new_v4()));
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "replicas::replica_process_entry_point",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PALISADE_REPLICA_DATABASE", database)
        .env("PALISADE_REPLICA_PORT_FILE", &port_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut replica = Replica {
        child,
        base: String::new(),
    };
    for _ in 0..300 {
        if let Ok(port) = std::fs::read_to_string(&port_file)
            && !port.is_empty()
        {
            replica.base = format!("http://127.0.0.1:{port}");
            return replica;
        }
        assert!(
            replica.child.try_wait().unwrap().is_none(),
            "replica {name} exited"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("replica {name} did not start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_share_tokens_revocations_and_keys() {
    let Ok(database) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        skip(
            "two_replicas_on_one_postgres_share_tokens_revocations_and_keys",
            "PALISADE_TEST_DATABASE_URL is not set",
        );
        return;
    };
    // Set-up through the library: a tenant and a service identity.
    let admin = open(&database, Arc::new(MemorySink::new())).await;
    let tenant = format!(
        "replicas-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    admin
        .identities()
        .create_tenant(&tenant, "Replicas")
        .await
        .unwrap();
    let client = admin
        .identities()
        .create_client(ClientSpec {
            tenant: tenant.clone(),
            name: "worker".into(),
            grant_types: vec!["client_credentials".into()],
            scopes: vec!["jobs.run".into()],
            audiences: vec!["jobs-api".into()],
            introspection: true,
            ..ClientSpec::default()
        })
        .await
        .unwrap();
    let secret = client.client_secret.unwrap().expose().to_owned();

    let a = spawn_replica(&database, "a").await;
    let b = spawn_replica(&database, "b").await;
    let http = reqwest::Client::new();
    let post = |base: &str, path: &str, form: Vec<(&'static str, String)>| {
        http.post(format!("{base}{path}"))
            .basic_auth(&client.client_id, Some(&secret))
            .form(&form)
            .send()
    };

    let issued: Value = post(
        &a.base,
        "/token",
        vec![("grant_type", "client_credentials".into())],
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let token = issued["access_token"]
        .as_str()
        .expect("a token from replica a")
        .to_owned();
    let seen: Value = post(&b.base, "/introspect", vec![("token", token.clone())])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (seen["active"].as_bool(), seen["tenant_id"].as_str()),
        (Some(true), Some(tenant.as_str())),
        "{seen}"
    );
    assert_eq!(seen["iss"], ISSUER);

    let revoked = post(&b.base, "/revoke", vec![("token", token.clone())])
        .await
        .unwrap();
    assert_eq!(revoked.status(), reqwest::StatusCode::OK);
    let after: Value = post(&a.base, "/introspect", vec![("token", token.clone())])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(after, serde_json::json!({ "active": false }));

    let jwks_a: Value = http
        .get(format!("{}/jwks", a.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_b: Value = http
        .get(format!("{}/jwks", b.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks_a, jwks_b);
    assert!(!jwks_a["keys"].as_array().unwrap().is_empty());
    report("two replicas on one PostgreSQL: issue on a, introspect and revoke on b, same JWKS");
}
