//! Tenant isolation at the edge and in the data layer: the tenant guard layer and tenant-scoped PostgreSQL transactions.

mod guard;
#[cfg(feature = "sql")]
mod pg;

pub use guard::{TenantCheck, TenantGuard, TenantGuardConfig, TenantGuardLayer};
#[cfg(feature = "sql")]
pub use pg::{TENANT_SETTING, begin_tenant_tx};
