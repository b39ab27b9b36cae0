//! `palisade policy diff` over policy folders with a real cvc5: exit 1 and a counterexample for a widening, 0 for no change or a narrowing, 2 for a set that does not load (file, line and column) and for a missing solver ("symbolic check unavailable", never "no change").

use std::path::Path;

use crate::support::{palisade, scratch, skip};

const SCHEMA: &str = r#"namespace App {
  entity Note { tenant: String, public: Bool, owner: String };
  action read, write appliesTo { principal: Palisade::Principal, resource: Note };
}
"#;

const OWNER_WRITES: &str = r#"@id("owners write")
permit (principal, action == App::Action::"write", resource)
when { resource.owner == principal.subject };
"#;

fn folder(dir: &Path, name: &str, policies: &str) {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("schema.cedarschema"), SCHEMA).unwrap();
    std::fs::write(dir.join("policies.cedar"), policies).unwrap();
}

fn solver_present() -> bool {
    let solver = std::env::var("CVC5").unwrap_or_else(|_| "cvc5".to_owned());
    std::process::Command::new(solver)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn policy_diff_exits_1_on_a_widening_0_without_and_2_when_it_cannot_check() {
    let test = "policy_diff_exits_1_on_a_widening_0_without_and_2_when_it_cannot_check";
    let dir = scratch("policy-diff");
    folder(&dir, "active", OWNER_WRITES);
    // Admin-scoped principals may now write any note: a widening behind the `when` clause.
    folder(
        &dir,
        "widened",
        &OWNER_WRITES.replace(
            "resource.owner == principal.subject",
            "resource.owner == principal.subject || principal.scopes.contains(\"notes:admin\")",
        ),
    );
    folder(&dir, "closed", "");
    folder(
        &dir,
        "invalid",
        "permit (principal, action == App::Action::\"delete\", resource);\n",
    );

    // A set that does not load: 2, with where and why, before any solver is needed.
    let out = palisade(
        &dir,
        &["policy", "diff", "--old", "active", "--new", "invalid"],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid/policies.cedar:1:") && stderr.contains("delete"),
        "{stderr}"
    );
    // No solver: 2 and "unavailable".
    let out = palisade(
        &dir,
        &[
            "policy",
            "diff",
            "--old",
            "active",
            "--new",
            "widened",
            "--solver",
            "/nonexistent/cvc5",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("symbolic check unavailable"),
        "{out:?}"
    );

    if !solver_present() {
        skip(test, "no cvc5 solver (install Debian's cvc5, or set CVC5)");
        return;
    }
    let out = palisade(
        &dir,
        &[
            "policy", "diff", "--old", "active", "--new", "widened", "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["widens"], true);
    assert_eq!(report["shapes_checked"], 2);
    let findings = report["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{report}");
    assert_eq!(findings[0]["change"], "widening");
    assert_eq!(findings[0]["action"], r#"App::Action::"write""#);
    assert!(
        findings[0]["counterexample"]
            .as_str()
            .unwrap()
            .contains("notes:admin"),
        "{report}"
    );

    let out = palisade(
        &dir,
        &["policy", "diff", "--old", "active", "--new", "active"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no change in what is permitted"));

    let out = palisade(
        &dir,
        &["policy", "diff", "--old", "active", "--new", "closed"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("narrowing: Palisade::Principal App::Action::\"write\""),
        "{stdout}"
    );
    assert!(stdout.contains("no widening (narrowing only)"), "{stdout}");
}
