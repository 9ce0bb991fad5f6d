//! Automatic sync: on each tenant's cron schedule and after SCIM writes settle. Every
//! replica ticks; a run starts only where a conditional UPDATE advances the tenant's
//! claim (the cron fire time, or the change sequence), so each tick runs once however
//! many replicas share the database. The clock is injected: tests drive `tick`.
//!
//! A tick reads every tenant with automatic sync on in one query and decides in memory
//! which are due; only a due tenant costs a claim. Due runs are jobs on a bounded pool of
//! workers, one run per tenant at a time: one tenant's long company sync does not hold up
//! another tenant's on-change sync, and the tick itself never waits for a run. A tick
//! claims only as many due tenants as it has free workers, so a claim is never left
//! waiting in a queue (another replica with a free worker takes the rest), and stopping
//! the process loses no claim that was not already running.

use crate::cron::Cron;
use crate::runs::Trigger;
use crate::{Result, Syncer};
use scimgate_core::Timestamp;
use scimgate_store::{AutoSyncTenant, Store, SyncClaim, Tenant};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// How far back a missed cron fire is still honoured (a replica that was down for a
/// while runs one catch-up sync, not one per missed fire).
const CRON_HORIZON_MINUTES: i64 = 24 * 60;

/// Runs at a time on one replica, by default: the database does the work of a run, and
/// two at a time keep both of a small machine's cores busy without starving SCIM.
pub const DEFAULT_WORKERS: usize = 2;

pub struct AutoSync {
    syncer: Syncer,
    /// Per tenant: the change sequence last seen and when it was first seen.
    seen: Mutex<HashMap<i64, (i64, Timestamp)>>,
    /// Tenants with a run in flight on this replica (not claimed again meanwhile).
    running: Arc<Mutex<HashSet<i64>>>,
    /// Tenants whose last claim found another run holding their lease, and when: they
    /// wait [`BUSY_PAUSE_MS`] before being claimed again, so that looking again as soon
    /// as a worker is free does not claim and give back the same tenant in a loop.
    busy: Arc<Mutex<HashMap<i64, Timestamp>>>,
    workers: Arc<Semaphore>,
    jobs: tokio::sync::Mutex<JoinSet<Option<Started>>>,
}

/// How long a tenant whose run found its lease held is left alone (one tick).
const BUSY_PAUSE_MS: i64 = 1_000;

/// What a run that automatic sync started was, for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub tenant: String,
    pub trigger: Trigger,
}

impl AutoSync {
    pub fn new(syncer: Syncer) -> AutoSync {
        AutoSync::with_workers(syncer, DEFAULT_WORKERS)
    }

    /// At most `workers` runs at a time on this replica.
    pub fn with_workers(syncer: Syncer, workers: usize) -> AutoSync {
        AutoSync {
            syncer,
            seen: Mutex::new(HashMap::new()),
            running: Arc::new(Mutex::new(HashSet::new())),
            busy: Arc::new(Mutex::new(HashMap::new())),
            workers: Arc::new(Semaphore::new(workers.max(1))),
            jobs: tokio::sync::Mutex::new(JoinSet::new()),
        }
    }

    /// Starts what is due (as many as there are workers) and waits until every run this
    /// replica has started finished; returns the runs (tests and one-shot callers;
    /// `serve` uses [`AutoSync::start_due`]).
    pub async fn tick(&self, now: Timestamp) -> Result<Vec<Started>> {
        self.start_due(now).await?;
        let mut jobs = self.jobs.lock().await;
        let mut started = Vec::new();
        while let Some(done) = jobs.join_next().await {
            started.extend(Self::outcome(done));
        }
        Ok(started)
    }

