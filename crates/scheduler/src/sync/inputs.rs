//! What every plan is computed from — the catalogue, the rules (saved or a draft) and
//! the target's accounts — loaded in one place, and the plans built from them.

use super::Syncer;
use crate::plan::{self, Action, Plan, PlanItem, Scope};
use crate::{settings, Result, SyncError};
use scimgate_core::RuleSource;
use scimgate_crm::CrmAccount;
use scimgate_rules::{Catalog, RuleSet};
use scimgate_store::Tenant;
use std::collections::HashMap;

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
        let (catalog, rules) = self.catalog_and_rules(tenant, draft).await?;
        let accounts = self.crm.accounts(tenant).await?;
        Ok(PlanInputs {
            catalog,
            rules,
            accounts,
        })
    }

    pub(super) async fn catalog_and_rules(
        &self,
        tenant: &Tenant,
        draft: Option<&RuleSource>,
    ) -> Result<(Catalog, RuleSet)> {
        let catalog = self.store.catalog(tenant).await?;
        let rules = match draft {
            Some(source) => scimgate_rules::compile(source, &catalog)
                .map_err(|problems| SyncError::Rules(scimgate_rules::problems_text(&problems)))?,
            None => self.saved_rules(tenant, &catalog).await?,
        };
        Ok((catalog, rules))
    }

    /// One staged user's plan, reading only the accounts it can touch and the others'
    /// seats as counts (not every account: the user page's cost does not grow with the
    /// company). Returns the inputs too, for the explanation. `None`: not staged.
    pub(super) async fn user_preview_plan(
        &self,
        tenant: &Tenant,
        user_id: &str,
        draft: Option<&RuleSource>,
    ) -> Result<Option<(Plan, plan::PlanUsers, PlanInputs)>> {
        let (catalog, rules) = self.catalog_and_rules(tenant, draft).await?;
        let seats: HashMap<String, u64> =
            self.crm.seats_in_use(tenant).await?.into_iter().collect();
        let Some((plan, users, accounts)) = self
            .one_user_plan(tenant, user_id, (&catalog, &rules), &seats)
            .await?
        else {
            return Ok(None);
        };
        let inputs = PlanInputs {
            catalog,
            rules,
            accounts,
        };
        Ok(Some((plan, users, inputs)))
    }

    /// [`Syncer::user_preview_plan`] with the catalogue, rules and seats in use already
    /// loaded (a stored preview brings many users up to date at once). Returns the
    /// accounts the user can touch too.
    pub(super) async fn one_user_plan(
        &self,
        tenant: &Tenant,
        user_id: &str,
        (catalog, rules): (&Catalog, &RuleSet),
        seats_in_use: &HashMap<String, u64>,
    ) -> Result<Option<(Plan, plan::PlanUsers, Vec<CrmAccount>)>> {
        let Some((user, groups)) = self.store.staged_user_with_groups(tenant, user_id).await?
        else {
            return Ok(None);
        };
        let accounts = (self.crm)
            .accounts_of_user(tenant, user_id, user.external_id.as_deref())
            .await?;
        let mut elsewhere = seats_in_use.clone();
        for account in accounts.iter().filter(|a| a.fields.active) {
            if let Some(used) =
                (account.fields.user_plan.as_deref()).and_then(|p| elsewhere.get_mut(p))
            {
                *used = used.saturating_sub(1);
            }
        }
        let users = plan::PlanUsers::one(user, groups);
        let scope = Scope::User(user_id.to_owned());
        let mut planner =
            plan::Planner::new(rules, catalog, &accounts, scope).with_seats_elsewhere(elsewhere);
        planner.add(&users);
        let plan = planner.finish();
        Ok(Some((plan, users, accounts)))
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

    /// How many staged users each rule of the saved set (or `draft`) applies to: in
    /// scope, its condition true, active. Reads the holding area chunk by chunk.
    pub async fn rule_matches(
        &self,
        tenant: &Tenant,
        draft: Option<&RuleSource>,
    ) -> Result<Vec<(String, u64)>> {
        let (_, rules) = self.catalog_and_rules(tenant, draft).await?;
        let mut counts: Vec<(String, u64)> = Vec::new();
        self.store
            .scan_holding_area(tenant, PLAN_CHUNK, |holding, users| {
                let chunk = plan::PlanUsers::of_chunk(holding, users);
                for (n, (name, matched)) in
                    rules.match_counts(&chunk.inputs).into_iter().enumerate()
                {
                    match counts.get_mut(n) {
                        Some((_, total)) => *total += matched,
                        None => counts.push((name, matched)),
                    }
                }
            })
            .await?;
        if counts.is_empty() {
            counts = rules
                .rule_names()
                .into_iter()
                .map(|n| (n.to_owned(), 0))
                .collect();
        }
        Ok(counts)
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
            display_name: account.fields.display_name.clone(),
            email: account.fields.email.clone(),
            external_id: account.external_id.clone(),
            action: Action::Deprovision,
            account: Some(account.pk),
            target: None,
            changes: Vec::new(),
            reason: Some(plan::DELETED_IN_IDP.into()),
            set_by: "".into(),
            synced: false,
            arrived: 0,
        });
    } else {
        plan.totals.unchanged = 1;
    }
    Some(plan)
}
