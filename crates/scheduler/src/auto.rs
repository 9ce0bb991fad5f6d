//! Automatic sync: on each tenant's cron schedule and after SCIM writes settle. Every
//! replica ticks; a run starts only where a conditional UPDATE advances the tenant's
//! claim (the cron fire time, or the change sequence), so each tick runs once however
//! many replicas share the database. The clock is injected: tests drive `tick`.

use crate::cron::Cron;
use crate::runs::Trigger;
use crate::{settings, Result, Syncer};
use scimgate_core::Timestamp;
use sqlx::Row;
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
            // One tenant's trouble (its database rows, its rules) must not stop the
            // others' automatic sync.
            match self.tick_tenant(&tenant, now).await {
                Ok(Some(trigger)) => started.push(Started {
                    tenant: tenant.name.to_string(),
                    trigger,
                }),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(tenant = %tenant.name, error = %e, "automatic sync check failed")
                }
            }
        }
        Ok(started)
    }

    async fn tick_tenant(
        &self,
        tenant: &scimgate_store::Tenant,
        now: Timestamp,
    ) -> Result<Option<Trigger>> {
        let store = self.syncer.store();
        let config = settings::load(store, tenant).await?;
        if !config.user_sync_active {
            return Ok(None);
        }
        let Some(claim) = self.due(tenant, &config, now).await? else {
            return Ok(None);
        };
        match self.syncer.sync_company(tenant, claim.trigger).await {
            Ok(_) => {}
            Err(crate::SyncError::Busy) => {
                // Another run (manual, or another replica's) is on: give the tick back
                // so the next look runs it, instead of losing it.
                claim.release(store, tenant).await?;
                return Ok(None);
            }
            Err(e) => {
                // Recorded as a failed run. The claim is spent: the next schedule fire or
                // SCIM change tries again (retrying every tick would fill the history
                // while, say, the saved rules do not compile).
                tracing::warn!(tenant = %tenant.name, error = %e, "automatic sync failed");
            }
        }
        Ok(Some(claim.trigger))
    }

    /// Claims a due tick for this replica, if there is one.
    async fn due(
        &self,
        tenant: &scimgate_store::Tenant,
        config: &settings::SyncSettings,
        now: Timestamp,
    ) -> Result<Option<Claim>> {
        let store = self.syncer.store();
        settings::ensure_row(store, tenant).await?;
        let row = sqlx::query(
            "SELECT cron_claimed_at, change_claimed_seq FROM sync_settings WHERE tenant_id = $1",
        )
        .bind(tenant.id)
        .fetch_one(store.pool())
        .await?;
        let (cron_before, change_before): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
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
                    return Ok(Some(Claim {
                        trigger: Trigger::Schedule,
                        column: "cron_claimed_at",
                        before: cron_before,
                        claimed: fire.unix_millis(),
                    }));
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
        Ok((claimed == 1).then_some(Claim {
            trigger: Trigger::Change,
            column: "change_claimed_seq",
            before: change_before,
            claimed: seq,
        }))
    }
}

/// A tick this replica claimed: which trigger, and how to give it back.
struct Claim {
    trigger: Trigger,
    column: &'static str,
    before: i64,
    claimed: i64,
}

impl Claim {
    /// Undoes the claim, unless another replica has claimed a later tick since.
    async fn release(
        &self,
        store: &scimgate_store::Store,
        tenant: &scimgate_store::Tenant,
    ) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE sync_settings SET {col} = $1 WHERE tenant_id = $2 AND {col} = $3",
            col = self.column
        ))
        .bind(self.before)
        .bind(tenant.id)
        .bind(self.claimed)
        .execute(store.pool())
        .await?;
        Ok(())
    }
}
