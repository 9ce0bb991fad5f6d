//! Where accounts go. A sync plans what each staged user's CRM account should be and
//! hands the changes to a [`CrmTarget`], chosen at start-up. The built-in target
//! ([`BuiltinCrm`]) keeps accounts in scimgate's own database; [`MemoryCrm`] keeps them
//! in memory (tests, and the reference for what a target must do); a connector to a
//! real CRM's API is another implementation, and nothing above this trait changes.

mod builtin;
mod memory;
pub mod push;
pub mod secret;

pub use builtin::BuiltinCrm;
pub use memory::MemoryCrm;
pub use scimgate_core::{AccountFields, CatalogKind, Change, CrmAccount};

use scimgate_core::Tenant;
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error(transparent)]
    Store(#[from] scimgate_store::StoreError),
    /// The target refused a change (e.g. an account that is not there).
    #[error("{0}")]
    Refused(String),
    #[error("the CRM is unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = CrmError> = std::result::Result<T, E>;

/// What every [`CrmTarget`] method returns: a boxed future, so the trait is object-safe
/// (`Arc<dyn CrmTarget>`) and the future can move between threads.
pub type CrmFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// A place accounts are kept. Every method is tenant-scoped; an implementation never
/// shows one tenant's accounts to another.
pub trait CrmTarget: Send + Sync {
    /// Names the target in logs and the run history.
    fn name(&self) -> &'static str;

    /// Every account of the tenant, active or not, by pk.
    fn accounts<'a>(&'a self, tenant: &'a Tenant) -> CrmFuture<'a, Vec<CrmAccount>>;

    fn account<'a>(&'a self, tenant: &'a Tenant, pk: i64) -> CrmFuture<'a, Option<CrmAccount>>;

    /// Active accounts per user plan, `(plan, count)` by plan name: the seats in use. This
    /// default counts [`CrmTarget::accounts`]; a target that can count where the accounts
    /// are does so instead.
    fn seats_in_use<'a>(&'a self, tenant: &'a Tenant) -> CrmFuture<'a, Vec<(String, u64)>> {
        Box::pin(async move {
            let mut used = std::collections::BTreeMap::<String, u64>::new();
            for account in self.accounts(tenant).await? {
                if let (true, Some(plan)) = (account.fields.active, account.fields.user_plan) {
                    *used.entry(plan.to_string()).or_default() += 1;
                }
            }
            Ok(used.into_iter().collect())
        })
    }

    /// The accounts a one-user plan can touch: the one linked to `staged_user_id`, and
    /// unlinked ones (after a restart) whose externalId is `external_id`. This default
    /// filters [`CrmTarget::accounts`]; a target that can look them up does so instead.
    fn accounts_of_user<'a>(
        &'a self,
        tenant: &'a Tenant,
        staged_user_id: &'a str,
        external_id: Option<&'a str>,
    ) -> CrmFuture<'a, Vec<CrmAccount>> {
        Box::pin(async move {
            let mut accounts = self.accounts(tenant).await?;
            accounts.retain(|a| match a.staged_user_id.as_deref() {
                Some(id) => id == staged_user_id,
                None => external_id.is_some() && a.external_id.as_deref() == external_id,
            });
            Ok(accounts)
        })
    }

    /// Applies changes as one unit where the target allows it, returning each change's
    /// account pk. Applying a change that is already in effect changes nothing, so a run
    /// repeated after a crash cannot duplicate accounts: a create for a staged user that
    /// already has an account updates it.
    fn apply<'a>(
        &'a self,
        tenant: &'a Tenant,
        changes: &'a [Change],
        now: &'a str,
    ) -> CrmFuture<'a, Vec<i64>>;

    /// Restart sync: every account forgets its staged user (the holding area is about to
    /// be cleared), keeping its externalId, by which it is re-linked when the user is
    /// sent again. Returns how many accounts were unlinked.
    fn unlink_all<'a>(&'a self, tenant: &'a Tenant) -> CrmFuture<'a, u64>;
}
