//! Running syncs: preview (a pure read), sync a user or the company under the tenant's
//! lease, the mass-deprovision guard, approve / reject, and restart.

use crate::plan::{self, Action, Plan, PlanItem, Scope};
use crate::runs::{self, Counts, RunStatus, RunUser, Trigger};
use crate::{lease, settings, Result, SyncError};
use scimgate_core::{Clock, RuleSource, Timestamp};
use scimgate_crm::{BuiltinCrm, Change, CrmAccount, CrmTarget};
use scimgate_notify::welcome::NewAccount;
use scimgate_rules::{Catalog, RuleSet};
use scimgate_store::{Store, Tenant};
use std::sync::Arc;

/// How long a run's lease lasts without renewal; renewed after every chunk, so only a
/// stopped process lets it run out.
const LEASE_TTL_MS: i64 = 120_000;
/// Changes applied (and committed) per transaction.
const CHUNK: usize = 1_000;

/// What a sync run did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub run_id: i64,
    pub status: RunStatus,
    pub created: u64,
    pub updated: u64,
    pub deprovisioned: u64,
    pub unchanged: u64,
    pub errors: u64,
    pub held: u64,
}

#[derive(Clone)]
pub struct Syncer {
    store: Store,
    /// Where accounts go (chosen at start-up).
    crm: Arc<dyn CrmTarget>,
    clock: Arc<dyn Clock>,
    /// Names this process in leases.
    holder: String,
    progress: Option<Progress>,
}

