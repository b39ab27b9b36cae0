//! The symbolic diff against a real cvc5 (Debian's `cvc5`, which `.ci/run` installs; `CVC5` names another): pairs of policy sets with known answers, a widening hidden behind a `when` clause among them, the tenant-isolation invariant broken and kept, and a missing solver reported as unavailable, never as "no change".

#![cfg(feature = "symbolic")]

use std::path::PathBuf;
use std::str::FromStr;

use cedar_policy::PolicySet;
use palisade_policy::{Change, DiffError, PolicySetWithSchema, PolicySource, diff, load};

const SCHEMA: &str = r#"
namespace App {
  entity Note { tenant: String, public: Bool, owner: String };
  action read, write appliesTo { principal: Palisade::Principal, resource: Note };
}
"#;

const BASE: &str = r#"
@id("readers read public notes")
permit (principal in Palisade::Role::"reader", action == App::Action::"read", resource)
when { resource.public };
@id("editors edit their own notes")
permit (principal in Palisade::Role::"editor", action in [App::Action::"read", App::Action::"write"], resource)
when { resource.owner == principal.subject };
"#;

/// The solver, or `None` after saying the test is skipped (a failure under `PALISADE_REQUIRE_ALL`).
fn solver(test: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var("CVC5").unwrap_or_else(|_| "cvc5".to_owned()));
    let found = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(path);
    }
    assert!(
        std::env::var("PALISADE_REQUIRE_ALL").as_deref() != Ok("1"),
        "{test}: no cvc5 ({}), and PALISADE_REQUIRE_ALL=1 forbids skipping",
        path.display()
    );
    // Written to the real stderr, not through the harness's capture, so a user sees it.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: no cvc5 solver (install Debian's cvc5, or set CVC5)"
    );
    None
}

fn set(policies: &str) -> PolicySetWithSchema {
    load(
        &PolicySource::new("schema.cedarschema", SCHEMA),
        &[PolicySource::new("policies.cedar", policies)],
    )
    .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_same_set_differs_in_nothing() {
    let Some(cvc5) = solver("the_same_set_differs_in_nothing") else {
        return;
    };
    let report = runtime()
        .block_on(diff(&set(BASE), &set(BASE), &cvc5))
        .unwrap();
    assert_eq!(report.shapes, 2, "read and write on notes");
    assert_eq!(report.findings, vec![]);
    assert!(!report.widens());
}

#[test]
fn a_widening_hidden_behind_a_when_clause_is_found_with_a_counterexample() {
    let Some(cvc5) =
        solver("a_widening_hidden_behind_a_when_clause_is_found_with_a_counterexample")
    else {
        return;
    };
    // Editors may now also write public notes they do not own.
    let widened = BASE.replace(
        "when { resource.owner == principal.subject };",
        "when { resource.owner == principal.subject || resource.public };",
    );
    let report = runtime()
        .block_on(diff(&set(BASE), &set(&widened), &cvc5))
        .unwrap();
    assert!(report.widens());
    let changes: Vec<(Change, &str)> = report
        .findings
        .iter()
        .map(|f| (f.change, f.action.as_str()))
        .collect();
    // Read was already allowed on public notes for readers, not for editors: both actions widen.
    assert!(
        changes.contains(&(Change::Widening, r#"App::Action::"write""#)),
        "{changes:?}"
    );
    assert!(
        changes.iter().all(|(c, _)| *c == Change::Widening),
        "{changes:?}"
    );
    let write = report
        .findings
        .iter()
        .find(|f| f.action.ends_with(r#""write""#))
        .unwrap();
    // The counterexample is a public note the principal does not own, in its own tenant.
    assert!(
        write.counterexample.contains("public: true"),
        "{}",
        write.counterexample
    );
    assert!(
        write.counterexample.contains("Palisade::Role::\"editor\""),
        "{}",
        write.counterexample
    );
}

#[test]
fn a_removed_permit_is_a_narrowing_and_not_a_widening() {
    let Some(cvc5) = solver("a_removed_permit_is_a_narrowing_and_not_a_widening") else {
        return;
    };
    let narrowed = BASE.replace(
        r#"action in [App::Action::"read", App::Action::"write"]"#,
        r#"action == App::Action::"read""#,
    );
    let report = runtime()
        .block_on(diff(&set(BASE), &set(&narrowed), &cvc5))
        .unwrap();
    assert!(!report.widens(), "{report:?}");
    assert_eq!(report.findings.len(), 1, "{report:?}");
    assert_eq!(report.findings[0].change, Change::Narrowing);
    assert_eq!(report.findings[0].action, r#"App::Action::"write""#);
}

#[test]
fn tenant_isolation_holds_whatever_a_tenant_policy_permits_and_its_absence_is_caught() {
    let Some(cvc5) =
        solver("tenant_isolation_holds_whatever_a_tenant_policy_permits_and_its_absence_is_caught")
    else {
        return;
    };
    // A tenant policy reaching for another tenant's notes: the isolation forbid still wins.
    let reaching = format!(
        "{BASE}\n@id(\"reach\") permit (principal, action, resource) when {{ resource.tenant == \"globex\" }};"
    );
    let report = runtime()
        .block_on(diff(&set(BASE), &set(&reaching), &cvc5))
        .unwrap();
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.change != Change::CrossTenant),
        "{report:?}"
    );
    // Widening, but only inside globex's own tenant.
    assert!(report.widens());
    // Without the isolation forbid (a set not made by `load`), the check names a cross-tenant
    // request.
    let base = set(BASE);
    let bare = PolicySetWithSchema {
        schema: base.schema.clone(),
        policies: PolicySet::from_str(r#"permit (principal, action, resource);"#).unwrap(),
    };
    let report = runtime().block_on(diff(&base, &bare, &cvc5)).unwrap();
    let crossing: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.change == Change::CrossTenant)
        .collect();
    assert_eq!(crossing.len(), 2, "{report:?}");
}

#[test]
fn a_missing_solver_is_unavailable_never_no_change() {
    let missing = std::path::Path::new("/nonexistent/cvc5");
    let error = runtime()
        .block_on(diff(&set(BASE), &set(BASE), missing))
        .unwrap_err();
    assert!(matches!(error, DiffError::SolverUnavailable(_)), "{error}");
    assert!(
        error.to_string().starts_with("symbolic check unavailable"),
        "{error}"
    );
}
