//! The holding area as the IdP filled it, and naming a staged user the way admins do:
//! by its id or by its userName.

use crate::{App, Result};
use scimgate_core::Tenant;
use scimgate_store::Snapshot;

impl App {
    /// The id of the staged user `id_or_name` names: a staged user id, or else a
    /// userName (case-insensitive); `None` if it is neither.
    pub async fn resolve_user(&self, tenant: &Tenant, id_or_name: &str) -> Result<Option<String>> {
        if self
            .store
            .staged_user_with_groups(tenant, id_or_name)
            .await?
            .is_some()
        {
            return Ok(Some(id_or_name.to_owned()));
        }
        Ok(self
            .store
            .staged_user_id_by_name(tenant, id_or_name)
            .await?)
    }

    /// The whole holding area at one instant (users, groups, memberships).
    pub async fn holding_area(&self, tenant: &Tenant) -> Result<Snapshot> {
        Ok(self.store.snapshot(tenant).await?)
    }
}