/// Told how a long run is going: `(step, done, total)`, where step is "planned" (users
/// evaluated so far; total unknown) or "applied" (changes committed of all to apply).
pub type Progress = Arc<dyn Fn(&'static str, u64, Option<u64>) + Send + Sync>;

fn lease_name(tenant: &Tenant) -> String {
    format!("sync:{}", tenant.id)
}

impl Syncer {
    /// A syncer into the built-in CRM (accounts in the store's database).
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Syncer {
        let crm = Arc::new(BuiltinCrm::new(store.clone()));
        Syncer::with_crm(store, clock, crm)
    }

    /// A syncer into the given CRM target.
    pub fn with_crm(store: Store, clock: Arc<dyn Clock>, crm: Arc<dyn CrmTarget>) -> Syncer {
        Syncer {
            crm,
            store,
            clock,
            holder: uuid::Uuid::new_v4().to_string(),
            progress: None,
        }
    }

    /// Reports progress of company runs to `progress` (the CLI shows it on a terminal).
    pub fn with_progress(mut self, progress: Progress) -> Syncer {
        self.progress = Some(progress);
        self
    }

    fn report(&self, step: &'static str, done: u64, total: Option<u64>) {
        if let Some(progress) = &self.progress {
            progress(step, done, total);
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn crm(&self) -> &Arc<dyn CrmTarget> {
        &self.crm
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

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

    /// The rules a plan uses: a draft (not saved) when given, else the saved ones.
    async fn rules_for(
        &self,
        tenant: &Tenant,
        catalog: &Catalog,
        draft: Option<&RuleSource>,
    ) -> Result<RuleSet> {
        match draft {
            Some(source) => scimgate_rules::compile(source, catalog)
                .map_err(|problems| SyncError::Rules(scimgate_rules::problems_text(&problems))),
            None => self.saved_rules(tenant, catalog).await,
        }
    }

    /// The plan for the whole company, with the saved rules or a draft (not saved). A
    /// pure read.
    pub async fn preview(&self, tenant: &Tenant, draft: Option<&RuleSource>) -> Result<Plan> {
        let catalog = self.store.catalog(tenant).await?;
        let rules = self.rules_for(tenant, &catalog, draft).await?;
        let accounts = self.crm.accounts(tenant).await?;
        let guard = settings::load(&self.store, tenant).await?;
        let (plan, _) = company_plan(
            &self.store,
            |s, d, t| self.report(s, d, t),
            tenant,
            &rules,
            &catalog,
            &accounts,
            Some(&guard),
        )
        .await?;
        Ok(plan)
    }

    /// One user's plan item and the explanation of every value the rules set.
    pub async fn preview_user(
        &self,
        tenant: &Tenant,
        user_id: &str,
        draft: Option<&RuleSource>,
    ) -> Result<(PlanItem, scimgate_rules::Evaluation)> {
        let catalog = self.store.catalog(tenant).await?;
        let rules = self.rules_for(tenant, &catalog, draft).await?;
        let accounts = self.crm.accounts(tenant).await?;
        let (user, groups) = self
            .store
            .staged_user_with_groups(tenant, user_id)
            .await?
            .ok_or_else(|| SyncError::NotFound(format!("no staged user with id {user_id:?}")))?;
        let users = plan::PlanUsers::one(user, groups);
        let evaluation = rules.evaluate(&users.inputs[0]);
        let plan = plan::plan(
            &rules,
            &catalog,
            &users,
            &accounts,
            &Scope::User(user_id.to_owned()),
        );
        let item = plan
            .items
            .into_iter()
            .next()
            .ok_or_else(|| SyncError::Corrupt("a one-user plan without its user".into()))?;
        Ok((item, evaluation))
    }

    /// Syncs the whole company.
    pub async fn sync_company(&self, tenant: &Tenant, trigger: Trigger) -> Result<Outcome> {
        self.with_lease(tenant, |this| async move {
            this.run_company(tenant, trigger).await
        })
        .await
    }

    /// Syncs one staged user (by id); nobody else's account changes.
    pub async fn sync_user(&self, tenant: &Tenant, user_id: &str) -> Result<Outcome> {
        self.with_lease(tenant, |this| async move {
            this.run_user(tenant, user_id).await
        })
        .await
    }

    /// Runs `work` holding the tenant's sync lease, on a copy of this syncer that holds
    /// it under an owner id of its own: two runs started through one syncer (two admin
    /// requests) exclude each other like runs of two replicas do.
    async fn with_lease<F, Fut, T>(&self, tenant: &Tenant, work: F) -> Result<T>
    where
        F: FnOnce(Syncer) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let run = Syncer {
            holder: format!("{}/{}", self.holder, uuid::Uuid::new_v4()),
            ..self.clone()
        };
        let name = lease_name(tenant);
        if !lease::acquire(
            &self.store,
            &name,
            &run.holder,
            self.clock.now(),
            LEASE_TTL_MS,
        )
        .await?
        {
            return Err(SyncError::Busy);
        }
        let holder = run.holder.clone();
        // Renewed in the background too, so a long planning phase (no chunk committed
        // yet) does not outlive the lease; apply() checks it after every chunk.
        let renewer = {
            let (run, tenant) = (run.clone(), tenant.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(LEASE_TTL_MS as u64 / 4))
                        .await;
                    if run.renew(&tenant).await.is_err() {
                        return;
                    }
                }
            })
        };
        let result = work(run).await;
        renewer.abort();
        let released = lease::release(&self.store, &name, &holder).await;
        let value = result?;
        released?;
        Ok(value)
    }

    async fn renew(&self, tenant: &Tenant) -> Result<()> {
        if lease::acquire(
            &self.store,
            &lease_name(tenant),
            &self.holder,
            self.clock.now(),
            LEASE_TTL_MS,
        )
        .await?
        {
            Ok(())
        } else {
            Err(SyncError::Busy)
        }
    }

    fn stamp(&self) -> String {
        self.clock.now().to_rfc3339()
    }

    async fn begin(&self, tenant: &Tenant, trigger: Trigger) -> Result<i64> {
        let now = self.stamp();
        runs::fail_interrupted(&self.store, tenant, &now).await?;
        settings::ensure_row(&self.store, tenant).await?;
        runs::start(&self.store, tenant, trigger, &now).await
    }

    async fn run_company(&self, tenant: &Tenant, trigger: Trigger) -> Result<Outcome> {
        let run_id = self.begin(tenant, trigger).await?;
        let result = async {
            let catalog = self.store.catalog(tenant).await?;
            let rules = self.saved_rules(tenant, &catalog).await?;
            let accounts = self.crm.accounts(tenant).await?;
            let guard = settings::load(&self.store, tenant).await?;
            let (plan, change_seq) = company_plan(
                &self.store,
                |s, d, t| self.report(s, d, t),
                tenant,
                &rules,
                &catalog,
                &accounts,
                Some(&guard),
            )
            .await?;
            let hold = plan.deprovisions_held;
            let outcome = self.apply(tenant, run_id, &plan, &accounts, hold, true).await?;
            // Everything up to this change sequence has been synced: the on-change
            // trigger need not start another run for it.
            sqlx::query(
                "UPDATE sync_settings SET change_claimed_seq = $1 WHERE tenant_id = $2 AND change_claimed_seq < $1",
            )
            .bind(change_seq)
            .bind(tenant.id)
            .execute(self.store.pool())
            .await?;
            if hold {
                runs::supersede_held(&self.store, tenant, run_id).await?;
            }
            Ok(outcome)
        }
        .await;
        self.settle(tenant, run_id, true, result).await
    }

    async fn run_user(&self, tenant: &Tenant, user_id: &str) -> Result<Outcome> {
        // A mistyped id is the caller's mistake, not a failed run in the history.
        let staged = self
            .store
            .staged_user_with_groups(tenant, user_id)
            .await?
            .is_some();
        // Only a user no longer staged needs the (whole) account list to be looked up.
        let known = staged
            || self
                .crm
                .accounts(tenant)
                .await?
                .iter()
                .any(|a| a.staged_user_id.as_deref() == Some(user_id));
        if !known {
            return Err(SyncError::NotFound(format!(
                "no staged user or account with id {user_id:?}"
            )));
        }
        let run_id = self.begin(tenant, Trigger::ManualUser).await?;
        let result = async {
            let catalog = self.store.catalog(tenant).await?;
            let rules = self.saved_rules(tenant, &catalog).await?;
            let accounts = self.crm.accounts(tenant).await?;
            let plan = match self.store.staged_user_with_groups(tenant, user_id).await? {
                Some((user, groups)) => plan::plan(
                    &rules,
                    &catalog,
                    &plan::PlanUsers::one(user, groups),
                    &accounts,
                    &Scope::User(user_id.to_owned()),
                ),
                // Deleted in the IdP: deprovision the account it had, if any.
                None => deleted_user_plan(user_id, &accounts).ok_or_else(|| {
                    SyncError::NotFound(format!("no staged user with id {user_id:?}"))
                })?,
            };
            self.apply(tenant, run_id, &plan, &accounts, false, false)
                .await
        }
        .await;
        self.settle(tenant, run_id, false, result).await
    }

    /// Records a run that failed as failed (with the reason), and the `sync.failed`
    /// notification with it, before passing the error on.
    async fn settle(
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
                SyncError::Database(_)
                | SyncError::Store(_)
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
            let (events, ended) = report.events();
            let now = self.clock.now();
            let tenant_row = tenant.clone();
            let recorded = self
                .store
                .write_transaction(move |conn| {
                    Box::pin(async move {
                        // Keep whatever counts were recorded so far: only status and
                        // message change.
                        sqlx::query(
                            "UPDATE sync_runs SET status = 'failed', finished_at = $1, message = $2 WHERE id = $3",
                        )
                        .bind(now.to_rfc3339())
                        .bind(&why)
                        .bind(run_id)
                        .execute(&mut *conn)
                        .await?;
                        scimgate_notify::outbox::record(
                            conn,
                            &tenant_row,
                            &events,
                            &ended,
                            now.unix_millis(),
                            &now.to_rfc3339(),
                        )
                        .await?;
                        Ok::<_, SyncError>(())
                    })
                })
                .await;
            if let Err(record_error) = recorded {
                tracing::error!(run = run_id, error = %record_error, "could not record a failed run");
            }
        }
        result
    }

    /// What a finished run tells the notifier.
    fn run_report(
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
            .map(|i| (i.username.clone(), i.reason.clone().unwrap_or_default()))
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

    /// Applies a plan chunk by chunk (each chunk one transaction), recording each user's
    /// outcome. With `hold`, deprovisions are recorded as held and not applied.
    async fn apply(
        &self,
        tenant: &Tenant,
        run_id: i64,
        plan: &Plan,
        accounts: &[CrmAccount],
        hold: bool,
        company: bool,
    ) -> Result<Outcome> {
        let welcome = settings::welcome(&self.store, tenant).await?;
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
        let mut counts = Counts {
            totals: plan.totals.clone(),
            created: 0,
            updated: 0,
            deprovisioned: 0,
            errors: plan.totals.error,
            held: 0,
        };
        let mut records: Vec<RunUser> = plan
            .items
            .iter()
            .filter(|i| i.action == Action::Error)
            .map(|i| RunUser {
                user_id: i.user_id.clone(),
                username: i.username.clone(),
                outcome: "error".into(),
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
        for chunk in work.chunks(CHUNK) {
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
                                username: item.username.clone(),
                                outcome: "held".into(),
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
                            "created"
                        }
                        Action::Update => {
                            counts.updated += 1;
                            "updated"
                        }
                        _ => {
                            counts.deprovisioned += 1;
                            owed.remove(&pk);
                            "deprovisioned"
                        }
                    };
                    records.push(RunUser {
                        user_id: item.user_id.clone(),
                        username: item.username.clone(),
                        outcome: outcome.into(),
                        account: Some(pk),
                        error: item
                            .reason
                            .clone()
                            .filter(|_| item.action == Action::Deprovision),
                    });
                }
            }
            runs::record_users(&self.store, tenant, run_id, &records).await?;
            records.clear();
            runs::finish(
                self.store.pool(),
                run_id,
                RunStatus::Running,
                &counts,
                None,
                None,
            )
            .await?;
            self.renew(tenant).await?;
            done += chunk.len() as u64;
            self.report("applied", done, Some(total));
        }
        runs::record_users(&self.store, tenant, run_id, &records).await?;
        let status = if counts.held > 0 {
            RunStatus::Held
        } else {
            RunStatus::Completed
        };
        let message = (counts.held > 0).then(|| {
            format!(
                "held: this run would deprovision {} accounts, more than the guard allows; approve or reject it",
                counts.held
            )
        });
        // The run's outcome and the notifications it causes commit together.
        let report = self.run_report(tenant, run_id, plan, company, None, counts.held);
        let owed: Vec<NewAccount> = owed.into_values().collect();
        let (events, ended) = report.events();
        let now = self.clock.now();
        let tenant_row = tenant.clone();
        let final_counts = counts.clone();
        self.store
            .write_transaction(move |conn| {
                Box::pin(async move {
                    runs::finish(
                        &mut *conn,
                        run_id,
                        status,
                        &final_counts,
                        message.as_deref(),
                        Some(&now.to_rfc3339()),
                    )
                    .await?;
                    scimgate_notify::outbox::record(
                        conn,
                        &tenant_row,
                        &events,
                        &ended,
                        now.unix_millis(),
                        &now.to_rfc3339(),
                    )
                    .await?;
                    if let Some((_, sign_in_url)) = &welcome {
                        scimgate_notify::welcome::record_pending(
                            conn,
                            &tenant_row,
                            &owed,
                            sign_in_url,
                            now.unix_millis(),
                            &now.to_rfc3339(),
                        )
                        .await?;
                    }
                    Ok::<_, SyncError>(())
                })
            })
            .await?;
        Ok(Outcome {
            run_id,
            status,
            created: counts.created,
            updated: counts.updated,
            deprovisioned: counts.deprovisioned,
            unchanged: counts.totals.unchanged,
            errors: counts.errors,
            held: counts.held,
        })
    }

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
            let catalog = this.store.catalog(tenant).await?;
            let rules = this.saved_rules(tenant, &catalog).await?;
            let accounts = this.crm.accounts(tenant).await?;
            // Approved: no guard for this plan.
            let (fresh, _) = company_plan(
                &this.store,
                |s, d, t| this.report(s, d, t),
                tenant,
                &rules,
                &catalog,
                &accounts,
                None,
            )
            .await?;
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
                .apply(tenant, run.id, &plan, &accounts, false, false)
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

    /// Restart sync: the holding area is cleared (the IdP sends everything again); CRM
    /// accounts are kept, unlinked, and re-linked by externalId as users come back.
    pub async fn restart(&self, tenant: &Tenant) -> Result<u64> {
        self.with_lease(tenant, |this| async move {
            settings::ensure_row(&this.store, tenant).await?;
            // Accounts first, then the holding area: stopped in between, the staged users
            // are still there and the next sync re-links the accounts by externalId. The
            // other order would leave accounts linked to users that are gone, which the
            // next sync would deprovision.
            let unlinked = this.crm.unlink_all(tenant).await?;
            let (tenant_row, now) = (tenant.clone(), this.stamp());
            this.store
                .write_transaction(move |conn| {
                    Box::pin(async move {
                        Store::clear_staged_in(conn, &tenant_row).await?;
                        sqlx::query(
                            "UPDATE sync_settings SET restarted_at = $1 WHERE tenant_id = $2",
                        )
                        .bind(now)
                        .bind(tenant_row.id)
                        .execute(&mut *conn)
                        .await?;
                        Ok::<_, SyncError>(())
                    })
                })
                .await?;
            Ok(unlinked)
        })
        .await
    }
}

