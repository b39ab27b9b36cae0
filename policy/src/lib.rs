//! `palisade-policy`: a service's Cedar policy set as Palisade keeps it, shared by the runtime (which decides with it) and the `palisade` command line (which checks changes to it): loading with the fixed tenant-isolation rule and strict validation, and, with the `symbolic` feature, the symbolic diff of two sets.

#![warn(missing_docs)]

mod bundle;
#[cfg(feature = "symbolic")]
mod diff;
mod load;

pub use bundle::{BUNDLE_FORMAT, Bundle, BundleError, BundleFile, BundleSets, TenantPolicies};
#[cfg(feature = "symbolic")]
pub use diff::{Change, DiffError, DiffReport, Finding, diff};
pub use load::{
    LoadError, PALISADE_SCHEMA, PolicySetWithSchema, PolicySource, TENANT_ISOLATION,
    TENANT_ISOLATION_POLICY_ID, load, read_dir,
};
