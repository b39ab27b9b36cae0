//! Policy slicing, the decision cache and batches are only optimisations: for any principal, sliced decisions equal Cedar's decisions over the whole policy set, and cached and batched decisions equal uncached ones.

use cedar_policy::Authorizer;
use serde_json::Value;

use super::engine::{PolicyEngine, PolicySource, Resource};
use crate::principal::{Principal, PrincipalKind, TenantId};

const SCHEMA: &str = r#"
namespace App {
  entity Note { tenant: String, owner: String };
  action "view";
  action "read", "list" in ["view"] appliesTo {
    principal: [Palisade::Principal],
    resource: [Note],
  };
  action "write", "delete", "share" appliesTo {
    principal: [Palisade::Principal],
    resource: [Note],
  };
}
"#;

/// Role-scoped permits and forbids, forbids without a role, an action group and a principal
/// named by id: every kind of scope the engine's slicing looks at.
const POLICIES: &str = r#"
@id("readers-view")
permit (principal in Palisade::Role::"reader", action in App::Action::"view", resource);

@id("writers-write")
permit (principal in Palisade::Role::"writer", action in [App::Action::"read", App::Action::"write"], resource)
when { principal.scopes.contains("notes:write") };

@id("admins-all")
permit (principal in Palisade::Role::"admin", action, resource);

@id("editors-share-own")
permit (principal is Palisade::Principal in Palisade::Role::"editor", action == App::Action::"share", resource)
when { resource.owner == principal.subject };

@id("suspended-nothing")
forbid (principal in Palisade::Role::"suspended", action, resource);

@id("interns-never-delete")
forbid (principal in Palisade::Role::"intern", action == App::Action::"delete", resource);

@id("auditors-only-view")
forbid (principal is Palisade::Principal in Palisade::Role::"auditor", action, resource)
unless { action in App::Action::"view" };

@id("deletes-need-scope")
forbid (principal, action == App::Action::"delete", resource)
unless { principal.scopes.contains("notes:delete") };

@id("alice-lists")
permit (principal == Palisade::Principal::"acme/alice", action == App::Action::"list", resource);
"#;

/// Every role a policy names, and one that none does.
const ROLES: [&str; 8] = [
    "reader",
    "writer",
    "admin",
    "editor",
    "suspended",
    "intern",
    "auditor",
    "guest",
];
const SCOPES: [&str; 3] = ["notes:write", "notes:delete", "notes:read"];
const ACTIONS: [&str; 5] = ["read", "list", "write", "delete", "share"];
const TENANTS: [&str; 2] = ["acme", "globex"];
const SUBJECTS: [&str; 2] = ["alice", "bob"];
const CASES: usize = 400;

/// A seeded xorshift64: the cases are the same on every run, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    /// Up to `max` items in random order, duplicates allowed: what a hand-built principal may hold.
    fn list(&mut self, items: &[&str], max: usize) -> Vec<String> {
        (0..self.below(max + 1))
            .map(|_| self.pick(items).to_owned())
            .collect()
    }
}

