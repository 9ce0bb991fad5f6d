//! The admin's decision on a run the mass-deprovision guard held: approve (apply the
//! held deprovisions still due) or reject (discard them).

use super::{Outcome, Syncer};
use crate::plan::{Action, Plan, PlanItem};
use crate::runs::{self, RunStatus};
use crate::{Result, SyncError};
use scimgate_store::Tenant;

impl Syncer {
    /// Approves a held run: the deprovisions it held that a fresh plan still wants are
    /// applied now.
    pub async fn approve(&self, tenant: &Tenant, run_id: i64) -> Result<Outcome> {
        self.with_lease(tenant, |this| async move {
            let run = this.held_run(tenant, run_id).await?;
            let held: std::collections::HashSet<i64> = runs::users(&this.store, tenant, run.id)
                .await?
                .into_iter()
                .filter(|u| u.outcome == "held")
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
                    let _ = sqlx::query(
                        "UPDATE sync_runs SET status = 'held', message = $1 WHERE id = $2",
                    )
                    .bind(format!("approval failed ({e}); approve again to finish it"))
                    .bind(run.id)
                    .execute(this.store.pool())
                    .await;
                    return Err(e);
                }
            };
            // apply() wrote this pass's counts over the run's; put the run's back, with
            // the approved deprovisions added.
            sqlx::query(
                "UPDATE sync_runs SET status = 'approved', finished_at = $1, users_received = $2,
                    users_synced = $3, created = $4, updated = $5, deprovisioned = $6,
                    unchanged = $7, errors = $8, held = 0, message = $9
                 WHERE id = $10",
            )
            .bind(this.stamp())
            .bind(run.users_received)
            .bind(run.users_synced)
            .bind(run.created)
            .bind(run.updated)
            .bind(run.deprovisioned + outcome.deprovisioned as i64)
            .bind(run.unchanged)
            .bind(run.errors)
            .bind(format!(
                "approved: {} held deprovisions applied",
                outcome.deprovisioned
            ))
            .bind(run.id)
            .execute(this.store.pool())
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
            let done = sqlx::query(
                "UPDATE sync_runs SET status = 'rejected', finished_at = $1,
                    message = 'rejected: the held deprovisions were discarded'
                 WHERE tenant_id = $2 AND id = $3 AND status = 'held'",
            )
            .bind(this.stamp())
            .bind(tenant.id)
            .bind(run.id)
            .execute(this.store.pool())
            .await?;
            if done.rows_affected() == 0 {
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
        let (tenant_row, now) = (tenant.clone(), self.clock.now());
        self.store
            .write_transaction(move |conn| {
                Box::pin(async move {
                    scimgate_notify::outbox::record(
                        conn,
                        &tenant_row,
                        &[],
                        &[scimgate_notify::EventKind::SyncHeld],
                        now.unix_millis(),
                        &now.to_rfc3339(),
                    )
                    .await
                })
            })
            .await?;
        Ok(())
    }

    async fn held_run(&self, tenant: &Tenant, run_id: i64) -> Result<runs::Run> {
        let run = runs::get(&self.store, tenant, run_id)
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
