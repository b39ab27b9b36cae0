//! The Cedar policy engine: strict start-up validation with file and line, fixed tenant isolation, RBAC and ABAC decisions.

use palisade_runtime::authz::{LoadError, PolicyEngine, PolicySource, Resource};
use palisade_runtime::{Principal, PrincipalKind, TenantId};
use serde_json::Value;

use crate::support::{POLICIES, SCHEMA};

fn load(policies: &str) -> Result<PolicyEngine, LoadError> {
    PolicyEngine::load(
        "App",
        &PolicySource::new("schema.cedarschema", SCHEMA),
        &[PolicySource::new("policies/app.cedar", policies)],
    )
}

fn principal(tenant: &str, subject: &str, roles: &[&str]) -> Principal {
    Principal {
        tenant: TenantId::new(tenant).unwrap(),
        subject: subject.into(),
        kind: PrincipalKind::User,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        scopes: vec!["notes:write".into()],
        client_id: None,
    }
    .normalized()
}

fn note(tenant: &str, owner: &str) -> Resource {
    Resource::new("App::Note", "n1", &TenantId::new(tenant).unwrap()).attr("owner", owner)
}

#[test]
fn bad_policies_stop_start_up_with_file_and_line() {
    let check = |text: &str, expected: &str| {
        let error = load(text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} loaded"));
        assert!(error.to_string().starts_with(expected), "{text:?}: {error}");
    };
    check(
        "permit (principal, action, resource)\nwhen { resource.nonexistent == 1 };",
        "policies/app.cedar:2:",
    );
    check(
        "\n\npermit (principal action, resource);",
        "policies/app.cedar:3:",
    );
    check(
        "permit (principal, action == App::Action::\"fly\", resource);",
        "policies/app.cedar:1:",
    );
    check(
        "@id(\"palisade::tenant-isolation\")\npermit (principal, action, resource);",
        "policies/app.cedar: duplicate policy id",
    );
    check(
        "permit (principal == ?principal, action, resource);",
        "policies/app.cedar: policy templates are not supported",
    );
    let schema_error = PolicyEngine::load(
        "App",
        &PolicySource::new("schema.cedarschema", "namespace App { entity }"),
        &[],
    )
    .err()
    .unwrap();
    assert!(
        schema_error
            .to_string()
            .starts_with("schema.cedarschema:1:"),
        "{schema_error}"
    );
}

#[test]
fn tenant_isolation_cannot_be_overridden() {
    let engine = load("@id(\"allow-everything\")\npermit (principal, action, resource);").unwrap();
    let alice = principal("acme", "alice", &[]);
    let own = engine
        .authorize(&alice, "delete", &note("acme", "x"), &Value::Null)
        .unwrap();
    assert!(own.allowed);
    assert_eq!(own.policies, ["allow-everything"]);
    let foreign = engine
        .authorize(&alice, "delete", &note("globex", "x"), &Value::Null)
        .unwrap();
    assert!(!foreign.allowed);
    assert_eq!(foreign.policies, ["palisade::tenant-isolation"]);
}

#[test]
fn rbac_and_abac_decisions_name_their_policies() {
    let engine = load(POLICIES).unwrap();
    assert_eq!(engine.policy_count(), 4);
    let check = |p: &Principal, action: &str, r: &Resource, allowed: bool, policies: &[&str]| {
        let d = engine.authorize(p, action, r, &Value::Null).unwrap();
        assert_eq!(
            (
                d.allowed,
                d.policies.iter().map(String::as_str).collect::<Vec<_>>()
            ),
            (allowed, policies.to_vec()),
            "{action} by {}",
            p.subject
        );
    };
    let reader = principal("acme", "rita", &["reader"]);
    let writer = principal("acme", "alice", &["writer"]);
    check(
        &reader,
        "read",
        &note("acme", "alice"),
        true,
        &["reader-reads"],
    );
    check(&reader, "write", &note("acme", "alice"), false, &[]);
    check(
        &writer,
        "write",
        &note("acme", "alice"),
        true,
        &["writer-writes"],
    );
    check(
        &writer,
        "update",
        &note("acme", "alice"),
        true,
        &["owner-updates"],
    );
    check(&writer, "update", &note("acme", "bob"), false, &[]);
    check(&writer, "delete", &note("acme", "alice"), false, &[]);
    check(
        &writer,
        "read",
        &note("globex", "alice"),
        false,
        &["palisade::tenant-isolation"],
    );
    // An action the schema does not know is a programming error, not a deny.
    assert!(
        engine
            .authorize(&writer, "fly", &note("acme", "alice"), &Value::Null)
            .is_err()
    );
}