/// Users planned per chunk: large enough to keep both cores busy, small enough that a
/// chunk's documents are a few megabytes.
const PLAN_CHUNK: usize = 4_096;

/// The whole company's plan, reading the holding area chunk by chunk. Returns the plan
/// and the change sequence it reflects.
async fn company_plan(
    store: &Store,
    report: impl Fn(&'static str, u64, Option<u64>),
    tenant: &Tenant,
    rules: &RuleSet,
    catalog: &Catalog,
    accounts: &[CrmAccount],
    guard: Option<&settings::SyncSettings>,
) -> Result<(Plan, i64)> {
    let mut planner = plan::Planner::new(rules, catalog, accounts, Scope::Company);
    let mut planned = 0u64;
    let holding = store
        .scan_holding_area(tenant, PLAN_CHUNK, |holding, users| {
            planned += users.len() as u64;
            planner.add_staged(holding, users);
            report("planned", planned, None);
        })
        .await?;
    let plan = planner.finish_guarded(|deprovisions, active| {
        guard.is_some_and(|g| g.guard_trips(deprovisions, active))
    });
    Ok((plan, holding.change_seq))
}

/// A one-user plan for a user the IdP deleted: deprovision its active account.
fn deleted_user_plan(user_id: &str, accounts: &[CrmAccount]) -> Option<Plan> {
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

/// A welcome e-mail's addressee, if the account has an address.
fn new_account(account: &CrmAccount) -> Option<NewAccount> {
    new_account_of(account.pk, &account.fields)
}

fn new_account_of(pk: i64, fields: &scimgate_core::AccountFields) -> Option<NewAccount> {
    let email = fields.email.as_deref().filter(|e| !e.is_empty())?;
    Some(NewAccount {
        pk,
        username: fields.username.clone(),
        display_name: fields.display_name.clone(),
        email: email.to_owned(),
    })
}
