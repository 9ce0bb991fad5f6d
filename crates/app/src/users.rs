//! The holding area as the IdP filled it, and naming a staged user the way admins do:
//! by its id or by its userName.

use crate::{App, AppError, Result};
use scimgate_core::{StagedGroup, StagedUser, Tenant};
use scimgate_store::{Snapshot, UserPage, UserSearch};

/// Most users one page shows.
pub const MAX_PAGE: i64 = 200;

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

    /// A page of staged users found by text (userName, display name, e-mail, externalId)
    /// and group, counted; in SQL, however many users the tenant has.
    pub async fn search_users(&self, tenant: &Tenant, search: &UserSearch<'_>) -> Result<UserPage> {
        if search.limit < 1 || search.limit > MAX_PAGE || search.offset < 0 {
            return Err(AppError::Invalid(format!(
                "a page holds 1 to {MAX_PAGE} users, from offset 0"
            )));
        }
        Ok(self.store.search_staged_users(tenant, search).await?)
    }

    /// [`App::resolve_user`], or a NotFound naming what was asked.
    pub(crate) async fn staged_id(&self, tenant: &Tenant, id_or_name: &str) -> Result<String> {
        self.resolve_user(tenant, id_or_name).await?.ok_or_else(|| {
            AppError::NotFound(format!("no staged user with id or userName {id_or_name:?}"))
        })
    }

    /// The groups to browse users by: `(id, display name)`.
    pub async fn group_names(&self, tenant: &Tenant) -> Result<Vec<(String, String)>> {
        Ok(self.store.staged_group_names(tenant).await?)
    }

    /// The groups a rule may be scoped to: `(display name, externalId)`, by name (a rule
    /// matches a group by either).
    pub async fn group_choices(&self, tenant: &Tenant) -> Result<Vec<(String, Option<String>)>> {
        let groups = self.store.staged_group_labels(tenant).await?;
        Ok(groups
            .into_iter()
            .map(|(_, name, external)| (name, external))
            .collect())
    }

    /// One staged user by id, with the groups it is a direct member of.
    pub async fn staged_user(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<(StagedUser, Vec<StagedGroup>)> {
        self.store
            .staged_user_with_groups(tenant, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no staged user {id:?}")))
    }

    /// The last runs that touched one staged user, newest first, with what each did.
    pub async fn user_history(
        &self,
        tenant: &Tenant,
        user_id: &str,
    ) -> Result<Vec<(scimgate_core::Run, scimgate_core::RunUser)>> {
        Ok(self.store.user_history(tenant, user_id, 20).await?)
    }
}
