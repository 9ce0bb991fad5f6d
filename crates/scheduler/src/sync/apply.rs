//! Applying a plan: chunk by chunk (each chunk one transaction in the target), every
//! user's outcome recorded, and the run's end committed with its notifications and
//! welcome e-mails.

use super::report::RunEnd;
use super::{Outcome, Syncer};
use crate::plan::{Action, Plan, PlanItem};
use crate::Result;
use scimgate_core::{RunCounts, RunOutcome, RunStatus, RunUser};
use scimgate_crm::{Change, CrmAccount};
use scimgate_notify::welcome::NewAccount;
use scimgate_store::Tenant;

/// Changes applied (and committed) per transaction: also how often a run checks for a
/// cancel and renews its lease. Every commit rewrites the index pages its rows landed
/// on (externalIds are random GUIDs), so small chunks write the same pages again and
/// again: a first sync of 100,000 accounts on SQLite took 11.8 s in chunks of 1,000 and
/// 6.4 s in chunks of 5,000 (BENCHMARKS.md).
pub(super) const CHUNK: usize = 5_000;

impl Syncer {
    /// Applies a plan chunk by chunk (each chunk one transaction), recording each user's
    /// outcome. With `hold`, deprovisions are recorded as held and not applied.
    pub(super) async fn apply(
        &self,
        tenant: &Tenant,
        run_id: i64,
        plan: &Plan,
        accounts: &[CrmAccount],
        hold: bool,
        company: bool,
    ) -> Result<Outcome> {
        let welcome = self.store.welcome_email_since(tenant).await?;
        // Accounts owed a welcome e-mail: those created since it was switched on (some
        // perhaps by a run that stopped before queuing theirs), and those created now.
        let mut owed: std::collections::BTreeMap<i64, NewAccount> = match &welcome {
            Some((since, _)) => accounts
                .iter()
                .filter(|a| a.fields.active && a.created_at.as_str() >= since.as_str())
                .filter_map(new_account)
                .map(|a| (a.pk, a))
                .collect(),
            None => Default::default(),
        };
        let mut counts = RunCounts {
            users_received: plan.totals.users_received,
            users_synced: plan.totals.users_synced,
            unchanged: plan.totals.unchanged,
            errors: plan.totals.error,
            ..RunCounts::default()
        };
        let mut records: Vec<RunUser> = plan
            .items
            .iter()
            .filter(|i| i.action == Action::Error)
            .map(|i| RunUser {
                user_id: i.user_id.clone(),
                username: i.username.to_string(),
                outcome: RunOutcome::Error,
                account: i.account,
                error: i.reason.clone(),
            })
            .collect();
        let mut work: Vec<&PlanItem> = plan
            .items
            .iter()
            .filter(|i| {
                matches!(
                    i.action,
                    Action::Create | Action::Update | Action::Deprovision
                )
            })
            .collect();
        // Seats are freed before they are taken: a run stopped half-way never leaves
        // more accounts on a plan than it has seats.
        work.sort_by_key(|i| match i.action {
            Action::Deprovision => 0,
            Action::Update => 1,
            _ => 2,
        });
        let total = work.len() as u64;
        let mut done = 0u64;
        let mut cancelled = false;
        let mut rest: &[&PlanItem] = &work;
        while !rest.is_empty() {
            // Fewer while SCIM writes are arriving: they wait for this chunk to commit.
            let chunk = self.store.next_transaction(&mut rest, self.apply_chunk);
            // A safe point: every chunk before this one is committed with its records.
            if self.store.run_cancel_requested(run_id).await? {
                cancelled = true;
                break;
            }
            let mut changes = Vec::with_capacity(chunk.len());
            let mut applied: Vec<&PlanItem> = Vec::with_capacity(chunk.len());
            for item in chunk {
                let change = match (item.action, item.account, &item.target) {
                    (Action::Create, _, Some(fields)) => Change::Create {
                        staged_user_id: item.user_id.clone(),
                        external_id: item.external_id.clone(),
                        fields: fields.clone(),
                    },
                    (Action::Update, Some(pk), Some(fields)) => Change::Update {
                        pk,
                        staged_user_id: item.user_id.clone(),
                        external_id: item.external_id.clone(),
                        fields: fields.clone(),
                    },
                    (Action::Deprovision, Some(pk), _) => {
                        if hold {
                            counts.held += 1;
                            records.push(RunUser {
                                user_id: item.user_id.clone(),
                                username: item.username.to_string(),
                                outcome: RunOutcome::Held,
                                account: Some(pk),
                                error: item.reason.clone(),
                            });
                            continue;
                        }
                        Change::Deactivate { pk }
                    }
                    _ => continue,
                };
                changes.push(change);
                applied.push(item);
            }
            if !changes.is_empty() {
                let pks = self.crm.apply(tenant, &changes, &self.stamp()).await?;
                for (item, pk) in applied.iter().zip(pks) {
                    let outcome = match item.action {
                        Action::Create => {
                            counts.created += 1;
                            if let Some(fields) = &item.target {
                                owed.extend(new_account_of(pk, fields).map(|a| (pk, a)));
                            }
                            RunOutcome::Created
                        }
                        Action::Update => {
                            counts.updated += 1;
                            RunOutcome::Updated
                        }
                        _ => {
                            counts.deprovisioned += 1;
                            owed.remove(&pk);
                            RunOutcome::Deprovisioned
                        }
                    };
                    records.push(RunUser {
                        user_id: item.user_id.clone(),
                        username: item.username.to_string(),
                        outcome,
                        account: Some(pk),
                        error: item
                            .reason
                            .clone()
                            .filter(|_| item.action == Action::Deprovision),
                    });
                }
            }
            self.store
                .record_run_users(tenant, run_id, &records)
                .await?;
            records.clear();
            self.store
                .record_run_counts(run_id, RunStatus::Running, &counts)
                .await?;
            self.renew(tenant).await?;
            done += chunk.len() as u64;
            self.report("applied", done, Some(total));
        }
        self.store
            .record_run_users(tenant, run_id, &records)
            .await?;
        let status = if cancelled {
            RunStatus::Cancelled
        } else if counts.held > 0 {
            RunStatus::Held
        } else {
            RunStatus::Completed
        };
        let message = match status {
            RunStatus::Cancelled => Some(format!(
                "cancelled by an admin after {done} of {total} changes; the next run completes the rest"
            )),
            RunStatus::Held => Some(format!(
                "held: this run would deprovision {} accounts, more than the guard allows; approve or reject it",
                counts.held
            )),
            _ => None,
        };
        // The run's outcome and the notifications it causes commit together.
        // A cancelled run decides nothing: it resolves no open problem (a failed sync is
        // not fixed by a run that stopped) and leaves no held deprovisions to approve.
        let report = match status {
            RunStatus::Cancelled => self.run_report(tenant, run_id, plan, false, None, 0),
            _ => self.run_report(tenant, run_id, plan, company, None, counts.held),
        };
        let welcomes = welcome.map(|(_, sign_in_url)| (sign_in_url, owed.into_values().collect()));
        let end = RunEnd::Finished {
            status,
            counts: counts.clone(),
            message,
        };
        self.commit_with_notifications(tenant, Some((run_id, end)), &report, welcomes)
            .await?;
        Ok(Outcome {
            run_id,
            status,
            created: counts.created,
            updated: counts.updated,
            deprovisioned: counts.deprovisioned,
            unchanged: counts.unchanged,
            errors: counts.errors,
            held: counts.held,
        })
    }
}

/// A welcome e-mail's addressee, if the account has an address.
fn new_account(account: &CrmAccount) -> Option<NewAccount> {
    new_account_of(account.pk, &account.fields)
}

fn new_account_of(pk: i64, fields: &scimgate_core::AccountFields) -> Option<NewAccount> {
    let email = fields.email.as_deref().filter(|e| !e.is_empty())?;
    Some(NewAccount {
        pk,
        username: fields.username.to_string(),
        display_name: fields.display_name.as_deref().map(str::to_owned),
        email: email.to_owned(),
    })
}
