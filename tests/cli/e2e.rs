//! End to end: every `service` and `control-plane` variant is generated against this workspace's runtime, and its own
//! `cargo test` and `cargo clippy --all-targets -- -D warnings` pass; the sqlite variant's binary is
//! then run and called over real HTTP with tokens from the runtime's test authority.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use palisade_runtime::testing::TestAuthority;
use serde_json::json;

use crate::support::{palisade, report, scratch, skip, workspace};

/// One target folder for every generated project, so their dependencies build once.
fn target_dir() -> PathBuf {
    workspace().join("target/generated")
}

fn cargo(project: &Path, args: &[&str], envs: &[(&str, String)]) {
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(project)
        .env("CARGO_TARGET_DIR", target_dir())
        // Each project builds once: incremental artifacts would only fill the disk.
        .env("CARGO_INCREMENTAL", "0")
        // Five projects share the folder: without debug info it is a third of the size (CI runs
        // on a machine whose disk a full-debug build of every variant once filled).
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("CARGO_PROFILE_TEST_DEBUG", "0")
        .env_remove("RUSTFLAGS")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run cargo");
    let name = project.file_name().unwrap().to_string_lossy();
    assert!(
        out.status.success(),
        "cargo {args:?} failed in {name}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let passed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("test result:") && !l.contains("ok. 0 passed"))
        .collect();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("SKIPPED"),
        "{name}: a generated test skipped"
    );
    report(&format!(
        "{name}: cargo {} ok in {:.0?} {}",
        args.join(" "),
        started.elapsed(),
        passed.join(" | ")
    ));
}

/// `cargo deny check` as the generated CI runs it, but for advisories (their database is on
/// GitHub, which this machine cannot reach): the generated `deny.toml` accepts the licences and
/// sources of the whole dependency tree.
fn deny(project: &Path) {
    let name = project.file_name().unwrap().to_string_lossy();
    let Ok(out) = Command::new("cargo-deny")
        .args(["--locked", "check", "licenses", "bans", "sources"])
        .current_dir(project)
        .output()
    else {
        skip(
            "generated_variants_build_test_lint_and_serve (cargo deny)",
            "cargo-deny is not installed",
        );
        return;
    };
    assert!(
        out.status.success(),
        "cargo deny check failed in {name}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report(&format!(
        "{name}: cargo deny check licenses bans sources ok"
    ));
}

