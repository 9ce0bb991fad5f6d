//! Preview, sync (one user or the company), restart, the run history and the decision
//! on a held run, and the accounts the syncs made.

use crate::audit::json;
use crate::{App, AppError, Result, RuleSetRef};
use scimgate_core::AuditAction;
use scimgate_core::{CrmAccount, RuleSource, Tenant};
use scimgate_scheduler::{Outcome, Plan, PlanItem, Run, RunUser, Trigger};

impl App {
    /// The company's plan with the saved rules, or a draft (nothing is saved).
    pub async fn preview(&self, tenant: &Tenant, draft: Option<&RuleSource>) -> Result<Plan> {
        Ok(self.syncer.preview(tenant, draft).await?)
    }

    /// One staged user's plan item (by id or userName) and the explanation of every value.
    pub async fn preview_user(
        &self,
        tenant: &Tenant,
        id_or_name: &str,
        draft: Option<&RuleSource>,
    ) -> Result<(PlanItem, scimgate_rules::Evaluation)> {
        let id = self.staged_id(tenant, id_or_name).await?;
        Ok(self.syncer.preview_user(tenant, &id, draft).await?)
    }

    /// Syncs the whole company with the published rules.
    pub async fn sync_company(&self, tenant: &Tenant) -> Result<Outcome> {
        self.sync_company_with(tenant, RuleSetRef::Published).await
    }

    /// Syncs the whole company with the published rules or the draft. The draft is not
    /// published by this: automatic sync keeps using the published rules, so its next
    /// run undoes what the draft changed unless the draft is published first.
    pub async fn sync_company_with(&self, tenant: &Tenant, rules: RuleSetRef) -> Result<Outcome> {
        let draft = self.rules_to_sync(tenant, rules).await?;
        let outcome = (self.syncer)
            .sync_company_with(tenant, Trigger::ManualCompany, draft.as_ref())
            .await?;
        let subject = format!(
            "run {} ({}){}",
            outcome.run_id,
            outcome.status,
            with_draft(draft.is_some())
        );
        let after = json(&outcome);
        (self.audit(tenant, AuditAction::SyncCompany, subject, None, after)).await;
        Ok(outcome)
    }

    /// Starts a company sync as a job and returns its run's id as soon as the run is
    /// recorded (the run page, `GET …/runs/{id}` on any replica, follows it). Refused,
    /// recording nothing, while another run holds the tenant.
    pub async fn start_company_sync(&self, tenant: &Tenant, rules: RuleSetRef) -> Result<i64> {
        let draft = self.rules_to_sync(tenant, rules).await?;
        let with = with_draft(draft.is_some());
        let started = (self.syncer)
            .start_company(tenant, Trigger::ManualCompany, draft)
            .await?;
        let subject = format!("run {} started{with}", started.run_id);
        (self.audit(tenant, AuditAction::SyncCompany, subject, None, None)).await;
        Ok(started.run_id)
    }

    /// One user, by staged id or userName, with the published rules; nobody else's
    /// account changes. An id that is no longer staged (deleted in the IdP) deprovisions
    /// the account it had; a name that is neither is a NotFound, not a failed run in the
    /// history.
    pub async fn sync_user(&self, tenant: &Tenant, id_or_name: &str) -> Result<Outcome> {
        (self.sync_user_with(tenant, id_or_name, RuleSetRef::Published)).await
    }

    /// [`App::sync_user`] with the published rules or the draft (see
    /// [`App::sync_company_with`]).
    pub async fn sync_user_with(
        &self,
        tenant: &Tenant,
        id_or_name: &str,
        rules: RuleSetRef,
    ) -> Result<Outcome> {
        let draft = self.rules_to_sync(tenant, rules).await?;
        // Not staged: an id the IdP deleted may still name an account to deprovision;
        // the syncer checks that (a typo is NotFound, not a failed run in the history).
        let id = self
            .resolve_user(tenant, id_or_name)
            .await?
            .unwrap_or_else(|| id_or_name.to_owned());
        let outcome = (self.syncer)
            .sync_user_with(tenant, &id, draft.as_ref())
            .await?;
        let subject = format!(
            "user {id_or_name}: run {} ({}){}",
            outcome.run_id,
            outcome.status,
            with_draft(draft.is_some())
        );
        (self.audit(tenant, AuditAction::SyncUser, subject, None, json(&outcome))).await;
        Ok(outcome)
    }

    /// The draft's rules to sync with (`None`: the published ones).
    async fn rules_to_sync(
        &self,
        tenant: &Tenant,
        rules: RuleSetRef,
    ) -> Result<Option<RuleSource>> {
        match rules {
            RuleSetRef::Published => Ok(None),
            RuleSetRef::Draft => Ok(Some(self.rule_set_at(tenant, RuleSetRef::Draft).await?)),
            RuleSetRef::Version(n) => Err(AppError::Invalid(format!(
                "sync uses the published rules or the draft, not version {n}: restore it as the draft first"
            ))),
        }
    }

