//! The built-in CRM target: accounts in scimgate's own database (the store's
//! `crm_accounts`, both backends).

use crate::{Change, CrmAccount, CrmFuture, CrmTarget};
use scimgate_core::Tenant;
use scimgate_store::Store;

#[derive(Clone)]
pub struct BuiltinCrm {
    store: Store,
}

impl BuiltinCrm {
    pub fn new(store: Store) -> BuiltinCrm {
        BuiltinCrm { store }
    }
}

impl CrmTarget for BuiltinCrm {
    fn name(&self) -> &'static str {
        "builtin"
    }

    fn accounts<'a>(&'a self, tenant: &'a Tenant) -> CrmFuture<'a, Vec<CrmAccount>> {
        Box::pin(async move { Ok(self.store.accounts(tenant).await?) })
    }

    fn account<'a>(&'a self, tenant: &'a Tenant, pk: i64) -> CrmFuture<'a, Option<CrmAccount>> {
        Box::pin(async move { Ok(self.store.account(tenant, pk).await?) })
    }

    fn accounts_of_user<'a>(
        &'a self,
        tenant: &'a Tenant,
        staged_user_id: &'a str,
        external_id: Option<&'a str>,
    ) -> CrmFuture<'a, Vec<CrmAccount>> {
        Box::pin(async move {
            Ok(self
                .store
                .accounts_of_user(tenant, staged_user_id, external_id)
                .await?)
        })
    }

    fn seats_in_use<'a>(&'a self, tenant: &'a Tenant) -> CrmFuture<'a, Vec<(String, u64)>> {
        Box::pin(async move {
            let counted = self.store.seats_in_use(tenant).await?;
            Ok(counted
                .into_iter()
                .map(|(plan, used)| (plan, used.max(0).unsigned_abs()))
                .collect())
        })
    }

    fn apply<'a>(
        &'a self,
        tenant: &'a Tenant,
        changes: &'a [Change],
        now: &'a str,
    ) -> CrmFuture<'a, Vec<i64>> {
        // One transaction: the chunk is applied whole or not at all.
        Box::pin(async move {
            Ok(self
                .store
                .apply_account_changes(tenant, changes, now)
                .await?)
        })
    }

    fn unlink_all<'a>(&'a self, tenant: &'a Tenant) -> CrmFuture<'a, u64> {
        Box::pin(async move { Ok(self.store.unlink_accounts(tenant).await?) })
    }
}
