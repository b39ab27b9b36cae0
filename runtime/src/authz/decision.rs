//! `Decision`, the outcome of one authorization request, and `Query`, the Cedar request it evaluates.

use cedar_policy::{Authorizer, Entities, EntityUid, PolicySet};

/// The outcome of a decision with the policies that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// The ids of the satisfied permits (when allowed) or forbids (when denied); empty for a default deny.
    pub policies: Vec<String>,
    /// Policies that failed to evaluate; any such error makes the decision a deny.
    pub errors: Vec<String>,
}

/// One decision's Cedar request and entities, built before choosing the policies to evaluate.
pub(super) struct Query {
    /// The action's name, for the log line of a failed evaluation.
    pub(super) name: String,
    /// The action's entity, by which the engine slices its policies.
    pub(super) action: EntityUid,
    /// The request, with the principal, action and resource entities and the context.
    pub(super) request: cedar_policy::Request,
    /// The principal with its roles, the resource, and the schema's actions when it groups them.
    pub(super) entities: Entities,
}

impl Query {
    /// Evaluates `policies` for this request; any evaluation error makes the decision a deny.
    pub(super) fn evaluate(&self, authorizer: &Authorizer, policies: &PolicySet) -> Decision {
        decide(
            authorizer,
            &self.name,
            &self.request,
            &self.entities,
            policies,
        )
    }
}

/// Evaluates `policies` for a request; any evaluation error makes the decision a deny.
pub(super) fn decide(
    authorizer: &Authorizer,
    action: &str,
    request: &cedar_policy::Request,
    entities: &Entities,
    policies: &PolicySet,
) -> Decision {
    let response = authorizer.is_authorized(request, policies, entities);
    let mut policies: Vec<String> = response
        .diagnostics()
        .reason()
        .map(ToString::to_string)
        .collect();
    policies.sort();
    let errors: Vec<String> = response
        .diagnostics()
        .errors()
        .map(ToString::to_string)
        .collect();
    if !errors.is_empty() {
        tracing::warn!(action, ?errors, "policy evaluation failed; denying");
    }
    Decision {
        allowed: response.decision() == cedar_policy::Decision::Allow && errors.is_empty(),
        policies,
        errors,
    }
}
