//! The mass-deprovision guard: a run that would deprovision too many accounts is held
//! for an admin; approving applies it, rejecting discards it.

use crate::fixture::Fixture;
use scimgate_scheduler::{RunStatus, SyncSettings, Trigger};
use scimgate_testkit::{on_both_backends, DbBackend};

on_both_backends!(
    a_run_over_the_threshold_is_held_then_approval_applies_it,
    rejection_discards_the_held_deprovisions,
    a_run_under_the_threshold_applies_at_once,
);

const CATALOG: &str = "user_plans: [{ name: Standard, seats: 100 }, { name: Sales Premium, seats: 5 }]\ncompanies: [Acme]\ngroups: [Staff, Sales]\nroles: [User, Sales user, Finance user]\n";

/// Ten synced users, then `off` of them disabled in the IdP.
async fn ten_users_then_disable(f: &Fixture, off: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(
            f.user(&format!("u{n}@acme.no"), &format!("e{n}"), "Ops")
                .await,
        );
    }
    let first = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(first.created, 10);
    for id in &ids[..off] {
        f.set_active(id, false).await;
    }
    ids
}

async fn active_accounts(f: &Fixture) -> usize {
    f.accounts()
        .await
        .iter()
        .filter(|a| a.fields.active)
        .count()
}

async fn a_run_over_the_threshold_is_held_then_approval_applies_it(backend: DbBackend) {
    let Some(f) = Fixture::with(backend, CATALOG, crate::fixture::RULES).await else {
        return;
    };
    let ids = ten_users_then_disable(&f, 6).await;
    // One user also changes, which is not held back.
    f.set_department(&ids[9], "Finance").await;
    let held = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(held.status, RunStatus::Held);
    assert_eq!((held.held, held.deprovisioned, held.updated), (6, 0, 1));
    assert_eq!(
        active_accounts(&f).await,
        10,
        "nothing deprovisioned while held"
    );
    let run = f
        .syncer
        .store()
        .run(f.tenant(), held.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Held);
    assert!(run
        .message
        .as_deref()
        .unwrap()
        .contains("approve or reject"));

    let approved = f.syncer.approve(f.tenant(), held.run_id).await.unwrap();
    assert_eq!(approved.deprovisioned, 6);
    assert_eq!(active_accounts(&f).await, 4);
    let run = f
        .syncer
        .store()
        .run(f.tenant(), held.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Approved);
    assert_eq!((run.deprovisioned, run.updated, run.held), (6, 1, 0));
    // Approving twice is refused.
    let err = f.syncer.approve(f.tenant(), held.run_id).await.unwrap_err();
    assert!(err.to_string().contains("not held"), "{err}");
}

async fn rejection_discards_the_held_deprovisions(backend: DbBackend) {
    let Some(f) = Fixture::with(backend, CATALOG, crate::fixture::RULES).await else {
        return;
    };
    ten_users_then_disable(&f, 7).await;
    let held = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!((held.status, held.held), (RunStatus::Held, 7));
    f.syncer.reject(f.tenant(), held.run_id).await.unwrap();
    assert_eq!(active_accounts(&f).await, 10);
    let run = f
        .syncer
        .store()
        .run(f.tenant(), held.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Rejected);
    assert!(f.syncer.approve(f.tenant(), held.run_id).await.is_err());
    // The next run is held again: the guard keeps protecting until the IdP is fixed.
    let next = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(next.status, RunStatus::Held);
    // A raised threshold lets it through.
    let settings = SyncSettings {
        guard_percent: 80,
        ..SyncSettings::default()
    };
    f.app()
        .save_settings(f.tenant(), scimgate_store::Expect::Any, &settings)
        .await
        .unwrap();
    let through = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(
        (through.status, through.deprovisioned),
        (RunStatus::Completed, 7)
    );
    let earlier = f
        .syncer
        .store()
        .run(f.tenant(), next.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        earlier.status,
        RunStatus::Held,
        "an unanswered held run stays held"
    );
}

async fn a_run_under_the_threshold_applies_at_once(backend: DbBackend) {
    let Some(f) = Fixture::with(backend, CATALOG, crate::fixture::RULES).await else {
        return;
    };
    // 5 of 10 is 50% but not more than 5: the guard needs both.
    ten_users_then_disable(&f, 5).await;
    let run = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(
        (run.status, run.deprovisioned, run.held),
        (RunStatus::Completed, 5, 0)
    );
}