    /// Clears the holding area; accounts are kept, unlinked until the IdP sends their
    /// users again. Returns how many were unlinked.
    pub async fn restart(&self, tenant: &Tenant) -> Result<u64> {
        let unlinked = self.syncer.restart(tenant).await?;
        let subject = format!("holding area cleared, {unlinked} account(s) unlinked");
        (self.audit(tenant, AuditAction::SyncRestart, subject, None, None)).await;
        Ok(unlinked)
    }

    pub async fn runs(&self, tenant: &Tenant, limit: i64) -> Result<Vec<Run>> {
        Ok(self.store.runs(tenant, limit).await?)
    }

    /// One run, without what it did to each user (a page following a run asks often).
    pub async fn run_status(&self, tenant: &Tenant, id: i64) -> Result<Run> {
        (self.store.run(tenant, id).await?)
            .ok_or_else(|| AppError::NotFound(format!("no run {id}")))
    }

    /// The run each time it changes (looked at every `every`), until it has ended (the
    /// last item is then the run as it ended) or `lasting` has passed (a follower
    /// connects again: a server stopping waits for open streams, and a run left
    /// `running` by a process that died stays so until that tenant's next run). A run
    /// that does not exist (or not in this tenant) is one error item. What the run
    /// pages and `…/runs/{id}/events` stream.
    pub fn watch_run(
        &self,
        tenant: &Tenant,
        id: i64,
        (every, lasting): (std::time::Duration, std::time::Duration),
    ) -> impl futures_util::Stream<Item = Result<Run>> + Send + 'static {
        let until = tokio::time::Instant::now() + lasting;
        struct Watch {
            app: App,
            tenant: Tenant,
            id: i64,
            last: Option<Run>,
            done: bool,
        }
        let start = Watch {
            app: self.clone(),
            tenant: tenant.clone(),
            id,
            last: None,
            done: false,
        };
        futures_util::stream::unfold(start, move |mut watch| async move {
            if watch.done {
                return None;
            }
            loop {
                if watch.last.is_some() {
                    if tokio::time::Instant::now() + every > until {
                        return None;
                    }
                    tokio::time::sleep(every).await;
                }
                match watch.app.run_status(&watch.tenant, watch.id).await {
                    Err(e) => {
                        watch.done = true;
                        return Some((Err(e), watch));
                    }
                    Ok(run) => {
                        let ended = run.status != scimgate_core::RunStatus::Running;
                        if ended || watch.last.as_ref() != Some(&run) {
                            watch.done = ended;
                            watch.last = Some(run.clone());
                            return Some((Ok(run), watch));
                        }
                    }
                }
            }
        })
    }

    /// One run with what it did to each user.
    pub async fn run(&self, tenant: &Tenant, id: i64) -> Result<(Run, Vec<RunUser>)> {
        let run = self
            .store
            .run(tenant, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no run {id}")))?;
        let users = self.store.run_users(tenant, id).await?;
        Ok((run, users))
    }

    /// Asks a running run to stop at its next safe point (between two committed chunks);
    /// it ends `cancelled`, and the next run completes what it left. A run that is not
    /// running is a conflict; another tenant's, or none, is not found.
    pub async fn cancel_run(&self, tenant: &Tenant, id: i64) -> Result<()> {
        let (run, _) = self.run(tenant, id).await?;
        if !self.store.request_run_cancel(tenant, id).await? {
            return Err(AppError::Conflict(format!(
                "run {id} is {}: only a running run can be cancelled",
                run.status
            )));
        }
        let subject = format!("run {id}");
        (self.audit(tenant, AuditAction::RunCancel, subject, None, None)).await;
        Ok(())
    }

    /// Applies the deprovisions a held run held back (those still due).
    pub async fn approve_run(&self, tenant: &Tenant, id: i64) -> Result<Outcome> {
        let outcome = self.syncer.approve(tenant, id).await?;
        let subject = format!("held run {id}");
        (self.audit(
            tenant,
            AuditAction::RunApprove,
            subject,
            None,
            json(&outcome),
        ))
        .await;
        Ok(outcome)
    }

    /// Discards a held run's deprovisions.
    pub async fn reject_run(&self, tenant: &Tenant, id: i64) -> Result<()> {
        self.syncer.reject(tenant, id).await?;
        let subject = format!("held run {id}");
        (self.audit(tenant, AuditAction::RunReject, subject, None, None)).await;
        Ok(())
    }

    /// The tenant's accounts; `active` and `linked` (to a staged user) filter when given.
    pub async fn accounts(
        &self,
        tenant: &Tenant,
        active: Option<bool>,
        linked: Option<bool>,
    ) -> Result<Vec<CrmAccount>> {
        Ok(self
            .syncer
            .crm()
            .accounts(tenant)
            .await?
            .into_iter()
            .filter(|a| active.is_none_or(|want| a.fields.active == want))
            .filter(|a| linked.is_none_or(|want| a.staged_user_id.is_some() == want))
            .collect())
    }

    pub async fn account(&self, tenant: &Tenant, pk: i64) -> Result<CrmAccount> {
        self.syncer
            .crm()
            .account(tenant, pk)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("no account {pk}")))
    }
}

fn with_draft(draft: bool) -> &'static str {
    if draft {
        ", with the draft rules"
    } else {
        ""
    }
}
