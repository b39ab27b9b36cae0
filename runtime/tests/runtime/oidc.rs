//! A strict third-party OpenID Connect client, openid-client v6 (npm), drives the authorization server over real HTTP, the hardening review's checks included: `runtime/tests/oidc/conformance.mjs`.

use std::path::Path;
use std::process::Command;

use palisade_runtime::secrets::Secret;
use palisade_runtime::server::{ClientSpec, NewUser};

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
    // For the hardening checks: a second user, a confidential client that is no resource server,
    // and in the platform tenant a root client and user that a tenant admin must not touch.
    let ids = h.server.identities();
    let user = |tenant: &str, username: &str, roles: &[&str]| NewUser {
        tenant: tenant.to_owned(),
        username: username.to_owned(),
        password: Secret::new(crate::server::PASSWORD),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    };
    ids.create_user(user(&h.tenant, "bob", &[])).await.unwrap();
    let root_user = ids
        .create_user(user(&h.platform, "root", &["platform-admin"]))
        .await
        .unwrap();
    let client = |tenant: &str, roles: &[&str], audience: &str| ClientSpec {
        tenant: tenant.to_owned(),
        name: "conformance".into(),
        grant_types: vec!["client_credentials".into()],
        roles: roles.iter().map(|r| r.to_string()).collect(),
        audiences: vec![audience.to_owned()],
        ..ClientSpec::default()
    };
    let created = |spec| {
        let ids = ids.clone();
        async move {
            let c = ids.create_client(spec).await.unwrap();
            (c.client_id, c.client_secret.unwrap().expose().to_owned())
        }
    };
    let plain = created(client(&h.tenant, &[], "notes-api")).await;
    let root = created(client(&h.platform, &["platform-admin"], "palisade-admin")).await;
    let attacker = created(client(&h.platform, &["admin"], "palisade-admin")).await;
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
        ("BOB_USERNAME", "bob".to_owned()),
        ("PLAIN_CLIENT_ID", plain.0),
        ("PLAIN_CLIENT_SECRET", plain.1),
        ("PLATFORM_TENANT", h.platform.clone()),
        ("ROOT_CLIENT_ID", root.0),
        ("ROOT_USER_ID", root_user),
        ("ATTACKER_CLIENT_ID", attacker.0),
        ("ATTACKER_CLIENT_SECRET", attacker.1),
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
