//! Bad input: a clear message naming the problem, exit code 2, and nothing written.

use std::path::Path;

use crate::support::{palisade, scratch};

fn check(setup: impl FnOnce(&Path), args: &[&str], expected_message: &str) {
    let dir = scratch("err");
    setup(&dir);
    let before = crate::support::tree(&dir);
    let out = palisade(&dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(expected_message),
        "{args:?}: expected {expected_message:?} in {stderr:?}"
    );
    assert_eq!(
        crate::support::tree(&dir),
        before,
        "{args:?}: nothing is written"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().contains(".palisade-")),
        "no staging folder is left"
    );
}

fn nothing(_: &Path) {}

#[test]
fn invalid_names() {
    check(nothing, &["new", ""], "project name is empty");
    check(nothing, &["new", "../x"], "may only hold lowercase");
    check(nothing, &["new", "a/b"], "may only hold lowercase");
    check(nothing, &["new", "self"], "is reserved");
    check(nothing, &["new", "std"], "is reserved");
    check(nothing, &["new", "1abc"], "must start with a letter");
    check(nothing, &["new", "my service"], "may only hold lowercase");
    check(nothing, &["new", "café"], "may only hold lowercase");
    check(nothing, &["new", "Billing"], "may only hold lowercase");
}

#[test]
fn unusable_targets() {
    check(
        |d| std::fs::create_dir_all(d.join("taken/src")).unwrap(),
        &["new", "taken"],
        "already exists and is not empty",
    );
    check(
        |d| std::fs::write(d.join("file"), "x").unwrap(),
        &["new", "svc", "--output", "file"],
        "already exists and is not empty",
    );
    check(
        nothing,
        &["new", "svc", "--output", "missing/parent/svc"],
        "parent folder of missing/parent/svc does not exist",
    );
    // /proc refuses new folders even to root, so it stands in for an unwritable parent.
    check(
        nothing,
        &["new", "svc", "--output", "/proc/palisade-svc"],
        "cannot write",
    );
}

#[test]
fn bad_answers() {
    check(
        nothing,
        &["new", "svc", "--define", "colour=blue"],
        "unknown answer \"colour\" for template service",
    );
    check(
        nothing,
        &["new", "svc", "--define", "docker=yes"],
        "answer docker: expected true or false, got \"yes\"",
    );
    check(
        nothing,
        &["new", "svc", "--define", "database=mysql"],
        "answer database: \"mysql\" is not one of sqlite, postgres, none",
    );
    check(
        nothing,
        &["new", "svc", "--define", "resource=Note"],
        "answer resource: \"Note\" is invalid: a lowercase plural word",
    );
    // Valid-looking names that would generate code colliding with the template's own names.
    for name in ["states", "stores", "tenants", "paths", "resources"] {
        let define = format!("resource={name}");
        check(
            nothing,
            &["new", "svc", "--define", &define],
            &format!(
                "answer resource: \"{name}\" is invalid: the name is reserved by the template"
            ),
        );
    }
    check(
        nothing,
        &["new", "svc", "--define", "resource=bosss"],
        "answer resource: \"bosss\" is invalid",
    );
    check(
        nothing,
        &[
            "new",
            "svc",
            "--define",
            "database=none",
            "--define",
            "audit_sink=database",
        ],
        "answer audit_sink does not apply here (it is asked only when database != \"none\")",
    );
    check(
        nothing,
        &["new", "svc", "--define", "issuer=http://login.example.com"],
        "answer issuer: \"http://login.example.com\" is invalid: an https:// URL",
    );
    check(
        nothing,
        &["new", "svc", "--define", "novalue"],
        "--define \"novalue\" is not key=value",
    );
    check(
        nothing,
        &["new", "svc", "--template", "nope"],
        "unknown template \"nope\" (available: control-plane, service)",
    );
    check(
        |d| std::fs::write(d.join("a.toml"), "docker = \"yes\"").unwrap(),
        &["new", "svc", "--answers", "a.toml"],
        "answer docker: expected a boolean",
    );
    check(
        nothing,
        &["new", "svc", "--answers", "missing.toml"],
        "cannot read answers file missing.toml",
    );
}

#[test]
fn answers_file_and_defines_combine_with_defines_first() {
    let dir = scratch("answers");
    std::fs::write(
        dir.join("answers.toml"),
        "database = \"none\"\nresource = \"tickets\"\n",
    )
    .unwrap();
    let out = palisade(
        &dir,
        &[
            "new",
            "desk",
            "--no-git",
            "--runtime-version",
            "0.1.0",
            "--answers",
            "answers.toml",
            "--define",
            "resource=invoices",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cargo = std::fs::read_to_string(dir.join("desk/Cargo.toml")).unwrap();
    assert!(
        cargo.contains("database = \"none\"") && cargo.contains("resource = \"invoices\""),
        "{cargo}"
    );
    assert!(
        !cargo.contains("audit_sink"),
        "a question whose condition is false is not answered"
    );
    assert!(dir.join("desk/src/invoices.rs").is_file());
    assert!(
        !dir.join("desk/migrations").exists(),
        "conditional folders are left out"
    );
}