    /// Claims due ticks while a worker is free and starts their runs there; returns how
    /// many it started. It does not wait for the runs.
    pub async fn start_due(&self, now: Timestamp) -> Result<usize> {
        let store = self.syncer.store();
        let mut queued = 0;
        for candidate in store.auto_sync_tenants().await? {
            if self.is_running(candidate.tenant.id) || self.pausing(candidate.tenant.id, now) {
                continue;
            }
            // A worker first: a claim is taken only when its run can start at once.
            let Ok(worker) = Arc::clone(&self.workers).try_acquire_owned() else {
                // Every worker is busy: the next tick (or another replica) claims the rest.
                // The change sequence seen is still noted, for the quiet time.
                self.note_seen(&candidate, now);
                continue;
            };
            // One tenant's trouble (its database rows) must not stop the others'.
            match self.due(store, &candidate, now).await {
                Ok(Some(claim)) => {
                    self.spawn(candidate.tenant, claim, worker).await;
                    queued += 1;
                }
                Ok(None) => {}
                Err(e) => {
                    let tenant = &candidate.tenant.name;
                    tracing::warn!(%tenant, error = %e, "automatic sync check failed");
                }
            }
        }
        Ok(queued)
    }

    /// Waits until a worker is free, at most `within`; returns whether one is. `serve`
    /// then looks for due tenants again at once: a backlog (a hundred tenants changed
    /// together) is worked through as fast as the workers go, not a tick per worker.
    pub async fn worker_freed(&self, within: std::time::Duration) -> bool {
        matches!(
            tokio::time::timeout(within, self.workers.acquire()).await,
            Ok(Ok(_))
        )
    }

    /// Waits until the runs in flight have finished, at most `deadline` (a stopping
    /// `serve`: it claims nothing more meanwhile). Returns whether all finished.
    pub async fn drain(&self, deadline: std::time::Duration) -> bool {
        let mut jobs = self.jobs.lock().await;
        let all = async { while jobs.join_next().await.is_some() {} };
        tokio::time::timeout(deadline, all).await.is_ok()
    }

    /// The runs that finished since the last look, without waiting.
    pub async fn finished(&self) -> Vec<Started> {
        let mut jobs = self.jobs.lock().await;
        let mut done = Vec::new();
        while let Some(result) = jobs.try_join_next() {
            done.extend(Self::outcome(result));
        }
        done
    }

    fn outcome(
        joined: std::result::Result<Option<Started>, tokio::task::JoinError>,
    ) -> Option<Started> {
        match joined {
            Ok(started) => started,
            Err(e) => {
                tracing::error!(error = %e, "an automatic sync job stopped abnormally");
                None
            }
        }
    }

    /// Whether the tenant's last run found its lease held less than a pause ago.
    fn pausing(&self, tenant: i64, now: Timestamp) -> bool {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        match busy.get(&tenant) {
            Some(at) if now.unix_millis() - at.unix_millis() < BUSY_PAUSE_MS => true,
            Some(_) => {
                busy.remove(&tenant);
                false
            }
            None => false,
        }
    }

    fn is_running(&self, tenant: i64) -> bool {
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.contains(&tenant)
    }

    /// Runs the claimed tick on `worker`, and gives the claim back if another run
    /// (manual, or another replica's) holds the tenant's lease.
    async fn spawn(&self, tenant: Tenant, claim: Claim, worker: OwnedSemaphorePermit) {
        let in_flight = InFlight::mark(&self.running, tenant.id);
        let syncer = self.syncer.clone();
        let busy = Arc::clone(&self.busy);
        let job = async move {
            // Both are let go when the job ends, even by a panic.
            let (_worker, _in_flight) = (worker, in_flight);
            let started = run(&syncer, &tenant, &claim).await;
            if started.is_none() {
                let mut busy = busy.lock().unwrap_or_else(|p| p.into_inner());
                busy.insert(tenant.id, syncer.now());
            }
            started
        };
        self.jobs.lock().await.spawn(job);
    }

