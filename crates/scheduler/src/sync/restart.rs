//! Restart sync: the holding area is cleared so the IdP sends everything again; the
//! accounts stay, unlinked until their users come back.

use super::Syncer;
use crate::Result;
use scimgate_store::Tenant;

impl Syncer {
    /// Restart sync: the holding area is cleared (the IdP sends everything again); CRM
    /// accounts are kept, unlinked, and re-linked by externalId as users come back.
    pub async fn restart(&self, tenant: &Tenant) -> Result<u64> {
        self.with_lease(tenant, |this| async move {
            // Accounts first, then the holding area: stopped in between, the staged users
            // are still there and the next sync re-links the accounts by externalId. The
            // other order would leave accounts linked to users that are gone, which the
            // next sync would deprovision.
            let unlinked = this.crm.unlink_all(tenant).await?;
            this.store.clear_holding_area(tenant, &this.stamp()).await?;
            Ok(unlinked)
        })
        .await
    }
}
