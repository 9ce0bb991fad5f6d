//! Automatic sync: on each tenant's cron schedule and after SCIM writes settle. Every
//! replica ticks; a run starts only where a conditional UPDATE advances the tenant's
//! claim (the cron fire time, or the change sequence), so each tick runs once however
//! many replicas share the database. The clock is injected: tests drive `tick`.

use crate::cron::Cron;
use crate::runs::Trigger;
use crate::{settings, Result, Syncer};
use scimgate_core::Timestamp;
use scimgate_store::SyncClaim;
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
        store.ensure_sync_settings(tenant).await?;
        let (cron_before, change_before) = store.sync_claims(tenant).await?;
        // Saved schedules are checked when saved; one that no longer parses (a database
        // edited by hand, a grammar change) is said, not skipped in silence. Changes
        // still trigger syncs meanwhile.
        let cron = Cron::parse(&config.schedule)
            .inspect_err(|e| {
                tracing::error!(tenant = %tenant.name, schedule = %config.schedule, error = %e,
                    "the saved sync schedule does not parse; scheduled syncs are off until it is saved again");
            })
            .ok();
        if let Some(cron) = cron {
            if let Some(fire) = cron.latest_fire(now, CRON_HORIZON_MINUTES) {
                if store
                    .claim_sync(tenant, SyncClaim::Cron, fire.unix_millis())
                    .await?
                {
                    return Ok(Some(Claim {
                        trigger: Trigger::Schedule,
                        kind: SyncClaim::Cron,
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
        let claimed = store.claim_sync(tenant, SyncClaim::Change, seq).await?;
        Ok(claimed.then_some(Claim {
            trigger: Trigger::Change,
            kind: SyncClaim::Change,
            before: change_before,
            claimed: seq,
        }))
    }
}

/// A tick this replica claimed: which trigger, and how to give it back.
struct Claim {
    trigger: Trigger,
    kind: SyncClaim,
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
        Ok(store
            .release_sync_claim(tenant, self.kind, self.before, self.claimed)
            .await?)
    }
}