    /// Notes the change sequence a tenant is at (for the quiet time) without claiming.
    fn note_seen(&self, candidate: &AutoSyncTenant, now: Timestamp) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let entry = seen
            .entry(candidate.tenant.id)
            .or_insert((candidate.change_seq, now));
        if entry.0 != candidate.change_seq {
            *entry = (candidate.change_seq, now);
        }
    }

    /// Claims a due tick for this replica, if there is one. Decided in memory from the
    /// tenant's row; the database is asked only to claim.
    async fn due(
        &self,
        store: &Store,
        candidate: &AutoSyncTenant,
        now: Timestamp,
    ) -> Result<Option<Claim>> {
        let tenant = &candidate.tenant;
        // Saved schedules are checked when saved; one that no longer parses (a database
        // edited by hand, a grammar change) is said, not skipped in silence. Changes
        // still trigger syncs meanwhile.
        let cron = Cron::parse(&candidate.schedule)
            .inspect_err(|e| {
                tracing::error!(tenant = %tenant.name, schedule = %candidate.schedule, error = %e,
                    "the saved sync schedule does not parse; scheduled syncs are off until it is saved again");
            })
            .ok();
        let fire = cron.and_then(|c| c.latest_fire(now, CRON_HORIZON_MINUTES));
        if let Some(fire) = fire.filter(|f| f.unix_millis() > candidate.cron_claimed_at) {
            if store
                .claim_sync(tenant, SyncClaim::Cron, fire.unix_millis())
                .await?
            {
                return Ok(Some(Claim {
                    trigger: Trigger::Schedule,
                    kind: SyncClaim::Cron,
                    before: candidate.cron_claimed_at,
                    claimed: fire.unix_millis(),
                }));
            }
        }
        let seq = candidate.change_seq;
        self.note_seen(candidate, now);
        let since = {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.get(&tenant.id).map_or(now, |(_, since)| *since)
        };
        if seq <= candidate.change_claimed_seq {
            return Ok(None);
        }
        let quiet_ms = now.unix_millis() - since.unix_millis();
        if quiet_ms < candidate.debounce_seconds * 1000 {
            return Ok(None);
        }
        let claimed = store.claim_sync(tenant, SyncClaim::Change, seq).await?;
        Ok(claimed.then_some(Claim {
            trigger: Trigger::Change,
            kind: SyncClaim::Change,
            before: candidate.change_claimed_seq,
            claimed: seq,
        }))
    }
}

/// Runs one claimed tick; `None` when another run held the tenant (the claim is given
/// back, so the next look runs it instead of losing it).
async fn run(syncer: &Syncer, tenant: &Tenant, claim: &Claim) -> Option<Started> {
    let store = syncer.store();
    match syncer.sync_company(tenant, claim.trigger).await {
        Ok(_) => {}
        Err(crate::SyncError::Busy) => {
            if let Err(e) = claim.release(store, tenant).await {
                tracing::warn!(tenant = %tenant.name, error = %e, "an automatic sync claim could not be given back");
            }
            return None;
        }
        Err(e) => {
            // Recorded as a failed run. The claim is spent: the next schedule fire or
            // SCIM change tries again (retrying every tick would fill the history
            // while, say, the saved rules do not compile).
            tracing::warn!(tenant = %tenant.name, error = %e, "automatic sync failed");
        }
    }
    Some(Started {
        tenant: tenant.name.to_string(),
        trigger: claim.trigger,
    })
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
    async fn release(&self, store: &Store, tenant: &Tenant) -> Result<()> {
        Ok(store
            .release_sync_claim(tenant, self.kind, self.before, self.claimed)
            .await?)
    }
}

/// A tenant marked as having a run in flight on this replica, unmarked when dropped
/// (the job ended, however it ended: a panicking run must not keep its tenant out of
/// automatic sync for the life of the process).
struct InFlight {
    running: Arc<Mutex<HashSet<i64>>>,
    tenant: i64,
}

impl InFlight {
    fn mark(running: &Arc<Mutex<HashSet<i64>>>, tenant: i64) -> InFlight {
        let set = Arc::clone(running);
        set.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant);
        InFlight {
            running: set,
            tenant,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.remove(&self.tenant);
    }
}
