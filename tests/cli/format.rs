//! The Rust the newest `service` and `control-plane` templates render is rustfmt-clean, which the
//! generated CI's `cargo fmt --check` requires: for every database variant and for short and long
//! project and resource names (rustfmt sorts imports and modules and wraps by width, so the names
//! matter), checked with `rustfmt --check` on the rendered files, no build needed.

use std::path::Path;
use std::process::Command;

use crate::support::{render_template, scratch};

#[test]
fn rendered_rust_is_rustfmt_clean_for_every_variant_and_name() {
    let names = ["ab", "a-rather-long-project-name-to-wrap"];
    let resources = ["ads", "notes", "widgets", "subscriptionentitlements"];
    let databases = ["sqlite", "postgres", "none"];
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, database) in databases.iter().enumerate() {
        for (j, resource) in resources.iter().enumerate() {
            // Every resource with every database, each name with half of them.
            let name = names[(i + j) % names.len()];
            let defines = [("database", *database), ("resource", *resource)];
            let plan = render_template("service", name, &defines);
            let dir = scratch(&format!("fmt-{database}-{resource}"));
            let files = write(&dir, &plan);
            if let Some(failure) = rustfmt_check(&dir, &files) {
                failures.push(format!("{name} with {defines:?}:\n{failure}"));
            }
            checked += 1;
        }
    }
    for database in ["sqlite", "postgres"] {
        for name in names {
            let defines = [("database", database)];
            let plan = render_template("control-plane", name, &defines);
            let dir = scratch(&format!("fmt-cp-{database}"));
            let files = write(&dir, &plan);
            if let Some(failure) = rustfmt_check(&dir, &files) {
                failures.push(format!("control-plane {name} with {defines:?}:\n{failure}"));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    crate::support::report(&format!(
        "rustfmt --check: {checked} renderings of the service and control-plane templates are clean"
    ));
}

/// Writes the plan's files under `dir`; the paths of its Rust files.
fn write(dir: &Path, plan: &palisade::plan::Plan) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for file in &plan.files {
        let path = dir.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &file.contents).unwrap();
        if file.path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// `rustfmt --check` on `files`; the start of its diff when they are not formatted.
fn rustfmt_check(dir: &Path, files: &[std::path::PathBuf]) -> Option<String> {
    let out = Command::new("rustfmt")
        .args(["--check", "--edition", "2024"])
        .args(files)
        .current_dir(dir)
        .output()
        .expect("run rustfmt");
    (!out.status.success()).then(|| {
        let diff = String::from_utf8_lossy(&out.stdout);
        let head: Vec<&str> = diff.lines().take(40).collect();
        format!(
            "{}{}",
            head.join("\n"),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