fn generate(dir: &Path, template: &str, name: &str, defines: &[&str]) -> PathBuf {
    let runtime = workspace().join("runtime");
    let mut args = vec![
        "new",
        name,
        "--template",
        template,
        "--no-git",
        "--runtime-path",
        runtime.to_str().unwrap(),
    ];
    for d in defines {
        args.extend(["--define", d]);
    }
    let out = palisade(dir, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let project = dir.join(name);
    // The workspace's lock file pins the same versions the runtime is tested with, and keeps
    // the generated projects from resolving (and building) other versions.
    std::fs::copy(workspace().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    project
}

#[test]
fn generated_variants_build_test_lint_and_serve() {
    let dir = scratch("e2e");
    let database = std::env::var("PALISADE_TEST_DATABASE_URL").ok();
    let variants: [(&str, &str, &[&str]); 5] = [
        ("service", "svc-sqlite", &[]),
        ("service", "svc-none", &["database=none", "docker=false"]),
        (
            "service",
            "svc-postgres",
            &["database=postgres", "audit_sink=database"],
        ),
        ("control-plane", "cp-sqlite", &[]),
        ("control-plane", "cp-postgres", &["database=postgres"]),
    ];
    for (template, name, defines) in variants {
        let project = generate(&dir, template, name, defines);
        let mut envs = Vec::new();
        if name.ends_with("-postgres") {
            match &database {
                Some(url) => envs.push(("TEST_DATABASE_URL", url.clone())),
                None => {
                    skip(
                        "generated_variants_build_test_lint_and_serve (postgres)",
                        "PALISADE_TEST_DATABASE_URL is not set",
                    );
                    continue;
                }
            }
        }
        // What the generated CI runs, in its order.
        cargo(&project, &["fmt", "--check"], &envs);
        cargo(&project, &["test"], &envs);
        cargo(
            &project,
            &["clippy", "--all-targets", "--", "-D", "warnings"],
            &envs,
        );
        if template == "service" {
            deny(&project);
        }
        if name == "svc-postgres" {
            ci_without_a_database_fails(&project);
        }
        if name == "svc-sqlite" {
            cargo(&project, &["build"], &envs);
            serve_over_http(&project, name);
        }
        if name == "cp-sqlite" {
            cargo(&project, &["build"], &envs);
            service_accepts_control_plane_tokens(&project, &dir.join("svc-sqlite"));
            zero_to_an_authenticated_request(&project, &dir.join("svc-sqlite"));
        }
    }
}

/// The generated postgres tests fail, never pass by skipping, when `CI` is set and no database
/// is named: as the generated workflow would if its PostgreSQL service were dropped.
fn ci_without_a_database_fails(project: &Path) {
    let out = Command::new(env!("CARGO"))
        .args(["test", "--test", "postgres"])
        .current_dir(project)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_INCREMENTAL", "0")
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("CARGO_PROFILE_TEST_DEBUG", "0")
        .env_remove("RUSTFLAGS")
        .env_remove("TEST_DATABASE_URL")
        .env("CI", "true")
        .output()
        .expect("run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && stdout.contains("TEST_DATABASE_URL must name"),
        "with CI set and no database the postgres tests must fail:\n{stdout}"
    );
    report(
        "svc-postgres: with CI set and no TEST_DATABASE_URL its database tests fail, naming the variable",
    );
}

/// The generated control plane issues a service identity's token over HTTP; the generated service,
/// pointed at it as its issuer, accepts the token and serves the request.
fn service_accepts_control_plane_tokens(control_plane: &Path, service: &Path) {
    let data = control_plane.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let cp = |args: &[&str]| {
        let mut command = Command::new(target_dir().join("debug").join("cp-sqlite"));
        command
            .args(args)
            .current_dir(control_plane)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", data.join("cp.db").display()),
            )
            .env("APP__KEYS__DEVELOPMENT_KEY_FILE", data.join("kek"))
            .env(
                "APP__AUDIT__DEVELOPMENT_CHECKPOINT_KEY_FILE",
                data.join("audit-key"),
            )
            .env("APP__BOOTSTRAP__DEVELOPMENT_TENANT", "false")
            .env("APP__SERVER__PORT", port.to_string())
            .env("APP__ISSUER__URL", &issuer)
            .env("RUST_LOG", "warn");
        command
    };
    let admin = |args: &[&str]| -> serde_json::Value {
        let out = cp(args).output().unwrap();
        assert!(
            out.status.success(),
            "cp-sqlite {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    admin(&["tenant", "create", "acme"]);
    let client = admin(&[
        "client",
        "create",
        "acme",
        "notes writer",
        "--grant",
        "client_credentials",
        "--audience",
        "svc-sqlite",
        "--role",
        "writer",
    ]);
    let shipper = admin(&[
        "client",
        "create",
        "acme",
        "svc-sqlite audit",
        "--grant",
        "client_credentials",
        "--audience",
        "palisade-audit",
        "--scope",
        "audit:write",
    ]);
    let auditor = admin(&[
        "client",
        "create",
        "acme",
        "acme auditor",
        "--grant",
        "client_credentials",
        "--audience",
        "palisade-admin",
        "--role",
        "auditor",
    ]);
    // The service's policies in the control plane's policy service, under a client of its own:
    // its repository's schema and policies, uploaded as its CI would.
    let policy_client = admin(&[
        "client",
        "create",
        "acme",
        "svc-sqlite policies",
        "--grant",
        "client_credentials",
        "--audience",
        "palisade-policy",
        "--scope",
        "policy:read",
    ]);
    let policy_service = policy_client["client_id"].as_str().unwrap().to_owned();
    let policies = service.join("policies");
    let schema = policies.join("schema.cedarschema");
    admin(&[
        "policy",
        "schema",
        &policy_service,
        schema.to_str().unwrap(),
    ]);
    admin(&["policy", "put", &policy_service, policies.to_str().unwrap()]);
    let serving = Running(
        cp(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let up = answers(&http, &format!("{issuer}/jwks"), None, |_| true).await;
        assert!(up, "the generated control plane serves");
        let token: serde_json::Value = http
            .post(format!("{issuer}/token"))
            .basic_auth(
                client["client_id"].as_str().unwrap(),
                client["client_secret"].as_str(),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"]
            .as_str()
            .expect("a token from the control plane")
            .to_owned();

        let verifying_key = http
            .get(format!("{issuer}/.well-known/palisade-policy-key"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let service_port = free_port();
        // The service ships its audit entries to the control plane (audit sink control_plane),
        // and takes its policies from the control plane's signed bundle.
        let shipping = service.join("data").join("audit-spool");
        let kept_bundle = service.join("data").join("policy-bundle");
        let issuer_env = [
            ("APP__AUTH__ISSUER", issuer.clone()),
            ("APP__AUDIT__SINK", "control_plane".to_owned()),
            ("APP__AUDIT__CONTROL_PLANE__URL", issuer.clone()),
            (
                "APP__AUDIT__CONTROL_PLANE__CLIENT_ID",
                shipper["client_id"].as_str().unwrap().to_owned(),
            ),
            (
                "APP__AUDIT__CONTROL_PLANE__CLIENT_SECRET",
                "env://E2E_AUDIT_CLIENT_SECRET".to_owned(),
            ),
            (
                "E2E_AUDIT_CLIENT_SECRET",
                shipper["client_secret"].as_str().unwrap().to_owned(),
            ),
            (
                "APP__AUDIT__CONTROL_PLANE__SPOOL",
                shipping.display().to_string(),
            ),
            ("APP__AUTHZ__CONTROL_PLANE__URL", issuer.clone()),
            ("APP__AUTHZ__CONTROL_PLANE__CLIENT_ID", policy_service.clone()),
            (
                "APP__AUTHZ__CONTROL_PLANE__CLIENT_SECRET",
                "env://E2E_POLICY_CLIENT_SECRET".to_owned(),
            ),
            (
                "E2E_POLICY_CLIENT_SECRET",
                policy_client["client_secret"].as_str().unwrap().to_owned(),
            ),
            (
                "APP__AUTHZ__CONTROL_PLANE__VERIFYING_KEY",
                verifying_key.trim().to_owned(),
            ),
            (
                "APP__AUTHZ__CONTROL_PLANE__KEPT_BUNDLE",
                kept_bundle.display().to_string(),
            ),
            ("APP__AUTHZ__CONTROL_PLANE__REFRESH_SECS", "1".to_owned()),
        ];
        let _service = run_service(service, "cp-e2e.db", service_port, &issuer_env);
        let base = format!("http://127.0.0.1:{service_port}");
        let ready = answers(&http, &format!("{base}/readyz"), None, |s| s == 200).await;
        assert!(
            ready,
            "the service is ready once it has the control plane's keys"
        );
        let notes = format!("{base}/tenants/acme/notes");
        let created = http
            .post(&notes)
            .bearer_auth(&token)
            .json(&json!({ "title": "from the control plane", "body": "x" }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let other = http
            .get(format!("{base}/tenants/globex/notes"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 403);

        // The policies in force are the control plane's bundle (schema v1, base set v2), and
        // /readyz says so.
        let ready: serde_json::Value = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["policy_bundle"]["version"], 2, "{ready}");
        assert!(
            kept_bundle.is_file(),
            "the bundle in force is kept for a restart while the control plane is down"
        );
        // acme's admin forbids creating notes in acme (a set of acme's own, put while both
        // run): within a refresh the service denies the create, without a restart.
        let acme_set = service.join("data").join("acme-policies");
        std::fs::create_dir_all(&acme_set).unwrap();
        std::fs::write(
            acme_set.join("freeze.cedar"),
            "@id(\"acme-freeze\")\nforbid (principal, action == App::Action::\"create\", resource);\n",
        )
        .unwrap();
        admin(&[
            "policy",
            "put",
            &policy_service,
            acme_set.to_str().unwrap(),
            "--tenant",
            "acme",
        ]);
        let mut status = reqwest::StatusCode::CREATED;
        for _ in 0..100 {
            status = http
                .post(&notes)
                .bearer_auth(&token)
                .json(&json!({ "title": "after the freeze", "body": "x" }))
                .send()
                .await
                .unwrap()
                .status();
            if status == reqwest::StatusCode::FORBIDDEN {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(status, 403, "acme's new set is in force without a restart");
        let ready: serde_json::Value = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(ready["policy_bundle"]["version"], 3, "{ready}");

        // The service's entries (the create, and the refusal of another tenant) reach the control plane's audit log, where acme's auditor reads
        // them with GET /audit.
        let auditor: serde_json::Value = http
            .post(format!("{issuer}/token"))
            .basic_auth(
                auditor["client_id"].as_str().unwrap(),
                auditor["client_secret"].as_str(),
            )
            .form(&[
                ("grant_type", "client_credentials"),
                ("audience", "palisade-admin"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let auditor = auditor["access_token"].as_str().expect("an auditor token");
        let query = format!("{issuer}/audit?limit=1000");
        let source = "urn:palisade:service:svc-sqlite";
        let mut shipped = Vec::new();
        for _ in 0..100 {
            let page: serde_json::Value = http
                .get(&query)
                .bearer_auth(auditor)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            shipped = (page["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter())
            .filter(|item| item["entry"]["source"] == source)
            .collect();
            let outcomes: Vec<&str> = (shipped.iter())
                .filter_map(|item| item["entry"]["data"]["outcome"].as_str())
                .collect();
            if outcomes.contains(&"success") && outcomes.contains(&"denied") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let outcomes: Vec<&str> = (shipped.iter())
            .filter_map(|item| item["entry"]["data"]["outcome"].as_str())
            .collect();
        assert!(
            outcomes.contains(&"success") && outcomes.contains(&"denied"),
            "the service's entries (the create, the refused tenant) arrive in the control plane's log: {shipped:?}"
        );
    });
    drop(serving);
    report(
        "cp-sqlite: the generated service accepted the generated control plane's token over HTTP (201), refused another tenant (403), took its policies from the control plane's signed bundle and swapped in a tenant's new set without a restart (403 within a refresh), and shipped its audit entries to the control plane, where GET /audit returns them",
    );
}

/// The generated service README's three commands, with a generated control plane serving in its
/// development profile on 127.0.0.1:9000 (as its README starts it): `cargo run` (the built
/// binary, in the development profile `.cargo/config.toml` sets), the control plane's `token`
/// command for the `dev` tenant it created on first start, and a request that gets 200.
fn zero_to_an_authenticated_request(control_plane: &Path, service: &Path) {
    let data = control_plane.join("data-dev");
    std::fs::create_dir_all(&data).unwrap();
    let database = format!("sqlite://{}?mode=rwc", data.join("cp.db").display());
    let cp = |args: &[&str]| {
        let mut command = Command::new(target_dir().join("debug").join("cp-sqlite"));
        command
            .args(args)
            .current_dir(control_plane)
            .env("DATABASE_URL", &database)
            .env("APP__KEYS__DEVELOPMENT_KEY_FILE", data.join("kek"))
            .env("RUST_LOG", "warn");
        command
    };
    let _control_plane = Running(
        cp(&["serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let service_port = free_port();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let up = answers(&http, "http://127.0.0.1:9000/jwks", None, |_| true).await;
        assert!(up, "the control plane serves on 127.0.0.1:9000");

        // 1. `cargo run`: the development profile, nothing else set but where to keep data.
        let _service = run_service(service, "dev.db", service_port, &[]);
        // 2. The control plane's development token command.
        let out = cp(&[
            "token",
            "--tenant",
            "dev",
            "--audience",
            "svc-sqlite",
            "--role",
            "writer",
        ])
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let token = token["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned();
        // 3. The request.
        let notes = format!("http://127.0.0.1:{service_port}/tenants/dev/notes");
        let served = answers(&http, &notes, Some(&token), |s| s == 200).await;
        assert!(served, "the README's request is served (200)");
    });
    report("svc-sqlite: zero to an authenticated request in the README's three commands (200)");
}

/// Whether `url` answers (with `token`, when given) a status `ok` accepts within 10 s: a server
/// just started needs a moment.
async fn answers(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    ok: impl Fn(u16) -> bool,
) -> bool {
    for _ in 0..100 {
        let mut request = http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if request.send().await.is_ok_and(|r| ok(r.status().as_u16())) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the generated service binary of `project` (named as its folder) as `cargo run` would,
/// in the development profile, on `port`, with its SQLite file `database` under `data/` and
/// `envs` besides; it is stopped when the returned guard is dropped.
fn run_service(project: &Path, database: &str, port: u16, envs: &[(&str, String)]) -> Running {
    let data = project.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let name = project.file_name().unwrap();
    let child = Command::new(target_dir().join("debug").join(name))
        .current_dir(project)
        .env("APP_PROFILE", "development")
        .env("APP__SERVER__PORT", port.to_string())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", data.join(database).display()),
        )
        .env("RUST_LOG", "warn")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the generated service");
    Running(child)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve_over_http(project: &Path, name: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let authority = TestAuthority::new(&issuer, name);
        let router = authority.router();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

        let port = free_port();
        let metrics_port = free_port();
        let envs = [
            ("APP__AUTH__ISSUER", issuer.clone()),
            ("APP__SERVER__METRICS_PORT", metrics_port.to_string()),
        ];
        let _running = run_service(project, "e2e.db", port, &envs);
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let up = answers(&http, &format!("{base}/healthz"), None, |s| s == 200).await;
        assert!(up, "the generated service answers /healthz");
        assert_eq!(http.get(format!("{base}/readyz")).send().await.unwrap().status(), 200, "ready once the issuer's keys load");

        let writer = authority.token("acme", "alice").roles(&["writer"]).sign();
        let notes = format!("{base}/tenants/acme/notes");
        let created = http.post(&notes).bearer_auth(&writer).json(&json!({ "title": "hello", "body": "over HTTP" })).send().await.unwrap();
        assert_eq!(created.status(), 201);
        let list: serde_json::Value = http.get(&notes).bearer_auth(&writer).send().await.unwrap().json().await.unwrap();
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(list["items"][0]["title"], "hello");

        let anonymous = http.get(&notes).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
        let other_tenant = http.get(format!("{base}/tenants/globex/notes")).bearer_auth(&writer).send().await.unwrap();
        assert_eq!(other_tenant.status(), 403);
        let forged = format!("{}x", &writer[..writer.len() - 1]);
        assert_eq!(http.get(&notes).bearer_auth(&forged).send().await.unwrap().status(), 401);
        let metrics = http.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        let metrics = metrics.text().await.unwrap();
        for expected in [r#"route="/tenants/{tenant}/notes",status="201""#, r#"palisade_authn_failures_total{reason="missing"}"#] {
            assert!(metrics.contains(expected), "{expected} in:\n{metrics}");
        }
        let openapi: serde_json::Value = http.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
        assert!(openapi["paths"]["/tenants/{tenant}/notes/{id}"].is_object(), "{openapi}");
        report(&format!("{name}: served over HTTP on port {port}: healthz, readyz, create, list, 401, 403, /openapi.json and /metrics (port {metrics_port}) as expected"));
    });
}

/// The real `service` template: a project generated at 0.1.0 and edited like a user would (a new
/// route, a changed policy, a new dependency) is upgraded to the newest version; it still builds,
/// its tests (including those the upgrade brought) pass, and `palisade check` is satisfied.
#[test]
fn an_edited_service_upgrades_and_still_passes_its_tests() {
    let dir = scratch("e2e-upgrade");
    let runtime = workspace().join("runtime");
    let out = palisade(
        &dir,
        &[
            "new",
            "svc-upgraded",
            "--template-version",
            "0.1.0",
            "--runtime-path",
            runtime.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let project = dir.join("svc-upgraded");
    std::fs::copy(workspace().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();

    let edit = |file: &str, from: &str, to: &str| {
        let path = project.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} lacks {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "src/app.rs",
        "        .route(\"/readyz\", get(ready))\n",
        "        .route(\"/readyz\", get(ready))\n        .route(\"/version\", get(|| async { env!(\"CARGO_PKG_VERSION\") }))\n",
    );
    let policy = project.join("policies/notes.cedar");
    let mut text = std::fs::read_to_string(&policy).unwrap();
    text.push_str("\n// Auditors read everything in their tenant.\n@id(\"auditors-read\")\npermit (\n  principal in Palisade::Role::\"auditor\",\n  action in [App::Action::\"list\", App::Action::\"read\"],\n  resource\n);\n");
    std::fs::write(&policy, text).unwrap();
    edit(
        "Cargo.toml",
        "uuid = {",
        "hex = \"0.4\" # for request ids\nuuid = {",
    );
    crate::upgrade::git(&project, &["add", "-A"]);
    crate::upgrade::git(&project, &["commit", "-qm", "our own changes"]);

    let out = palisade(&project, &["upgrade", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let upgrade: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report(&format!("svc-upgraded: {upgrade}"));
    let merged = upgrade["merged"].as_array().unwrap();
    assert!(
        merged.contains(&json!("src/app.rs")) && merged.contains(&json!("Cargo.toml")),
        "{upgrade}"
    );
    assert!(
        upgrade["kept"]
            .as_array()
            .unwrap()
            .contains(&json!("policies/notes.cedar")),
        "{upgrade}"
    );
    assert!(
        upgrade["taken"]
            .as_array()
            .unwrap()
            .contains(&json!("tests/security.rs")),
        "{upgrade}"
    );
    let app = std::fs::read_to_string(project.join("src/app.rs")).unwrap();
    assert!(
        app.contains("DefaultBodyLimit::max(MAX_BODY_BYTES)") && app.contains("\"/version\""),
        "{app}"
    );
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("hex = \"0.4\" # for request ids")
            && manifest.contains("tokio = { version = \"1.47\""),
        "{manifest}"
    );

    cargo(&project, &["fmt", "--check"], &[]);
    cargo(&project, &["test"], &[]);
    cargo(
        &project,
        &["clippy", "--all-targets", "--", "-D", "warnings"],
        &[],
    );
    crate::upgrade::git(&project, &["add", "-A"]);
    crate::upgrade::git(&project, &["commit", "-qm", "upgrade to service 0.2.0"]);
    let check = palisade(&project, &["check"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
