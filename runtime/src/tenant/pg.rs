//! Tenant-scoped PostgreSQL transactions: the tenant is set with `SET LOCAL` semantics so row-level security applies.

use sqlx::{PgPool, Postgres, Transaction};

use crate::principal::TenantId;

/// The PostgreSQL setting that row-level-security policies read: `current_setting('app.tenant_id')`.
pub const TENANT_SETTING: &str = "app.tenant_id";

/// Opens a transaction in which `app.tenant_id` is `tenant` until commit or rollback.
///
/// `set_config(..., true)` is `SET LOCAL` with a bound parameter, so the tenant never leaks to the
/// next user of the pooled connection and is never spliced into SQL. For the policies to bind, the
/// table needs `ENABLE` and `FORCE ROW LEVEL SECURITY` and the service must connect as a role that
/// neither owns the table nor has `BYPASSRLS` (see docs/runtime.md).
pub async fn begin_tenant_tx(
    pool: &PgPool,
    tenant: &TenantId,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(TENANT_SETTING)
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
