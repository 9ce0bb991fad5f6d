//! What every plan is computed from — the catalogue, the rules (saved or a draft) and
//! the target's accounts — loaded in one place, and the plans built from them.

use super::Syncer;
use crate::plan::{self, Action, Plan, PlanItem, Scope};
use crate::{settings, Result, SyncError};
use scimgate_core::RuleSource;
use scimgate_crm::CrmAccount;
use scimgate_rules::{Catalog, RuleSet};
use scimgate_store::Tenant;

/// Users planned per chunk: large enough to keep both cores busy, small enough that a
/// chunk's documents are a few megabytes.
const PLAN_CHUNK: usize = 4_096;

pub(super) struct PlanInputs {
    pub catalog: Catalog,
    pub rules: RuleSet,
    pub accounts: Vec<CrmAccount>,
}

impl Syncer {
    /// The saved rule set compiled against the current catalogue.
    pub async fn saved_rules(&self, tenant: &Tenant, catalog: &Catalog) -> Result<RuleSet> {
        let source = self.store.rule_set(tenant).await?.value.ok_or_else(|| {
            SyncError::NotFound(
                "this tenant has no rule set yet: save one (scimgate rules apply, or PUT …/rules)"
                    .into(),
            )
        })?;
        scimgate_rules::compile(&source, catalog).map_err(|problems| {
            SyncError::Rules(format!(
                "the saved rule set no longer compiles against the catalogue:\n{}",
                scimgate_rules::problems_text(&problems)
            ))
        })
    }

    /// The catalogue, the rules (a draft, not saved, when given; else the saved ones)
    /// and the target's accounts.
    pub(super) async fn inputs(
        &self,
        tenant: &Tenant,
        draft: Option<&RuleSource>,
    ) -> Result<PlanInputs> {
        let catalog = self.store.catalog(tenant).await?;
        let rules = match draft {
            Some(source) => scimgate_rules::compile(source, &catalog)
                .map_err(|problems| SyncError::Rules(scimgate_rules::problems_text(&problems)))?,
            None => self.saved_rules(tenant, &catalog).await?,
        };
        let accounts = self.crm.accounts(tenant).await?;
        Ok(PlanInputs {
            catalog,
            rules,
            accounts,
        })
    }

    /// The whole company's plan, reading the holding area chunk by chunk; `guard` holds
    /// a mass deprovision. Returns the plan and the change sequence it reflects.
    pub(super) async fn company_plan(
        &self,
        tenant: &Tenant,
        inputs: &PlanInputs,
        guard: Option<&settings::SyncSettings>,
    ) -> Result<(Plan, i64)> {
        let mut planner = plan::Planner::new(
            &inputs.rules,
            &inputs.catalog,
            &inputs.accounts,
            Scope::Company,
        );
        let mut planned = 0u64;
        let holding = self
            .store
            .scan_holding_area(tenant, PLAN_CHUNK, |holding, users| {
                planned += users.len() as u64;
                planner.add_staged(holding, users);
                self.report("planned", planned, None);
            })
            .await?;
        let plan = planner.finish_guarded(|deprovisions, active| {
            guard.is_some_and(|g| g.guard_trips(deprovisions, active))
        });
        Ok((plan, holding.change_seq))
    }

    /// One staged user's plan; `None` when the user is not staged.
    pub(super) async fn user_plan(
        &self,
        tenant: &Tenant,
        user_id: &str,
        inputs: &PlanInputs,
    ) -> Result<Option<(Plan, plan::PlanUsers)>> {
        let Some((user, groups)) = self.store.staged_user_with_groups(tenant, user_id).await?
        else {
            return Ok(None);
        };
        let users = plan::PlanUsers::one(user, groups);
        let plan = plan::plan(
            &inputs.rules,
            &inputs.catalog,
            &users,
            &inputs.accounts,
            &Scope::User(user_id.to_owned()),
        );
        Ok(Some((plan, users)))
    }
}

/// A one-user plan for a user the IdP deleted: deprovision its active account.
pub(super) fn deleted_user_plan(user_id: &str, accounts: &[CrmAccount]) -> Option<Plan> {
    let account = accounts
        .iter()
        .find(|a| a.staged_user_id.as_deref() == Some(user_id))?;
    let mut plan = Plan::default();
    if account.fields.active {
        plan.totals.deprovision = 1;
        plan.items.push(PlanItem {
            user_id: user_id.to_owned(),
            username: account.fields.username.clone(),
            external_id: account.external_id.clone(),
            action: Action::Deprovision,
            account: Some(account.pk),
            target: None,
            changes: Vec::new(),
            reason: Some("the user was deleted in the identity provider".into()),
            synced: false,
            arrived: String::new(),
        });
    } else {
        plan.totals.unchanged = 1;
    }
    Some(plan)
}
