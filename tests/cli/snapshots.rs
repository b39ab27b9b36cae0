//! Snapshots of every generated file of every `service` variant, under `snapshots/service@<variant>/`.

use crate::support::render_service;

/// The one snapshot settings helper: path under `snapshots/`, no module prefix, versions redacted.
fn settings(variant: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(format!("../../snapshots/service@{variant}"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.add_filter(
        r#"generator-version = "[^"]+""#,
        r#"generator-version = "[version]""#,
    );
    settings
}

fn check(variant: &str, defines: &[(&str, &str)]) {
    let plan = render_service("acme-notes", defines);
    assert!(
        plan.files.len() > 15,
        "{variant}: {} files",
        plan.files.len()
    );
    settings(variant).bind(|| {
        for file in &plan.files {
            let name = file.path.to_string_lossy().replace('/', "__");
            let text = String::from_utf8(file.contents.clone()).expect("generated files are text");
            insta::assert_snapshot!(name, text);
        }
    });
}

#[test]
fn service_sqlite() {
    check("sqlite", &[]);
}

#[test]
fn service_postgres() {
    check(
        "postgres",
        &[("database", "postgres"), ("audit_sink", "database")],
    );
}

#[test]
fn service_none() {
    check("none", &[("database", "none"), ("docker", "false")]);
}
