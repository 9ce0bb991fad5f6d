//! Running syncs: preview (a pure read), sync a user or the company under the tenant's
//! lease. The parts of a run live beside this file, each with one job: the plan's
//! inputs (`inputs`), the lease (`leased`), applying a plan (`apply`), recording a
//! run's end and failures (`report`), the decision on a held run (`decide`), restart.

mod apply;
mod decide;
mod inputs;
mod leased;
mod report;
mod restart;
mod stored_preview;

use crate::plan::{Plan, PlanItem};
use crate::{settings, Result, SyncError};
use scimgate_core::{Clock, RuleSource, Timestamp};
use scimgate_core::{RunStatus, Trigger};
use scimgate_crm::{BuiltinCrm, CrmTarget};
use scimgate_store::{Store, SyncClaim, Tenant};
use std::sync::Arc;
pub use stored_preview::{
    preview_row, PreviewSummary, Refresh, StoredPreview, INCREMENTAL_MAX_USERS,
};

/// A company sync running as a job (see [`Syncer::start_company`]).
#[derive(Debug)]
pub struct Job {
    pub run_id: i64,
    pub job: tokio::task::JoinHandle<Result<Outcome>>,
}

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
    /// Changes applied per transaction (and between two looks for a cancel request).
    apply_chunk: usize,
}

