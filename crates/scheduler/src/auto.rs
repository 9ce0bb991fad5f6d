//! Automatic sync: on each tenant's cron schedule and after SCIM writes settle. Every
//! replica ticks; a run starts only where a conditional UPDATE advances the tenant's
//! claim (the cron fire time, or the change sequence), so each tick runs once however
//! many replicas share the database. The clock is injected: tests drive `tick`.

use crate::cron::Cron;
use crate::runs::Trigger;
use crate::{settings, Result, Syncer};
use scimgate_core::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;

/// How far back a missed cron fire is still honoured (a replica that was down for a
/// while runs one catch-up sync, not one per missed fire).
const CRON_HORIZON_MINUTES: i64 = 24 * 60;

pub struct AutoSync {
    syncer: Syncer,
    /// Per tenant: the change sequence last seen and when it was first seen.
    seen: Mutex<HashMap<i64, (i64, Timestamp)>>,
}

/// What one tick started, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub tenant: String,
    pub trigger: Trigger,
}

impl AutoSync {
    pub fn new(syncer: Syncer) -> AutoSync {
        AutoSync {
            syncer,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Looks at every tenant with automatic sync on and runs what is due, one tenant
    /// after another. Returns the runs it started (and finished).
    pub async fn tick(&self, now: Timestamp) -> Result<Vec<Started>> {
        let store = self.syncer.store();
        let mut started = Vec::new();
        for tenant in store.tenants().await? {
            let config = settings::load(store, &tenant).await?;
            if !config.user_sync_active {
                continue;
            }
            let trigger = match self.due(&tenant, &config, now).await? {
                Some(t) => t,
                None => continue,
            };
            match self.syncer.sync_company(&tenant, trigger).await {
                Ok(_) => {}
                Err(crate::SyncError::Busy) => continue,
                Err(e) => {
                    // Recorded as a failed run. The claim is spent: the next schedule
                    // fire or SCIM change tries again (retrying every tick would fill
                    // the history while, say, the saved rules do not compile).
                    tracing::warn!(tenant = %tenant.name, error = %e, "automatic sync failed");
                }
            }
            started.push(Started {
                tenant: tenant.name.to_string(),
                trigger,
            });
        }
        Ok(started)
    }

    /// Claims a due tick for this replica, if there is one.
    async fn due(
        &self,
        tenant: &scimgate_store::Tenant,
        config: &settings::SyncSettings,
        now: Timestamp,
    ) -> Result<Option<Trigger>> {
        let store = self.syncer.store();
        settings::ensure_row(store, tenant).await?;
        if let Ok(cron) = Cron::parse(&config.schedule) {
            if let Some(fire) = cron.latest_fire(now, CRON_HORIZON_MINUTES) {
                let claimed = sqlx::query(
                    "UPDATE sync_settings SET cron_claimed_at = $1 WHERE tenant_id = $2 AND cron_claimed_at < $1",
                )
                .bind(fire.unix_millis())
                .bind(tenant.id)
                .execute(store.pool())
                .await?
                .rows_affected();
                if claimed == 1 {
                    return Ok(Some(Trigger::Schedule));
                }
            }
        }
        let seq = store.change_seq(tenant).await?;
        let since = {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let entry = seen.entry(tenant.id).or_insert((seq, now));
            if entry.0 != seq {
                *entry = (seq, now);
            }
            entry.1
        };
        let quiet_ms = now.unix_millis() - since.unix_millis();
        if quiet_ms < i64::from(config.debounce_seconds) * 1000 {
            return Ok(None);
        }
        let claimed = sqlx::query(
            "UPDATE sync_settings SET change_claimed_seq = $1 WHERE tenant_id = $2 AND change_claimed_seq < $1",
        )
        .bind(seq)
        .bind(tenant.id)
        .execute(store.pool())
        .await?
        .rows_affected();
        Ok((claimed == 1).then_some(Trigger::Change))
    }
}
