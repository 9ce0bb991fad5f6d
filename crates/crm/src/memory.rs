//! A CRM target in memory: what tests sync into when the point is the sync, not the
//! database, and the shortest statement of what a target must do (idempotent creates,
//! deactivation keeps the account, restart unlinks but keeps externalId).

use crate::{Change, CrmAccount, CrmError, CrmFuture, CrmTarget};
use scimgate_core::Tenant;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryCrm {
    /// Tenant id → accounts by pk.
    accounts: Mutex<BTreeMap<i64, BTreeMap<i64, CrmAccount>>>,
    next_pk: Mutex<i64>,
}

impl MemoryCrm {
    pub fn new() -> MemoryCrm {
        MemoryCrm::default()
    }

    fn with<T>(&self, tenant: &Tenant, f: impl FnOnce(&mut BTreeMap<i64, CrmAccount>) -> T) -> T {
        let mut all = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        f(all.entry(tenant.id).or_default())
    }

    fn new_pk(&self) -> i64 {
        let mut next = self.next_pk.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        *next
    }

    fn apply_one(&self, tenant: &Tenant, change: &Change, now: &str) -> Result<i64, CrmError> {
        match change {
            Change::Create {
                staged_user_id,
                external_id,
                fields,
            } => {
                let existing = self.with(tenant, |accounts| {
                    accounts
                        .values()
                        .find(|a| a.staged_user_id.as_deref() == Some(staged_user_id))
                        .map(|a| a.pk)
                });
                let pk = existing.unwrap_or_else(|| self.new_pk());
                self.with(tenant, |accounts| {
                    let created_at = accounts
                        .get(&pk)
                        .map_or_else(|| now.to_owned(), |a| a.created_at.clone());
                    accounts.insert(
                        pk,
                        CrmAccount {
                            pk,
                            staged_user_id: Some(staged_user_id.clone()),
                            external_id: external_id.clone(),
                            fields: fields.clone(),
                            created_at,
                            updated_at: now.to_owned(),
                            deactivated_at: None,
                        },
                    );
                });
                Ok(pk)
            }
            Change::Update {
                pk,
                staged_user_id,
                external_id,
                fields,
            } => self.with(tenant, |accounts| {
                let account = accounts
                    .get_mut(pk)
                    .ok_or_else(|| CrmError::Refused(format!("no account {pk}")))?;
                account.staged_user_id = Some(staged_user_id.clone());
                account.external_id = external_id.clone();
                account.fields = fields.clone();
                account.updated_at = now.to_owned();
                account.deactivated_at = if fields.active {
                    None
                } else {
                    account
                        .deactivated_at
                        .clone()
                        .or_else(|| Some(now.to_owned()))
                };
                Ok(*pk)
            }),
            Change::Deactivate { pk } => self.with(tenant, |accounts| {
                if let Some(account) = accounts.get_mut(pk).filter(|a| a.fields.active) {
                    account.fields.active = false;
                    account.updated_at = now.to_owned();
                    account.deactivated_at = Some(now.to_owned());
                }
                Ok(*pk)
            }),
        }
    }
}

impl CrmTarget for MemoryCrm {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn accounts<'a>(&'a self, tenant: &'a Tenant) -> CrmFuture<'a, Vec<CrmAccount>> {
        Box::pin(async move { Ok(self.with(tenant, |a| a.values().cloned().collect())) })
    }

    fn account<'a>(&'a self, tenant: &'a Tenant, pk: i64) -> CrmFuture<'a, Option<CrmAccount>> {
        Box::pin(async move { Ok(self.with(tenant, |a| a.get(&pk).cloned())) })
    }

    fn apply<'a>(
        &'a self,
        tenant: &'a Tenant,
        changes: &'a [Change],
        now: &'a str,
    ) -> CrmFuture<'a, Vec<i64>> {
        Box::pin(async move {
            changes
                .iter()
                .map(|change| self.apply_one(tenant, change, now))
                .collect()
        })
    }

    fn unlink_all<'a>(&'a self, tenant: &'a Tenant) -> CrmFuture<'a, u64> {
        Box::pin(async move {
            Ok(self.with(tenant, |accounts| {
                let mut unlinked = 0;
                for account in accounts.values_mut() {
                    if account.staged_user_id.take().is_some() {
                        unlinked += 1;
                    }
                }
                unlinked
            }))
        })
    }
}
