//! The policy engine on Cedar: schema and policies validated at start-up, the fixed tenant-isolation rule, decisions, and the axum guard.

mod engine;
mod guard;

pub use engine::{
    AttrValue, AuthzError, Decision, LoadError, PolicyEngine, PolicySource, Resource,
    TENANT_ISOLATION_POLICY_ID,
};
pub use guard::{Authz, AuthzLayer};
