//! A company sync started as a job, on both databases: its run is recorded (and visible
//! to another replica) before the job finishes, a second start is refused while it runs,
//! and the job completes the run.

use crate::fixture::{Fixture, GatedCrm};
use scimgate_core::{RunStatus, SystemClock};
use scimgate_scheduler::{SyncError, Syncer, Trigger};
use scimgate_testkit::{on_both_backends, DbBackend};
use std::sync::Arc;

on_both_backends!(a_company_sync_started_as_a_job_is_seen_by_another_replica);

async fn a_company_sync_started_as_a_job_is_seen_by_another_replica(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let tenant = f.tenant();
    f.user("ann@acme.no", "e-ann", "Ops").await;
    let store = f.server.store.clone();
    let (crm, gate) = GatedCrm::closed(&store, tenant);
    let syncer = Syncer::with_crm(store.clone(), Arc::new(SystemClock), crm);
    let started = syncer
        .start_company(tenant, Trigger::ManualCompany, None)
        .await
        .unwrap();
    // Another replica (its own store on the same database) reads the run at once.
    let replica = f.server.db.store().await;
    let run = replica.run(tenant, started.run_id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Running);
    // While it runs, a second start is refused and records nothing.
    let busy = syncer
        .start_company(tenant, Trigger::ManualCompany, None)
        .await
        .unwrap_err();
    assert!(matches!(busy, SyncError::Busy), "{busy:?}");
    assert_eq!(replica.runs(tenant, 10).await.unwrap().len(), 1);
    gate.add_permits(1_000);
    let outcome = started.job.await.unwrap().unwrap();
    assert_eq!((outcome.run_id, outcome.created), (started.run_id, 1));
    let run = replica.run(tenant, started.run_id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Completed);
    assert_eq!(f.accounts().await.len(), 1);
}
