//! The tenant's sync settings: automatic sync, schedule, debounce, guard, welcome e-mail.

use crate::{App, Result};
use scimgate_core::Tenant;
use scimgate_scheduler::{settings, SyncSettings};
use scimgate_store::{Expect, Versioned};

impl App {
    pub async fn settings(&self, tenant: &Tenant) -> Result<Versioned<SyncSettings>> {
        Ok(settings::load_versioned(&self.store, tenant).await?)
    }

    /// Replaces the settings; a bad schedule, guard or address is refused.
    pub async fn save_settings(
        &self,
        tenant: &Tenant,
        expect: Expect,
        new: &SyncSettings,
    ) -> Result<Versioned<SyncSettings>> {
        settings::save(&self.store, tenant, new, expect, &self.now()).await?;
        self.settings(tenant).await
    }
}
