//! A tenant at a glance: the holding area, the last runs, runs waiting for approval, and
//! a set-up checklist that ticks itself from what actually arrived and was configured.

use crate::{App, Result};
use scimgate_core::{Run, RunStatus, Tenant};
use scimgate_store::{HoldingSummary, TokenKind};

/// One step of setting a tenant up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub done: bool,
    pub label: &'static str,
    /// What to do, or what was found.
    pub detail: String,
}

/// One user plan's seats: in use by active accounts, and purchased (`None`: no limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSeats {
    pub plan: String,
    pub used: u64,
    pub purchased: Option<u64>,
}

impl PlanSeats {
    /// More in use than purchased (a catalogue lowered under existing accounts).
    pub fn over(&self) -> bool {
        self.purchased.is_some_and(|p| self.used > p)
    }
}

#[derive(Debug, Clone)]
pub struct Overview {
    pub holding: HoldingSummary,
    /// When the identity provider last sent a request with one of the tenant's tokens
    /// (to within a minute).
    pub last_scim_request: Option<String>,
    /// Every plan of the catalogue, then any plan in use the catalogue no longer has.
    pub seats: Vec<PlanSeats>,
    pub recent_runs: Vec<Run>,
    /// Runs the mass-deprovision guard holds for an admin's decision.
    pub held_runs: Vec<Run>,
    pub user_sync_active: bool,
    pub checklist: Vec<Step>,
    /// Where accounts are pushed, and the push queue.
    pub crm_target: crate::TargetState,
}

/// What every page of a tenant shows in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantStatus {
    pub user_sync_active: bool,
    /// Runs the mass-deprovision guard holds for an admin's decision.
    pub runs_waiting: usize,
}

impl App {
    pub async fn tenant_status(&self, tenant: &Tenant) -> Result<TenantStatus> {
        let settings = self.settings(tenant).await?.value;
        let recent_runs = self.store.runs(tenant, 50).await?;
        Ok(TenantStatus {
            user_sync_active: settings.user_sync_active,
            runs_waiting: (recent_runs.iter())
                .filter(|r| r.status == RunStatus::Held)
                .count(),
        })
    }

    pub async fn overview(&self, tenant: &Tenant) -> Result<Overview> {
        let holding = self.store.holding_summary(tenant).await?;
        let recent_runs = self.store.runs(tenant, 50).await?;
        let held_runs: Vec<Run> = (recent_runs.iter())
            .filter(|r| r.status == RunStatus::Held)
            .cloned()
            .collect();
        let settings = self.settings(tenant).await?.value;
        let tokens = self.store.tokens_of(TokenKind::Scim, tenant).await?;
        let live_tokens = tokens.iter().filter(|t| t.revoked_at.is_none()).count();
        let rules = self.store.rule_set(tenant).await?.value;
        let catalog = self.store.catalog_versioned(tenant).await?.value;
        let step = |done: bool, label, detail: String| Step {
            done,
            label,
            detail,
        };
        let checklist = vec![
            step(
                live_tokens > 0,
                "A SCIM token for the identity provider",
                format!("{live_tokens} live token(s); create one on the Connection page"),
            ),
            step(
                holding.users > 0,
                "Users received",
                format!("{} staged users", holding.users),
            ),
            step(
                holding.sampled_external_ids > 0
                    && holding.guid_external_ids == holding.sampled_external_ids,
                "externalId is Entra's objectId",
                format!(
                    "{} of {} sampled externalIds look like objectIds",
                    holding.guid_external_ids, holding.sampled_external_ids
                ),
            ),
            step(
                holding.groups > 0,
                "Groups received",
                format!("{} staged groups", holding.groups),
            ),
            step(
                !catalog.user_plans.is_empty(),
                "The CRM catalogue is known",
                format!("{} user plans", catalog.user_plans.len()),
            ),
            step(
                rules.is_some(),
                "Rules saved",
                match rules {
                    Some(_) => "a rule set is saved".into(),
                    None => "no rule set yet".into(),
                },
            ),
            step(
                settings.user_sync_active,
                "Automatic sync on",
                format!("schedule {}", settings.schedule),
            ),
        ];
        let in_use = self.syncer.crm().seats_in_use(tenant).await?;
        let mut seats: Vec<PlanSeats> = (catalog.user_plans.iter())
            .map(|plan| PlanSeats {
                plan: plan.name().to_owned(),
                used: 0,
                purchased: plan.seats(),
            })
            .collect();
        for (plan, used) in in_use {
            match seats.iter_mut().find(|s| s.plan == plan) {
                Some(known) => known.used = used,
                None => seats.push(PlanSeats {
                    plan,
                    used,
                    purchased: None,
                }),
            }
        }
        let last_scim_request = self.store.last_scim_request(tenant).await?;
        Ok(Overview {
            holding,
            last_scim_request,
            seats,
            recent_runs: recent_runs.into_iter().take(5).collect(),
            held_runs,
            user_sync_active: settings.user_sync_active,
            checklist,
            crm_target: self.crm_target(tenant).await?.value,
        })
    }
}
