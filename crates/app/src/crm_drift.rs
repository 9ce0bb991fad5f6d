//! Reconcile: a tenant's SCIM target read back and compared with its accounts (the crm
//! crate's `push::reconcile`), on demand or on a schedule, and the drifted accounts
//! pushed again when an admin asks.

use crate::{App, AppError, Result};
use scimgate_core::{AuditAction, DriftKind, DriftReport, Tenant};
use scimgate_crm::push;
use scimgate_store::crm_push::TargetKind;
use serde::{Deserialize, Serialize};

/// A scheduled reconcile's outcome, in counts (*Check for drift* lists the rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReconcile {
    pub at: String,
    pub edited: usize,
    pub missing: usize,
    pub extra: usize,
    /// Why it could not run (the target unreachable, a refused token).
    pub error: Option<String>,
}

impl LastReconcile {
    fn of(at: String, outcome: &Result<DriftReport>) -> LastReconcile {
        let count = |kind| match outcome {
            Ok(report) => report.drift.iter().filter(|d| d.kind == kind).count(),
            Err(_) => 0,
        };
        LastReconcile {
            at,
            edited: count(DriftKind::Edited),
            missing: count(DriftKind::Missing),
            extra: count(DriftKind::Extra),
            error: outcome.as_ref().err().map(ToString::to_string),
        }
    }
}

/// Which drifted accounts to push again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriftFix {
    All,
    Accounts(Vec<i64>),
}

impl App {
    /// Reconcile: the target's users read back and compared with the accounts (SCIM
    /// targets only). Reads the whole target: for on demand, not for every page view.
    pub async fn crm_drift(&self, tenant: &Tenant) -> Result<DriftReport> {
        let Some(target) = self.store.crm_target(tenant).await? else {
            return Err(AppError::NotFound("the tenant has no CRM target".into()));
        };
        let accounts = self.store.accounts(tenant).await?;
        let links = self.store.account_links(tenant).await?;
        let outbound = self.outbound()?;
        let key = self.server_key()?;
        let now = self.clock.now().unix_millis();
        match push::reconcile(&outbound, key, tenant, &target, &accounts, &links, now).await {
            Ok(report) => Ok(report),
            Err(failure) if target.kind == TargetKind::Webhook => {
                Err(AppError::Invalid(failure.message))
            }
            Err(failure) => Err(AppError::Target(failure.message)),
        }
    }

    /// Runs the scheduled reconciles that are due (each claimed, so two servers do not
    /// both run one) and records each outcome; returns how many ran.
    pub async fn reconcile_due(&self) -> Result<usize> {
        let due = self
            .store
            .claim_due_reconciles(self.clock.now().unix_millis())
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let tenants = self.store.tenants().await?;
        for tenant in tenants.iter().filter(|t| due.contains(&t.id)) {
            let outcome = self.crm_drift(tenant).await;
            if let Err(e) = &outcome {
                tracing::warn!(tenant = %tenant.name, error = %e, "scheduled reconcile failed");
            }
            let last = LastReconcile::of(self.now(), &outcome);
            let json = serde_json::to_string(&last).unwrap_or_default();
            self.store.record_reconcile(tenant, &json).await?;
        }
        Ok(due.len())
    }

    /// Queues a push of the drifted accounts `fix` names (edited or missing ones; extra
    /// users are not scimgate's to change), found by a fresh reconcile. Returns how many.
    pub async fn fix_crm_drift(&self, tenant: &Tenant, fix: DriftFix) -> Result<u64> {
        let report = self.crm_drift(tenant).await?;
        let drifted = (report.drift.iter())
            .filter(|d| d.kind != DriftKind::Extra)
            .filter_map(|d| d.account_pk);
        let pks: Vec<i64> = match &fix {
            DriftFix::All => drifted.collect(),
            DriftFix::Accounts(wanted) => drifted.filter(|pk| wanted.contains(pk)).collect(),
        };
        let queued = self.store.queue_pushes(tenant, &pks, &self.now()).await?;
        let subject = format!("{queued} drifted accounts queued for a push");
        (self.audit(tenant, AuditAction::TargetFix, subject, None, None)).await;
        Ok(queued)
    }
}
