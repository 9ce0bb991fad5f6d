//! What a run tells the notifier, and how a failed run is recorded.

use super::{Outcome, Syncer};
use crate::plan::{Action, Plan};
use crate::{Result, SyncError};
use scimgate_core::{RunCounts, RunStatus};
use scimgate_notify::welcome::{self, NewAccount};
use scimgate_notify::{outbox, Event, EventKind, RunReport};
use scimgate_store::Tenant;

/// How a run ends in the history.
pub(super) enum RunEnd {
    Finished {
        status: RunStatus,
        counts: RunCounts,
        message: Option<String>,
    },
    /// Failed with the reason; the counts recorded so far are kept.
    Failed { why: String },
}

/// Welcome e-mails to queue with a run's end: the sign-in address, and who is owed one.
pub(super) type Welcomes = (String, Vec<NewAccount>);

impl Syncer {
    /// Records a run's end (when given), the notifications `report` causes and the
    /// welcome e-mails owed, in one transaction: a run is never recorded as ended
    /// without the messages it owes, nor the messages sent for a run that did not end.
    pub(super) async fn commit_with_notifications(
        &self,
        tenant: &Tenant,
        end: Option<(i64, RunEnd)>,
        report: &RunReport,
        welcomes: Option<Welcomes>,
    ) -> Result<()> {
        let (events, ended) = report.events();
        self.commit_events(tenant, end, events, ended, welcomes)
            .await
    }

    /// [`Syncer::commit_with_notifications`] with the events given directly.
    pub(super) async fn commit_events(
        &self,
        tenant: &Tenant,
        end: Option<(i64, RunEnd)>,
        events: Vec<Event>,
        ended: Vec<EventKind>,
        welcomes: Option<Welcomes>,
    ) -> Result<()> {
        let now = self.clock.now();
        let tenant = tenant.clone();
        self.store
            .write_transaction(move |mut tx| {
                Box::pin(async move {
                    let stamp = now.to_rfc3339();
                    match end {
                        Some((
                            run_id,
                            RunEnd::Finished {
                                status,
                                counts,
                                message,
                            },
                        )) => {
                            scimgate_store::runs::finish_run_in(
                                &mut tx,
                                run_id,
                                status,
                                &counts,
                                message.as_deref(),
                                Some(&stamp),
                            )
                            .await?;
                        }
                        Some((run_id, RunEnd::Failed { why })) => {
                            scimgate_store::runs::fail_run_in(&mut tx, run_id, &why, &stamp)
                                .await?;
                        }
                        None => {}
                    }
                    let now_ms = now.unix_millis();
                    outbox::record(&mut tx, &tenant, &events, &ended, now_ms, &stamp).await?;
                    if let Some((sign_in_url, owed)) = &welcomes {
                        welcome::record_pending(
                            &mut tx,
                            &tenant,
                            owed,
                            sign_in_url,
                            now_ms,
                            &stamp,
                        )
                        .await?;
                    }
                    Ok::<_, SyncError>(())
                })
            })
            .await
    }

    /// Records a run that failed as failed (with the reason), and the `sync.failed`
    /// notification with it, before passing the error on.
    pub(super) async fn settle(
        &self,
        tenant: &Tenant,
        run_id: i64,
        company: bool,
        result: Result<Outcome>,
    ) -> Result<Outcome> {
        if let Err(e) = &result {
            // What the admin reads in the run history: the reason when it is theirs to
            // fix (rules, catalogue, a missing rule set); for a database or internal
            // failure only that it happened — the details go to the server log.
            let why = match e {
                SyncError::Store(_)
                | SyncError::Crm(_)
                | SyncError::Notify(_)
                | SyncError::Corrupt(_) => {
                    tracing::error!(run = run_id, error = %e, "sync run failed");
                    "a database or internal error stopped the run (details in the server log); the next run completes it".to_owned()
                }
                other => other.to_string(),
            };
            let report = self.run_report(
                tenant,
                run_id,
                &Plan::default(),
                company,
                Some(why.clone()),
                0,
            );
            let recorded = self
                .commit_with_notifications(
                    tenant,
                    Some((run_id, RunEnd::Failed { why })),
                    &report,
                    None,
                )
                .await;
            if let Err(record_error) = recorded {
                tracing::error!(run = run_id, error = %record_error, "could not record a failed run");
            }
        }
        result
    }

    /// What a finished run tells the notifier.
    pub(super) fn run_report(
        &self,
        tenant: &Tenant,
        run_id: i64,
        plan: &Plan,
        company: bool,
        failure: Option<String>,
        held: u64,
    ) -> scimgate_notify::RunReport {
        let user_errors: Vec<(String, String)> = plan
            .items
            .iter()
            .filter(|i| i.action == Action::Error)
            .map(|i| (i.username.to_string(), i.reason.clone().unwrap_or_default()))
            .collect();
        let plans_out_of_seats = plan
            .seats
            .iter()
            .filter(|s| {
                let refused = format!("user plan {:?} has no free seat", s.user_plan);
                user_errors.iter().any(|(_, r)| r.starts_with(&refused))
            })
            .map(|s| s.user_plan.clone())
            .collect();
        scimgate_notify::RunReport {
            run_id,
            company,
            failure,
            users_received: plan.totals.users_received,
            user_errors,
            plans_out_of_seats,
            held,
            where_to_look: format!(
                "scimgate runs --tenant {name} --run {run_id} (admin API: GET /api/v1/tenants/{name}/runs/{run_id})",
                name = tenant.name
            ),
        }
    }
}
