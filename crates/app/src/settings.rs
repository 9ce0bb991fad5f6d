//! The tenant's sync settings: automatic sync, schedule, debounce, guard, welcome e-mail.

use crate::audit::json;
use crate::{App, AppError, Result};
use scimgate_core::AuditAction;
use scimgate_core::Tenant;
use scimgate_scheduler::cron::Cron;
use scimgate_scheduler::{settings, SyncSettings};
use scimgate_store::{Expect, Versioned};

impl App {
    pub async fn settings(&self, tenant: &Tenant) -> Result<Versioned<SyncSettings>> {
        Ok(settings::load_versioned(&self.store, tenant).await?)
    }

    /// Replaces the settings; a bad schedule, guard or address is refused.
    pub async fn save_settings(
        &self,
        tenant: &Tenant,
        expect: Expect,
        new: &SyncSettings,
    ) -> Result<Versioned<SyncSettings>> {
        let before = self.settings(tenant).await?;
        settings::save(&self.store, tenant, new, expect, &self.now()).await?;
        let after = self.settings(tenant).await?;
        let subject = format!("sync settings, version {}", after.version);
        let (before_json, after_json) = (json(&before.value), json(&after.value));
        (self.audit(
            tenant,
            AuditAction::SettingsSave,
            subject,
            before_json,
            after_json,
        ))
        .await;
        Ok(after)
    }
}

/// A schedule as an admin reads it: in words, and its next fire times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleReading {
    pub words: String,
    /// RFC 3339, UTC.
    pub next: Vec<String>,
}

impl App {
    /// `schedule` in words and its next three fire times, or why it is not a schedule.
    pub fn read_schedule(&self, schedule: &str) -> Result<ScheduleReading> {
        let cron = Cron::parse(schedule).map_err(AppError::Invalid)?;
        let next = cron.next_fires(self.clock.now(), 3);
        Ok(ScheduleReading {
            words: cron.describe(),
            next: next.into_iter().map(|t| t.to_rfc3339()).collect(),
        })
    }
}

impl App {
    /// How many accounts the next company sync would create with an e-mail address: with
    /// welcome e-mails on, each of them gets one. (A run that stopped before queuing its
    /// welcomes leaves a few more owed; the next run sends those too, and they are not
    /// counted here.) Counted in the stored preview of the published rules.
    pub async fn welcome_forecast(&self, tenant: &Tenant) -> Result<u64> {
        let rules = scimgate_store::PreviewRules::Published;
        let preview = (self.stored_preview(tenant, rules).await?)
            .ok_or_else(|| AppError::NotFound("nothing is published yet".into()))?;
        if let Some(problem) = crate::preview_page::problem(&preview) {
            return Err(problem);
        }
        self.welcome_count(tenant, preview.state.generation).await
    }
}