/// Told how a long run is going: `(step, done, total)`, where step is "planned" (users
/// evaluated so far; total unknown) or "applied" (changes committed of all to apply).
pub type Progress = Arc<dyn Fn(&'static str, u64, Option<u64>) + Send + Sync>;

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
            apply_chunk: apply::CHUNK,
        }
    }

    /// Applies `changes` changes per transaction instead of 1,000 (tests stop a run
    /// between two small chunks).
    pub fn with_apply_chunk(mut self, changes: usize) -> Syncer {
        self.apply_chunk = changes.max(1);
        self
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

    /// The plan for the whole company, with the saved rules or a draft (not saved). A
    /// pure read.
    pub async fn preview(&self, tenant: &Tenant, draft: Option<&RuleSource>) -> Result<Plan> {
        let inputs = self.inputs(tenant, draft).await?;
        let guard = settings::load(&self.store, tenant).await?;
        let (plan, _) = self.company_plan(tenant, &inputs, Some(&guard)).await?;
        Ok(plan)
    }

    /// One user's plan item and the explanation of every value the rules set.
    pub async fn preview_user(
        &self,
        tenant: &Tenant,
        user_id: &str,
        draft: Option<&RuleSource>,
    ) -> Result<(PlanItem, scimgate_rules::Evaluation)> {
        let (plan, users, inputs) = self
            .user_preview_plan(tenant, user_id, draft)
            .await?
            .ok_or_else(|| SyncError::NotFound(format!("no staged user with id {user_id:?}")))?;
        let evaluation = inputs.rules.evaluate(&users.inputs[0]);
        let item = plan
            .items
            .into_iter()
            .next()
            .ok_or_else(|| SyncError::Corrupt("a one-user plan without its user".into()))?;
        Ok((item, evaluation))
    }

    /// Syncs the whole company with the published rules.
    pub async fn sync_company(&self, tenant: &Tenant, trigger: Trigger) -> Result<Outcome> {
        self.sync_company_with(tenant, trigger, None).await
    }

    /// Syncs the whole company with `draft` rules (not published) when given, else the
    /// published ones. The run records which.
    pub async fn sync_company_with(
        &self,
        tenant: &Tenant,
        trigger: Trigger,
        draft: Option<&RuleSource>,
    ) -> Result<Outcome> {
        self.with_lease(tenant, |this| async move {
            this.run_company(tenant, trigger, draft, None).await
        })
        .await
    }

    /// Starts a company sync as a job and returns as soon as its run is recorded: the
    /// run's id (which any replica can read from then on), and the job, which goes on
    /// whether or not the caller waits for it. Refused like [`Syncer::sync_company_with`]
    /// (busy, no rules) before any run is recorded.
    pub async fn start_company(
        &self,
        tenant: &Tenant,
        trigger: Trigger,
        draft: Option<RuleSource>,
    ) -> Result<Job> {
        let (announce, announced) = tokio::sync::oneshot::channel();
        let (this, leased, tenant) = (self.clone(), tenant.clone(), tenant.clone());
        let job = tokio::spawn(async move {
            this.with_lease(&leased, move |run| async move {
                (run.run_company(&tenant, trigger, draft.as_ref(), Some(announce))).await
            })
            .await
        });
        match announced.await {
            Ok(run_id) => Ok(Job { run_id, job }),
            // The job ended before it recorded a run: its error says why.
            Err(_) => match job.await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(outcome)) => Ok(Job {
                    run_id: outcome.run_id,
                    job: tokio::spawn(async move { Ok(outcome) }),
                }),
                Err(e) => Err(SyncError::Corrupt(format!("the sync job stopped: {e}"))),
            },
        }
    }

    /// Syncs one staged user (by id) with the published rules; nobody else's account
    /// changes.
    pub async fn sync_user(&self, tenant: &Tenant, user_id: &str) -> Result<Outcome> {
        self.sync_user_with(tenant, user_id, None).await
    }

    /// [`Syncer::sync_user`] with `draft` rules when given.
    pub async fn sync_user_with(
        &self,
        tenant: &Tenant,
        user_id: &str,
        draft: Option<&RuleSource>,
    ) -> Result<Outcome> {
        self.with_lease(tenant, |this| async move {
            this.run_user(tenant, user_id, draft).await
        })
        .await
    }

    fn stamp(&self) -> String {
        self.clock.now().to_rfc3339()
    }

    async fn begin(&self, tenant: &Tenant, trigger: Trigger, draft: bool) -> Result<i64> {
        let now = self.stamp();
        self.store.fail_interrupted_runs(tenant, &now).await?;
        self.store.ensure_sync_settings(tenant).await?;
        let rules = if draft { "draft" } else { "published" };
        Ok(self.store.start_run(tenant, trigger, rules, &now).await?)
    }

    /// `announce` hears the run's id as soon as the run is recorded.
    async fn run_company(
        &self,
        tenant: &Tenant,
        trigger: Trigger,
        draft: Option<&RuleSource>,
        announce: Option<tokio::sync::oneshot::Sender<i64>>,
    ) -> Result<Outcome> {
        let run_id = self.begin(tenant, trigger, draft.is_some()).await?;
        if let Some(announce) = announce {
            // Nobody listening any more changes nothing: the run goes on.
            let _ = announce.send(run_id);
        }
        let result = async {
            let inputs = self.inputs(tenant, draft).await?;
            let guard = settings::load(&self.store, tenant).await?;
            let (plan, change_seq) = self.company_plan(tenant, &inputs, Some(&guard)).await?;
            let hold = plan.deprovisions_held;
            let outcome = self
                .apply(tenant, run_id, &plan, &inputs.accounts, hold, true)
                .await?;
            // Stopped half-way: the changes it saw are not synced yet.
            if outcome.status == RunStatus::Cancelled {
                return Ok(outcome);
            }
            // Everything up to this change sequence has been synced: the on-change
            // trigger need not start another run for it. Not with the draft: the
            // published rules have not seen these changes, and a draft run does not
            // replace a held run of the published rules.
            if draft.is_none() {
                self.store
                    .claim_sync(tenant, SyncClaim::Change, change_seq)
                    .await?;
                if hold {
                    self.store.supersede_held_runs(tenant, run_id).await?;
                }
            }
            Ok(outcome)
        }
        .await;
        self.settle(tenant, run_id, true, result).await
    }

    async fn run_user(
        &self,
        tenant: &Tenant,
        user_id: &str,
        draft: Option<&RuleSource>,
    ) -> Result<Outcome> {
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
                "no staged user (by id or userName) or account with id {user_id:?}"
            )));
        }
        let run_id = self
            .begin(tenant, Trigger::ManualUser, draft.is_some())
            .await?;
        let result = async {
            let inputs = self.inputs(tenant, draft).await?;
            let plan = match self.user_plan(tenant, user_id, &inputs).await? {
                Some((plan, _)) => plan,
                // Deleted in the IdP: deprovision the account it had, if any.
                None => inputs::deleted_user_plan(user_id, &inputs.accounts).ok_or_else(|| {
                    SyncError::NotFound(format!("no staged user with id {user_id:?}"))
                })?,
            };
            self.apply(tenant, run_id, &plan, &inputs.accounts, false, false)
                .await
        }
        .await;
        self.settle(tenant, run_id, false, result).await
    }
}
