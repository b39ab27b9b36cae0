//! The policy engine on Cedar: schema and policies validated at start-up, the fixed tenant-isolation rule, decisions, and the axum guard.

mod bundle_source;
mod cache;
mod decision;
mod engine;
mod guard;
mod policies;
mod replay;
#[cfg(test)]
mod slicing_tests;

pub use bundle_source::{
    BundleConfig, BundleSigner, BundleSource, BundleSourceError, POLICY_AUDIENCE,
    POLICY_READ_SCOPE, Refreshed, SIGNATURE_HEADER,
};
pub use decision::Decision;
pub use engine::{
    AttrValue, AuthzError, LoadError, PolicyEngine, PolicySource, Resource,
    TENANT_ISOLATION_POLICY_ID,
};
pub use guard::{Authz, AuthzLayer, AuthzService, Decided, UndecidedSuccess};
pub use policies::{Engines, Policies};
pub use replay::{Flip, ReplayReport};
