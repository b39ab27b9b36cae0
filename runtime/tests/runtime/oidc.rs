//! A strict third-party OpenID Connect client, openid-client v6 (npm), drives the authorization server over real HTTP: `runtime/tests/oidc/conformance.mjs`.

use std::path::Path;
use std::process::Command;

use crate::server::start;
use crate::support::{report, skip};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_conformance() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
    if !dir.join("node_modules/openid-client").is_dir() {
        skip(
            "openid_client_conformance",
            "openid-client is not installed: run `npm ci --prefix runtime/tests/oidc`",
        );
        return;
    }
    let database = std::env::temp_dir().join(format!("palisade-oidc-{}.db", uuid::Uuid::new_v4()));
    let h = start(&format!("sqlite://{}?mode=rwc", database.display())).await;
    let (web_id, web_secret) = h.web_credentials();
    let script = dir.join("conformance.mjs");
    let envs = [
        ("ISSUER", h.issuer.clone()),
        ("SERVICE_CLIENT_ID", h.service_id.clone()),
        ("SERVICE_CLIENT_SECRET", h.service_secret.clone()),
        ("WEB_CLIENT_ID", web_id),
        ("WEB_CLIENT_SECRET", web_secret),
        ("USERNAME", "alice".to_owned()),
        ("PASSWORD", crate::server::PASSWORD.to_owned()),
        ("REDIRECT_URI", crate::server::REDIRECT.to_owned()),
        (
            "POST_LOGOUT_REDIRECT_URI",
            crate::server::POST_LOGOUT.to_owned(),
        ),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .envs(envs)
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "openid-client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("openid-client conformance: all steps passed"),
        "{stdout}"
    );
    for line in stdout.lines() {
        report(&format!("openid-client: {line}"));
    }
}
