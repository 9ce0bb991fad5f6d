//! The admin's decision on a run the mass-deprovision guard held: approve (apply the
//! held deprovisions still due) or reject (discard them).

use super::{Outcome, Syncer};
use crate::plan::{Action, Plan, PlanItem};
use crate::{Result, SyncError};
use scimgate_core::{Run, RunOutcome, RunStatus};
use scimgate_store::Tenant;

impl Syncer {
    /// Approves a held run: the deprovisions it held that a fresh plan still wants are
    /// applied now.
    pub async fn approve(&self, tenant: &Tenant, run_id: i64) -> Result<Outcome> {
        self.with_lease(tenant, |this| async move {
            let run = this.held_run(tenant, run_id).await?;
            let held: std::collections::HashSet<i64> = this
                .store
                .run_users(tenant, run.id)
                .await?
                .into_iter()
                .filter(|u| u.outcome == RunOutcome::Held)
                .filter_map(|u| u.account)
                .collect();
            let inputs = this.inputs(tenant, None).await?;
            // Approved: no guard for this plan.
            let (fresh, _) = this.company_plan(tenant, &inputs, None).await?;
            let items: Vec<PlanItem> = fresh
                .items
                .into_iter()
                .filter(|i| {
                    i.action == Action::Deprovision
                        && i.account.is_some_and(|pk| held.contains(&pk))
                })
                .collect();
            let plan = Plan {
                totals: crate::Totals {
                    deprovision: items.len() as u64,
                    ..Default::default()
                },
                seats: Vec::new(),
                items,
                deprovisions_held: false,
            };
            let mut outcome = match this
                .apply(tenant, run.id, &plan, &inputs.accounts, false, false)
                .await
            {
                Ok(outcome) => outcome,
                Err(e) => {
                    // Still held: approving again applies what is left (each deprovision
                    // is idempotent). Not left "running", which the next run would call
                    // interrupted.
                    let message = format!("approval failed ({e}); approve again to finish it");
                    let _ = this
                        .store
                        .set_run_status(run.id, RunStatus::Held, &message)
                        .await;
                    return Err(e);
                }
            };
            // apply() wrote this pass's counts over the run's; put the run's back, with
            // the approved deprovisions added.
            let message = format!(
                "approved: {} held deprovisions applied",
                outcome.deprovisioned
            );
            let deprovisioned = run.deprovisioned + outcome.deprovisioned as i64;
            this.store
                .approve_run(&run, deprovisioned, &message, &this.stamp())
                .await?;
            this.close_held(tenant).await?;
            outcome.status = RunStatus::Approved;
            Ok(outcome)
        })
        .await
    }

    /// Rejects a held run: its deprovisions are discarded.
    pub async fn reject(&self, tenant: &Tenant, run_id: i64) -> Result<()> {
        // Under the lease, like approve: the two cannot interleave.
        self.with_lease(tenant, |this| async move {
            let run = this.held_run(tenant, run_id).await?;
            if !this
                .store
                .reject_held_run(tenant, run.id, &this.stamp())
                .await?
            {
                return Err(SyncError::Conflict(format!(
                    "run {run_id} is no longer held"
                )));
            }
            this.close_held(tenant).await
        })
        .await
    }

    /// An admin decided on the held run: the `sync.held` problem is over (one "resolved"
    /// message), so the next hold is announced again, not grouped away.
    async fn close_held(&self, tenant: &Tenant) -> Result<()> {
        let ended = vec![scimgate_notify::EventKind::SyncHeld];
        self.commit_events(tenant, None, Vec::new(), ended, None)
            .await
    }

    async fn held_run(&self, tenant: &Tenant, run_id: i64) -> Result<Run> {
        let run = self
            .store
            .run(tenant, run_id)
            .await?
            .ok_or_else(|| SyncError::NotFound(format!("no run {run_id}")))?;
        if run.status != RunStatus::Held {
            return Err(SyncError::Conflict(format!(
                "run {run_id} is {}, not held",
                run.status.name()
            )));
        }
        Ok(run)
    }
}
