//! Snapshots of every generated file of every template variant, under `snapshots/<template>@<variant>/`.

use crate::support::render_template;

/// The one snapshot settings helper: path under `snapshots/`, no module prefix, versions redacted.
fn settings(template: &str, variant: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(format!("../../snapshots/{template}@{variant}"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.add_filter(
        r#"generator-version = "[^"]+""#,
        r#"generator-version = "[version]""#,
    );
    settings
}

fn check(template: &str, variant: &str, defines: &[(&str, &str)]) {
    let name = if template == "service" {
        "acme-notes"
    } else {
        "acme-platform"
    };
    let plan = render_template(template, name, defines);
    assert!(
        plan.files.len() > 10,
        "{template}@{variant}: {} files",
        plan.files.len()
    );
    settings(template, variant).bind(|| {
        for file in &plan.files {
            let name = file.path.to_string_lossy().replace('/', "__");
            let text = String::from_utf8(file.contents.clone()).expect("generated files are text");
            insta::assert_snapshot!(name, text);
        }
    });
}

#[test]
fn service_sqlite() {
    check("service", "sqlite", &[]);
}

#[test]
fn service_postgres() {
    check(
        "service",
        "postgres",
        &[("database", "postgres"), ("audit_sink", "database")],
    );
}

#[test]
fn service_none() {
    check(
        "service",
        "none",
        &[("database", "none"), ("docker", "false")],
    );
}

#[test]
fn control_plane_sqlite() {
    check("control-plane", "sqlite", &[]);
}

#[test]
fn control_plane_postgres() {
    check(
        "control-plane",
        "postgres",
        &[
            ("database", "postgres"),
            ("key_algorithm", "EdDSA"),
            ("docker", "false"),
        ],
    );
}
