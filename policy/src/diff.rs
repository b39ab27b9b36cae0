//! The symbolic diff of two policy sets (cedar-policy-symcc, a cvc5 solver): for every request shape the schema allows, whether the new set permits a request the old one denied (widening) or denies one it permitted (narrowing), each with a concrete counterexample, and whether every request the new set permits stays inside the principal's tenant.

use std::str::FromStr;

use cedar_policy::{PolicySet, RequestEnv};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicySet};

use crate::PolicySetWithSchema;

/// The invariant every permitted request must satisfy: the resource is of the principal's tenant.
const ISOLATION_INVARIANT: &str = "permit (principal, action, resource) when { \
     principal has tenant && resource has tenant && resource.tenant == principal.tenant };";

/// What a finding says of the new set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The new set permits the counterexample, which the old one denied.
    Widening,
    /// The new set denies the counterexample, which the old one permitted.
    Narrowing,
    /// The new set permits the counterexample, whose resource is of another tenant than its
    /// principal.
    CrossTenant,
}

/// One difference, for one request shape, with a request that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What changed.
    pub change: Change,
    /// The principal's entity type.
    pub principal: String,
    /// The action (`App::Action::"read"`).
    pub action: String,
    /// The resource's entity type.
    pub resource: String,
    /// A concrete request and entities that the two sets decide differently (or, for
    /// [`Change::CrossTenant`], that the new set permits across tenants).
    pub counterexample: String,
}

/// What the diff found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffReport {
    /// Request shapes (principal type, action, resource type) checked.
    pub shapes: usize,
    /// Every difference, in the schema's order of request shapes.
    pub findings: Vec<Finding>,
}

impl DiffReport {
    /// Whether the new set permits anything the old one did not, or anything across tenants.
    pub fn widens(&self) -> bool {
        self.findings
            .iter()
            .any(|f| matches!(f.change, Change::Widening | Change::CrossTenant))
    }
}

/// Why the diff could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiffError {
    /// No solver could be started: the diff is not made (never reported as "no change").
    #[error(
        "symbolic check unavailable: cannot start the cvc5 solver ({0}); install cvc5 or set CVC5 to its path"
    )]
    SolverUnavailable(String),
    /// The old set does not fit the new schema (a type or action it uses is gone).
    #[error("the old policy set does not fit the new schema for {shape}: {problem}")]
    Schema {
        /// The request shape.
        shape: String,
        /// What the compiler said.
        problem: String,
    },
    /// The solver failed or answered `unknown`.
    #[error("symbolic check failed for {shape}: {problem}")]
    Solver {
        /// The request shape.
        shape: String,
        /// What went wrong.
        problem: String,
    },
}

/// Compares `new` with `old` over `new`'s schema: for each request shape, a widening and a
/// narrowing check, and the tenant-isolation invariant on `new`. The solver is the `cvc5`
/// executable at `solver` (a path, or a name looked up on `PATH`), given a minute per check.
pub async fn diff(
    old: &PolicySetWithSchema,
    new: &PolicySetWithSchema,
    solver: &std::path::Path,
) -> Result<DiffReport, DiffError> {
    let solver = LocalSolver::from_command(
        tokio::process::Command::new(solver)
            .args(["--lang", "smt", "--tlimit=60000"])
            .kill_on_drop(true),
    )
    .map_err(|e| DiffError::SolverUnavailable(format!("{}: {e}", solver.display())))?;
    let mut compiler =
        CedarSymCompiler::new(solver).map_err(|e| DiffError::SolverUnavailable(e.to_string()))?;
    let invariant = PolicySet::from_str(ISOLATION_INVARIANT).map_err(|e| DiffError::Schema {
        shape: "the isolation invariant".to_owned(),
        problem: e.to_string(),
    })?;
    let schema = &new.schema;
    let mut report = DiffReport::default();
    for env in schema.request_envs() {
        let shape = shape(&env);
        let compile = |set: &PolicySet| {
            CompiledPolicySet::compile(set, &env, schema).map_err(|e| DiffError::Schema {
                shape: shape.clone(),
                problem: e.to_string(),
            })
        };
        let (old_set, new_set, invariant) = (
            compile(&old.policies)?,
            compile(&new.policies)?,
            compile(&invariant)?,
        );
        let failed = |e: cedar_policy_symcc::err::Error| DiffError::Solver {
            shape: shape.clone(),
            problem: e.to_string(),
        };
        let checks = [
            (Change::Widening, &new_set, &old_set),
            (Change::Narrowing, &old_set, &new_set),
            (Change::CrossTenant, &new_set, &invariant),
        ];
        for (change, stronger, weaker) in checks {
            // `stronger` implies `weaker` when every request it permits, `weaker` permits too.
            let counterexample = compiler
                .check_implies_with_counterexample_opt(stronger, weaker)
                .await
                .map_err(failed)?;
            if let Some(env_found) = counterexample {
                report.findings.push(Finding {
                    change,
                    principal: env.principal().to_string(),
                    action: env.action().to_string(),
                    resource: env.resource().to_string(),
                    counterexample: env_found.to_string(),
                });
            }
        }
        report.shapes += 1;
    }
    Ok(report)
}

fn shape(env: &RequestEnv) -> String {
    format!("{} {} {}", env.principal(), env.action(), env.resource())
}
