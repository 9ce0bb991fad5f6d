//! Restart sync: the holding area is cleared so the IdP sends everything again; the
//! accounts stay, unlinked until their users come back.

use super::Syncer;
use crate::{settings, Result, SyncError};
use scimgate_store::{Store, Tenant};

impl Syncer {
    /// Restart sync: the holding area is cleared (the IdP sends everything again); CRM
    /// accounts are kept, unlinked, and re-linked by externalId as users come back.
    pub async fn restart(&self, tenant: &Tenant) -> Result<u64> {
        self.with_lease(tenant, |this| async move {
            settings::ensure_row(&this.store, tenant).await?;
            // Accounts first, then the holding area: stopped in between, the staged users
            // are still there and the next sync re-links the accounts by externalId. The
            // other order would leave accounts linked to users that are gone, which the
            // next sync would deprovision.
            let unlinked = this.crm.unlink_all(tenant).await?;
            let (tenant_row, now) = (tenant.clone(), this.stamp());
            this.store
                .write_transaction(move |conn| {
                    Box::pin(async move {
                        Store::clear_staged_in(conn, &tenant_row).await?;
                        sqlx::query(
                            "UPDATE sync_settings SET restarted_at = $1 WHERE tenant_id = $2",
                        )
                        .bind(now)
                        .bind(tenant_row.id)
                        .execute(&mut *conn)
                        .await?;
                        Ok::<_, SyncError>(())
                    })
                })
                .await?;
            Ok(unlinked)
        })
        .await
    }
}
