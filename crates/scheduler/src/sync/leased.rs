//! The tenant's sync lease: one run at a time per tenant, across replicas.

use super::Syncer;
use crate::{Result, SyncError};
use scimgate_store::Tenant;

/// How long a run's lease lasts without renewal; renewed after every chunk, so only a
/// stopped process lets it run out.
const LEASE_TTL_MS: i64 = 120_000;

fn lease_name(tenant: &Tenant) -> String {
    format!("sync:{}", tenant.id)
}

impl Syncer {
    /// Runs `work` holding the tenant's sync lease, on a copy of this syncer that holds
    /// it under an owner id of its own: two runs started through one syncer (two admin
    /// requests) exclude each other like runs of two replicas do.
    pub(super) async fn with_lease<F, Fut, T>(&self, tenant: &Tenant, work: F) -> Result<T>
    where
        F: FnOnce(Syncer) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let run = Syncer {
            holder: format!("{}/{}", self.holder, uuid::Uuid::new_v4()),
            ..self.clone()
        };
        let name = lease_name(tenant);
        if !self
            .store
            .acquire_lease(&name, &run.holder, self.clock.now(), LEASE_TTL_MS)
            .await?
        {
            return Err(SyncError::Busy);
        }
        let holder = run.holder.clone();
        // Renewed in the background too, so a long planning phase (no chunk committed
        // yet) does not outlive the lease; apply() checks it after every chunk.
        let renewer = {
            let (run, tenant) = (run.clone(), tenant.clone());
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_millis(LEASE_TTL_MS as u64 / 4))
                        .await;
                    if run.renew(&tenant).await.is_err() {
                        return;
                    }
                }
            }))
        };
        let result = work(run).await;
        drop(renewer);
        let released = self.store.release_lease(&name, &holder).await;
        let value = result?;
        released?;
        Ok(value)
    }

    pub(super) async fn renew(&self, tenant: &Tenant) -> Result<()> {
        if self
            .store
            .acquire_lease(
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
}

/// A background task stopped when this is dropped: the lease's renewer ends with the
/// run even when the run panics, so a dead run's lease runs out instead of being
/// renewed for the life of the process.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