/// Issue 10, finding 9: `has_role` binary-searched roles that a hand-built `Principal` need not
/// keep sorted, so slicing could drop a `forbid` (or a `permit`) that applies.
#[test]
fn sliced_decisions_equal_decisions_over_the_whole_policy_set() {
    let engine = PolicyEngine::load(
        "App",
        &PolicySource::new("schema.cedarschema", SCHEMA),
        &[PolicySource::new("slicing.cedar", POLICIES)],
    )
    .expect("the slicing policies load");
    let whole = Authorizer::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    for case in 0..CASES {
        let principal = Principal {
            tenant: TenantId::new(rng.pick(&TENANTS)).unwrap(),
            subject: rng.pick(&SUBJECTS).to_owned(),
            kind: PrincipalKind::User,
            roles: rng.list(&ROLES, 5),
            scopes: rng.list(&SCOPES, 3),
            client_id: None,
        };
        let action = rng.pick(&ACTIONS);
        let (owning_tenant, owner) = (rng.pick(&TENANTS), rng.pick(&SUBJECTS));
        let resource = Resource::new(
            "App::Note",
            format!("n{case}"),
            &TenantId::new(owning_tenant).unwrap(),
        )
        .attr("owner", owner);

        // The reference decision: the same principal as a set of roles and scopes, every policy evaluated.
        let expected = engine
            .query(
                &principal.clone().normalized(),
                action,
                &resource,
                &Value::Null,
            )
            .map(|query| query.evaluate(&whole, &engine.policies));
        let sliced = engine.authorize(&principal, action, &resource, &Value::Null);
        let row = format!(
            "case {case}: {action} by {}/{} with roles {:?} and scopes {:?} on a note of {owning_tenant} owned by {owner}",
            principal.tenant, principal.subject, principal.roles, principal.scopes,
        );
        match (expected, sliced) {
            (Err(e), _) => failures.push(format!("{row}: the reference query failed: {e}")),
            (Ok(_), Err(e)) => failures.push(format!("{row}: the engine failed: {e}")),
            (Ok(expected), Ok(sliced)) if expected != sliced => failures.push(format!(
                "{row}: sliced {sliced:?}, whole policy set {expected:?}"
            )),
            (Ok(_), Ok(_)) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CASES} decisions differ from the whole policy set's:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The decision cache and `authorize_batch` return what evaluating one by one would: an engine
/// with the cache and one without, asked the same random requests drawn from few values (so most
/// are asked again and hit the cache), with roles and scopes unsorted and repeated, an attribute
/// given twice (the later wins), an attribute named `tenant` (never the owning tenant), services
/// and users, never differ; a batch of the same resources decides as they do one by one.
#[test]
fn cached_and_batched_decisions_equal_uncached_ones() {
    let load = || {
        PolicyEngine::load(
            "App",
            &PolicySource::new("schema.cedarschema", SCHEMA),
            &[PolicySource::new("slicing.cedar", POLICIES)],
        )
        .expect("the slicing policies load")
    };
    let (cached, uncached) = (load(), load().decision_cache(0));
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    // A pool of requests, asked at random: most are asked again and hit the cache.
    let pool: Vec<(Principal, &str, Resource)> = (0..CASES / 4)
        .map(|_| {
            let principal = Principal {
                tenant: TenantId::new(rng.pick(&TENANTS)).unwrap(),
                subject: rng.pick(&SUBJECTS).to_owned(),
                kind: [PrincipalKind::User, PrincipalKind::Service][rng.below(2)],
                roles: rng.list(&ROLES, 4),
                scopes: rng.list(&SCOPES, 2),
                client_id: [None, Some("web".to_owned())][rng.below(2)].clone(),
            };
            let action = rng.pick(&ACTIONS);
            let mut resource = Resource::new(
                "App::Note",
                format!("n{}", rng.below(2)),
                &TenantId::new(rng.pick(&TENANTS)).unwrap(),
            )
            .attr("owner", rng.pick(&SUBJECTS));
            match rng.below(3) {
                0 => resource = resource.attr("owner", rng.pick(&SUBJECTS)),
                1 => resource = resource.attr("tenant", rng.pick(&TENANTS)),
                _ => {}
            }
            (principal, action, resource)
        })
        .collect();
    let mut failures = Vec::new();
    let mut allowed = 0;
    for case in 0..CASES * 5 {
        let (principal, action, resource) = &pool[rng.below(pool.len())];
        let expected = uncached.authorize(principal, action, resource, &Value::Null);
        let got = cached.authorize(principal, action, resource, &Value::Null);
        match (expected, got) {
            (Ok(expected), Ok(got)) if expected == got => allowed += usize::from(got.allowed),
            (expected, got) => failures.push(format!(
                "case {case}: {action} by {principal:?} on {resource:?}: cached {got:?}, uncached {expected:?}"
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        allowed > 0 && allowed < CASES * 5,
        "both answers are exercised: {allowed} allowed"
    );
    // Two requests that differ only in what the cache key must tell apart.
    let alice = &pool[0].0;
    let note = |owner: &str| Resource::new("App::Note", "k", &alice.tenant).attr("owner", owner);
    let mut editor = alice.clone();
    editor.roles = vec!["editor".to_owned()];
    let own = cached.authorize(&editor, "share", &note(&editor.subject), &Value::Null);
    let other = cached.authorize(&editor, "share", &note("someone-else"), &Value::Null);
    assert!(own.unwrap().allowed && !other.unwrap().allowed);

    // A batch: one principal, many resources of both tenants, as one by one.
    let principal = Principal {
        tenant: TenantId::new("acme").unwrap(),
        subject: "alice".to_owned(),
        kind: PrincipalKind::User,
        roles: vec!["editor".to_owned(), "reader".to_owned()],
        scopes: vec![],
        client_id: None,
    };
    let resources: Vec<Resource> = (0..50)
        .map(|i| {
            Resource::new(
                "App::Note",
                format!("b{i}"),
                &TenantId::new(TENANTS[i % 2]).unwrap(),
            )
            .attr("owner", SUBJECTS[i / 2 % 2])
        })
        .collect();
    for action in ACTIONS {
        let batch = uncached
            .authorize_batch(&principal, action, &resources, &Value::Null)
            .unwrap();
        let one_by_one: Vec<_> = resources
            .iter()
            .map(|r| {
                uncached
                    .authorize(&principal, action, r, &Value::Null)
                    .unwrap()
            })
            .collect();
        assert_eq!(batch, one_by_one, "{action}");
        // One id twice with other attributes: still decided as one by one.
        let twice = [
            resources[0].clone(),
            Resource::new("App::Note", "b0", &principal.tenant).attr("owner", "alice"),
        ];
        let batch_twice = uncached
            .authorize_batch(&principal, action, &twice, &Value::Null)
            .unwrap();
        let one_by_one_twice: Vec<_> = twice
            .iter()
            .map(|r| {
                uncached
                    .authorize(&principal, action, r, &Value::Null)
                    .unwrap()
            })
            .collect();
        assert_eq!(batch_twice, one_by_one_twice, "{action}, one id twice");
        if action == "share" {
            // Only the notes alice owns in her own tenant.
            assert_eq!(batch.iter().filter(|d| d.allowed).count(), 13, "{batch:?}");
        }
    }
}

/// Review finding (session 8, 10): a batch put every candidate in one entity set, so a policy
/// reading another entity (`App::Note::"shared".owner`) found it when that entity was also a
/// candidate, and allowed what a single decision (where it errors, and denies) does not.
#[test]
fn a_batch_never_lets_one_candidate_decide_for_another() {
    let engine = PolicyEngine::load(
        "App",
        &PolicySource::new("schema.cedarschema", SCHEMA),
        &[PolicySource::new(
            "shared.cedar",
            r#"@id("owner-of-shared-reads-all")
permit (principal, action == App::Action::"read", resource)
when { App::Note::"shared".owner == principal.subject };"#,
        )],
    )
    .unwrap()
    .decision_cache(0);
    let principal = Principal {
        tenant: TenantId::new("acme").unwrap(),
        subject: "alice".to_owned(),
        kind: PrincipalKind::User,
        roles: vec![],
        scopes: vec![],
        client_id: None,
    };
    let note = |id: &str| Resource::new("App::Note", id, &principal.tenant).attr("owner", "alice");
    let candidates = [note("shared"), note("other")];
    let batch = engine
        .authorize_batch(&principal, "read", &candidates, &Value::Null)
        .unwrap();
    let single: Vec<_> = candidates
        .iter()
        .map(|r| {
            engine
                .authorize(&principal, "read", r, &Value::Null)
                .unwrap()
        })
        .collect();
    assert_eq!(batch, single);
    assert!(!batch[1].allowed, "{batch:?}");
}
