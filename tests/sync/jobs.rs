//! A company sync started as a job, on both databases: its run is recorded (and visible
//! to another replica) before the job finishes, a second start is refused while it runs,
//! and the job completes the run.

use crate::fixture::{Fixture, GatedCrm};
use scimgate_core::{RunStatus, SystemClock};
use scimgate_scheduler::{SyncError, Syncer, Trigger};
use scimgate_testkit::{on_both_backends, DbBackend};
use std::sync::Arc;

on_both_backends!(
    a_company_sync_started_as_a_job_is_seen_by_another_replica,
    a_cancelled_run_is_completed_by_the_next_without_duplicates,
    a_sync_beside_scim_writes_commits_small_chunks,
);

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

/// The changes a company sync committed, as its progress reports them after each chunk.
async fn applied_steps(syncer: Syncer, tenant: &scimgate_store::Tenant) -> Vec<u64> {
    let steps = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = steps.clone();
    let syncer = syncer.with_progress(Arc::new(move |step, done, _| {
        if step == "applied" {
            seen.lock().unwrap().push(done);
        }
    }));
    syncer
        .sync_company(tenant, Trigger::ManualCompany)
        .await
        .unwrap();
    let steps = steps.lock().unwrap().clone();
    steps
}

/// While the IdP is writing, a company sync commits 250 changes at a time, so that a SCIM
/// write waits for a short transaction (SQLite's one write lock) or a short WAL flush
/// (PostgreSQL), not for 5,000 changes; with no SCIM writes in the last second it commits
/// whole chunks.
async fn a_sync_beside_scim_writes_commits_small_chunks(backend: DbBackend) {
    let catalog = crate::fixture::CATALOG.replace("seats: 4", "seats: 1000");
    let Some(f) = Fixture::with(backend, &catalog, crate::fixture::RULES).await else {
        return;
    };
    let tenant = f.tenant();
    let mut ids = Vec::new();
    for n in 0..300 {
        ids.push(
            f.user(&format!("u{n}@acme.no"), &format!("e-u{n}"), "Ops")
                .await,
        );
    }
    let store = f.server.store.clone();
    let syncer = Syncer::new(store.clone(), Arc::new(SystemClock));
    let synced = std::sync::atomic::AtomicBool::new(false);
    let sync = async {
        let steps = applied_steps(syncer.clone(), tenant).await;
        synced.store(true, std::sync::atomic::Ordering::Relaxed);
        steps
    };
    // Entra keeps PATCHing (the same department: the run's plan is not affected).
    let ingest = async {
        let mut n = 0;
        while !synced.load(std::sync::atomic::Ordering::Relaxed) {
            f.set_department(&ids[n % ids.len()], "Ops").await;
            n += 1;
        }
    };
    let (steps, ()) = tokio::join!(sync, ingest);
    assert_eq!(steps, vec![250, 300]);
    // Quiet for over a second: whole chunks again.
    for id in ids.iter().take(30) {
        f.set_active(id, false).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(applied_steps(syncer, tenant).await, vec![30]);
}

/// An admin cancels a run half-way: it stops at the next chunk boundary as `cancelled`
/// with what it did; the next run does the rest, creating no account twice.
async fn a_cancelled_run_is_completed_by_the_next_without_duplicates(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let tenant = f.tenant();
    for n in 0..3 {
        f.user(&format!("u{n}@acme.no"), &format!("e-u{n}"), "Ops")
            .await;
    }
    let store = f.server.store.clone();
    // One change per chunk; the second chunk waits at the gate.
    let (crm, gate) = GatedCrm::closed_after(&store, tenant, 1);
    let syncer =
        Syncer::with_crm(store.clone(), Arc::new(SystemClock), crm.clone()).with_apply_chunk(1);
    let started = syncer
        .start_company(tenant, Trigger::ManualCompany, None)
        .await
        .unwrap();
    // The first chunk is committed and the second waits at the gate: cancel now.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while crm.waiting() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second chunk never came"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(f.accounts().await.len(), 1);
    let app = f.app();
    app.cancel_run(tenant, started.run_id).await.unwrap();
    gate.add_permits(1_000);
    let outcome = started.job.await.unwrap().unwrap();
    assert_eq!((outcome.status, outcome.created), (RunStatus::Cancelled, 2));
    let (run, users) = app.run(tenant, started.run_id).await.unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert!(
        run.message
            .as_deref()
            .unwrap()
            .contains("after 2 of 3 changes"),
        "{run:?}"
    );
    assert_eq!(users.len(), 2, "the users it created are recorded");
    // Ended: a second cancel is a conflict; another run's id is not found.
    let again = app.cancel_run(tenant, started.run_id).await.unwrap_err();
    assert!(
        matches!(again, scimgate_app::AppError::Conflict(_)),
        "{again:?}"
    );
    let none = app.cancel_run(tenant, 999_999).await.unwrap_err();
    assert!(
        matches!(none, scimgate_app::AppError::NotFound(_)),
        "{none:?}"
    );
    // The next run completes it: one more account, none twice.
    let next = app.sync_company(tenant).await.unwrap();
    assert_eq!((next.created, next.updated), (1, 0));
    let accounts = f.accounts().await;
    assert_eq!(accounts.len(), 3);
    let mut linked: Vec<_> = accounts.iter().map(|a| a.staged_user_id.clone()).collect();
    linked.sort();
    linked.dedup();
    assert_eq!(linked.len(), 3, "one account per staged user");
    let log = app
        .audit_log(
            tenant,
            &scimgate_app::AuditFilter {
                area: "run".into(),
                limit: 5,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(log[0].action, "run.cancel");
}
