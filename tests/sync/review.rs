//! Regression tests for what review found: no over-allocated seats under concurrent
//! runs, held deprovisions, or plan moves; inactive users lose their account even when
//! their rules fail.

use crate::fixture::{item, seats, Fixture};
use scimgate_scheduler::{Action, RunStatus, SyncError, Trigger};
use scimgate_testkit::{on_both_backends, DbBackend};

on_both_backends!(
    parallel_runs_through_one_syncer_never_over_allocate,
    held_deprovisions_keep_their_seats,
    a_user_who_cannot_move_keeps_the_old_seat_and_nobody_else_takes_it,
    an_inactive_user_loses_the_account_even_when_the_rules_fail,
);

const ONE_SEAT: &str = "user_plans: [{ name: Standard, seats: 1 }, { name: Sales Premium, seats: 1 }]\ncompanies: [Acme]\ngroups: [Staff, Sales]\nroles: [User, Sales user, Finance user]\n";

async fn parallel_runs_through_one_syncer_never_over_allocate(backend: DbBackend) {
    let Some(f) = Fixture::with(backend, ONE_SEAT, crate::fixture::RULES).await else {
        return;
    };
    let mut ids = Vec::new();
    for n in 0..8 {
        ids.push(
            f.user(&format!("u{n}@acme.no"), &format!("e{n}"), "Ops")
                .await,
        );
    }
    // Eight one-user syncs and two company syncs at once, all through the same syncer
    // (as the admin API shares one).
    let mut tasks = Vec::new();
    for id in &ids {
        let (syncer, tenant, id) = (f.syncer.clone(), f.tenant().clone(), id.clone());
        tasks.push(tokio::spawn(
            async move { syncer.sync_user(&tenant, &id).await },
        ));
    }
    for _ in 0..2 {
        let (syncer, tenant) = (f.syncer.clone(), f.tenant().clone());
        tasks.push(tokio::spawn(async move {
            syncer.sync_company(&tenant, Trigger::ManualCompany).await
        }));
    }
    let mut ran = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ran += 1,
            Err(SyncError::Busy) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(ran >= 1);
    let active = f
        .accounts()
        .await
        .iter()
        .filter(|a| a.fields.active)
        .count();
    assert_eq!(active, 1, "one Standard seat, one active account");
    let runs = f.syncer.store().runs(f.tenant(), 50).await.unwrap();
    assert!(
        runs.iter().all(|r| r.status == RunStatus::Completed),
        "{runs:?}"
    );
}

async fn held_deprovisions_keep_their_seats(backend: DbBackend) {
    let catalog = "user_plans: [{ name: Standard, seats: 10 }, { name: Sales Premium, seats: 1 }]\ncompanies: [Acme]\ngroups: [Staff, Sales]\nroles: [User, Sales user, Finance user]\n";
    let Some(f) = Fixture::with(backend, catalog, crate::fixture::RULES).await else {
        return;
    };
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(
            f.user(&format!("u{n}@acme.no"), &format!("e{n}"), "Ops")
                .await,
        );
    }
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    for id in &ids[..8] {
        f.set_active(id, false).await;
    }
    let mut newcomers = Vec::new();
    for n in 0..8 {
        newcomers.push(
            f.user(&format!("new{n}@acme.no"), &format!("n{n}"), "Ops")
                .await,
        );
    }
    let plan = f.preview().await;
    assert!(plan.deprovisions_held, "8 of 10 trips the guard");
    assert_eq!(seats(&plan, "Standard"), (10, Some(10)));
    assert!(newcomers
        .iter()
        .all(|id| item(&plan, id).action == Action::Error));
    let run = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!((run.status, run.held, run.created), (RunStatus::Held, 8, 0));
    let active = f
        .accounts()
        .await
        .iter()
        .filter(|a| a.fields.active)
        .count();
    assert_eq!(active, 10, "never more active accounts than seats");
    // Approved: the seats are freed, and the next run gives them to the newcomers.
    f.syncer.approve(f.tenant(), run.run_id).await.unwrap();
    let next = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(next.created, 8);
    let active = f
        .accounts()
        .await
        .iter()
        .filter(|a| a.fields.active)
        .count();
    assert_eq!(active, 10);
}

async fn a_user_who_cannot_move_keeps_the_old_seat_and_nobody_else_takes_it(backend: DbBackend) {
    // Department decides the plan: Sales → Sales Premium (1 seat), else Standard (1 seat).
    let rules = "rules:\n  - name: Sales\n    when: 'user.enterprise.department == \"Sales\"'\n    set: { user_plan: \"Sales Premium\" }\n  - name: Ops\n    when: 'user.enterprise.department == \"Ops\"'\n    set: { user_plan: \"Standard\" }\n";
    let Some(f) = Fixture::with(backend, ONE_SEAT, rules).await else {
        return;
    };
    let w = f.user("w@acme.no", "ew", "Nowhere").await; // arrives first, no plan yet
    let x = f.user("x@acme.no", "ex", "Ops").await; // holds Standard
    let y = f.user("y@acme.no", "ey", "Sales").await; // holds Sales Premium
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(f.accounts().await.len(), 2);
    // X wants to move to Sales Premium (full); W now wants Standard (held by X).
    f.set_department(&x, "Sales").await;
    f.set_department(&w, "Ops").await;
    let plan = f.preview().await;
    assert_eq!(
        item(&plan, &x).action,
        Action::Error,
        "Sales Premium is full"
    );
    assert_eq!(
        item(&plan, &w).action,
        Action::Error,
        "X still holds the Standard seat"
    );
    assert_eq!(item(&plan, &y).action, Action::Unchanged);
    assert_eq!(seats(&plan, "Standard"), (1, Some(1)));
    assert_eq!(seats(&plan, "Sales Premium"), (1, Some(1)));
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    let on_standard = f
        .accounts()
        .await
        .iter()
        .filter(|a| a.fields.active && a.fields.user_plan.as_deref() == Some("Standard"))
        .count();
    assert_eq!(on_standard, 1);
}

async fn an_inactive_user_loses_the_account_even_when_the_rules_fail(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Ops").await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    // Her rules now fail (a role the catalogue lacks) and she is disabled in Entra.
    f.set_department(&ann, "Boss").await;
    let rules = crate::fixture::RULES.replace(
        "expr: 'if user.enterprise.department == \"Finance\" { \"Finance user\" } else { () }'",
        "expr: 'if user.enterprise.department == \"Boss\" { \"Chief\" } else { () }'",
    );
    f.set_rules(&rules).await;
    f.set_active(&ann, false).await;
    let plan = f.preview().await;
    assert_eq!(item(&plan, &ann).action, Action::Deprovision);
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert!(!f.account_of(&ann).await.unwrap().fields.active);
}
