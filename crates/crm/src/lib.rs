//! The CRM side of a sync: what exists in the CRM (the catalogue) and the accounts the
//! sync creates and maintains. The planner talks to a [`CrmTarget`]; the built-in one
//! ([`BuiltinCrm`]) keeps both in scimgate's own database, and an HTTP CRM API can be
//! another implementation without the planner changing.

mod account;
mod builtin;
mod catalog;

pub use account::{AccountFields, Change, CrmAccount};
pub use builtin::BuiltinCrm;
pub use catalog::CatalogKind;

use scimgate_rules::Catalog;
use scimgate_store::Tenant;

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error(transparent)]
    Store(#[from] scimgate_store::StoreError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("corrupt CRM data: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
}

pub type Result<T, E = CrmError> = std::result::Result<T, E>;

/// Where accounts go. Every method is tenant-scoped; an implementation never sees
/// another tenant's data through it.
#[allow(async_fn_in_trait)]
pub trait CrmTarget: Send + Sync {
    /// What exists in the CRM: user plans (with purchased seats), companies, groups, roles.
    async fn catalog(&self, tenant: &Tenant) -> Result<Catalog>;

    /// Every account of the tenant, active or not.
    async fn accounts(&self, tenant: &Tenant) -> Result<Vec<CrmAccount>>;

    /// Applies changes as one unit where the CRM allows it (the built-in one commits
    /// them in one transaction). Applying a change that is already in effect changes
    /// nothing, so a run repeated after a crash cannot duplicate accounts.
    async fn apply(&self, tenant: &Tenant, changes: &[Change], now: &str) -> Result<Vec<i64>>;
}
