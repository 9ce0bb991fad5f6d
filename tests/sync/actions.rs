//! Every action kind, seats, rule changes, single-user sync, deprovision and re-enable,
//! restart and re-link, idempotence.

use crate::fixture::{draft, item, seats, Fixture};
use scimgate_scheduler::{Action, RunStatus, Trigger};
use scimgate_testkit::{on_both_backends, DbBackend};

on_both_backends!(
    first_sync_creates_accounts_and_a_second_changes_nothing,
    seats_run_out_in_arrival_order_with_an_error_naming_the_plan,
    rule_change_shows_in_preview_then_sync_applies_it,
    draft_rules_preview_saves_nothing,
    single_user_sync_touches_only_that_user,
    deactivated_user_is_deprovisioned_and_gets_the_account_back_when_enabled,
    deleted_user_is_deprovisioned_and_its_data_kept,
    rule_errors_are_per_user_and_leave_the_account_alone,
    restart_keeps_accounts_and_relinks_them_by_external_id,
    a_user_left_without_a_plan_is_deprovisioned,
    one_run_per_tenant_at_a_time,
);

async fn first_sync_creates_accounts_and_a_second_changes_nothing(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Sales").await;
    let bob = f.user("bob@acme.no", "e-bob", "Finance").await;
    f.group("Sales", &[&ann]).await;

    let plan = f.preview().await;
    assert_eq!(plan.totals.users_received, 2);
    assert_eq!(plan.totals.users_synced, 2);
    assert_eq!(plan.totals.create, 2);
    assert_eq!(item(&plan, &ann).action, Action::Create);
    let ann_target = item(&plan, &ann).target.clone().unwrap();
    assert_eq!(ann_target.user_plan.as_deref(), Some("Sales Premium"));
    assert_eq!(ann_target.role.as_deref(), Some("Sales user"));
    assert_eq!(ann_target.email.as_deref(), Some("ann@acme.no"));
    let bob_target = item(&plan, &bob).target.clone().unwrap();
    assert_eq!(bob_target.role.as_deref(), Some("Finance user"));
    assert_eq!(bob_target.user_plan.as_deref(), Some("Standard"));
    assert_eq!(seats(&plan, "Sales Premium"), (1, Some(1)));
    assert_eq!(seats(&plan, "Standard"), (1, Some(4)));
    // Preview is a pure read.
    assert!(f.accounts().await.is_empty());

    let first = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(
        (first.status, first.created, first.updated),
        (RunStatus::Completed, 2, 0)
    );
    let accounts = f.accounts().await;
    assert_eq!(accounts.len(), 2);
    let ann_account = f.account_of(&ann).await.unwrap();
    assert_eq!(ann_account.fields, ann_target);
    assert_eq!(ann_account.external_id.as_deref(), Some("e-ann"));

    let second = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(
        (
            second.created,
            second.updated,
            second.deprovisioned,
            second.unchanged
        ),
        (0, 0, 0, 2)
    );
    assert_eq!(
        f.accounts().await,
        accounts,
        "a repeated sync changed accounts"
    );
    let runs = f.syncer.store().runs(f.tenant(), 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].trigger, "manual_company");
    assert_eq!(runs[1].created, 2);
    let users = f
        .syncer
        .store()
        .run_users(f.tenant(), runs[1].id)
        .await
        .unwrap();
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| u.outcome == "created"));
}

async fn seats_run_out_in_arrival_order_with_an_error_naming_the_plan(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let first = f.user("first@acme.no", "e1", "Sales").await;
    let second = f.user("second@acme.no", "e2", "Sales").await;
    f.group("Sales", &[&first, &second]).await;
    // Standard has 4 seats: 6 more users, the last two in arrival order get none.
    let mut others = Vec::new();
    for n in 0..6 {
        others.push(
            f.user(&format!("u{n}@acme.no"), &format!("eu{n}"), "Ops")
                .await,
        );
    }
    let plan = f.preview().await;
    // Sales Premium has 1 seat: the first Sales user gets it, the second an error.
    assert_eq!(item(&plan, &first).action, Action::Create);
    let refused = item(&plan, &second);
    assert_eq!(refused.action, Action::Error);
    assert!(
        refused
            .reason
            .as_deref()
            .unwrap()
            .contains("\"Sales Premium\" has no free seat"),
        "{:?}",
        refused.reason
    );
    for (n, id) in others.iter().enumerate() {
        let expected = if n < 4 { Action::Create } else { Action::Error };
        assert_eq!(item(&plan, id).action, expected, "user u{n}");
    }
    assert_eq!(seats(&plan, "Standard"), (4, Some(4)));
    assert_eq!(seats(&plan, "Sales Premium"), (1, Some(1)));
    assert_eq!(plan.totals.error, 3);

    let outcome = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!((outcome.created, outcome.errors), (5, 3));
    assert!(f.account_of(&second).await.is_none());
    f.assert_seats_counted().await;
    // The user page plans one user from the seats others hold, counted where the
    // accounts are: the refused user is still refused, a holder keeps their seat.
    let (one, _) = (f.syncer)
        .preview_user(f.tenant(), &second, None)
        .await
        .unwrap();
    assert_eq!(one.action, Action::Error, "{:?}", one.reason);
    let (holder, _) = (f.syncer)
        .preview_user(f.tenant(), &first, None)
        .await
        .unwrap();
    assert_eq!(holder.action, Action::Unchanged);

    // A holder keeps its seat even when someone who arrived earlier now wants it.
    f.set_active(&others[0], false).await;
    let plan = f.preview().await;
    assert_eq!(item(&plan, &others[0]).action, Action::Deprovision);
    assert_eq!(
        item(&plan, &others[4]).action,
        Action::Create,
        "the freed seat goes to the next user"
    );
    assert_eq!(item(&plan, &others[5]).action, Action::Error);
    assert_eq!(seats(&plan, "Standard"), (4, Some(4)));
}

async fn rule_change_shows_in_preview_then_sync_applies_it(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Ops").await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    let before = f.account_of(&ann).await.unwrap();
    assert_eq!(before.fields.role.as_deref(), Some("User"));

    f.set_rules(&crate::fixture::RULES.replace(
        "role: { value: \"User\", mode: if_not_set }",
        "role: { value: \"Finance user\", mode: if_not_set }",
    ))
    .await;
    let plan = f.preview().await;
    let change = item(&plan, &ann);
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.changes.len(), 1, "{:?}", change.changes);
    assert_eq!(
        (
            change.changes[0].field,
            change.changes[0].old.as_str(),
            change.changes[0].new.as_str()
        ),
        ("role", "User", "Finance user")
    );
    let outcome = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!((outcome.created, outcome.updated), (0, 1));
    let after = f.account_of(&ann).await.unwrap();
    assert_eq!(after.pk, before.pk);
    assert_eq!(after.fields.role.as_deref(), Some("Finance user"));

    // An attribute change in the IdP is an update too.
    f.set_department(&ann, "Finance").await;
    f.set_rules(crate::fixture::RULES).await;
    let plan = f.preview().await;
    assert_eq!(
        item(&plan, &ann).action,
        Action::Unchanged,
        "department Finance gives Finance user again"
    );
}

async fn draft_rules_preview_saves_nothing(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Ops").await;
    let draft_yaml = "rules:\n  - name: Nobody\n    applies_to: { member_of: \"Nobody\" }\n    set: { user_plan: \"Standard\" }\n";
    let drafted = f
        .syncer
        .preview(f.tenant(), Some(&draft(draft_yaml)))
        .await
        .unwrap();
    assert_eq!(item(&drafted, &ann).action, Action::Unchanged);
    assert!(!item(&drafted, &ann).synced);
    assert_eq!(drafted.totals.users_synced, 0);
    // The saved rules still apply.
    let saved = f.preview().await;
    assert_eq!(item(&saved, &ann).action, Action::Create);
    let source = f
        .syncer
        .store()
        .rule_set(f.tenant())
        .await
        .unwrap()
        .value
        .unwrap();
    assert_eq!(source.yaml, crate::fixture::RULES);
    // A broken draft is an error naming the rule, not a preview.
    let broken = "rules:\n  - name: Bad\n    set: { role: \"Boss\" }\n";
    let err = f
        .syncer
        .preview(f.tenant(), Some(&draft(broken)))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rule \"Bad\"") && err.contains("\"Boss\""),
        "{err}"
    );
}

async fn single_user_sync_touches_only_that_user(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Ops").await;
    let bob = f.user("bob@acme.no", "e-bob", "Ops").await;
    let outcome = f.syncer.sync_user(f.tenant(), &ann).await.unwrap();
    assert_eq!((outcome.created, outcome.unchanged), (1, 0));
    let accounts = f.accounts().await;
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].staged_user_id.as_deref(), Some(ann.as_str()));
    // Bob is still only planned.
    assert_eq!(item(&f.preview().await, &bob).action, Action::Create);
    let runs = f.syncer.store().runs(f.tenant(), 5).await.unwrap();
    assert_eq!(runs[0].trigger, "manual_user");
    // An unknown user is an error, not an empty run.
    assert!(f
        .syncer
        .sync_user(f.tenant(), "no-such-user")
        .await
        .is_err());
}

async fn deactivated_user_is_deprovisioned_and_gets_the_account_back_when_enabled(
    backend: DbBackend,
) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Ops").await;
    f.user("bob@acme.no", "e-bob", "Ops").await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    let before = f.account_of(&ann).await.unwrap();
    assert_eq!(seats(&f.preview().await, "Standard").0, 2);

    f.set_active(&ann, false).await;
    let plan = f.preview().await;
    let step = item(&plan, &ann);
    assert_eq!(step.action, Action::Deprovision);
    assert!(
        step.reason.as_deref().unwrap().contains("inactive"),
        "{:?}",
        step.reason
    );
    let outcome = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(outcome.deprovisioned, 1);
    let off = f.account_of(&ann).await.unwrap();
    assert!(!off.fields.active);
    assert!(off.deactivated_at.is_some());
    assert_eq!(
        off.fields.user_plan, before.fields.user_plan,
        "data is kept"
    );
    assert_eq!(
        seats(&f.preview().await, "Standard").0,
        1,
        "the seat is freed"
    );
    f.assert_seats_counted().await;

    f.set_active(&ann, true).await;
    let outcome = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!((outcome.created, outcome.updated), (0, 1));
    let back = f.account_of(&ann).await.unwrap();
    assert_eq!(back.pk, before.pk, "the same account comes back");
    assert!(back.fields.active);
    assert!(back.deactivated_at.is_none());
    assert_eq!(f.accounts().await.len(), 2);
    f.assert_seats_counted().await;
}

async fn deleted_user_is_deprovisioned_and_its_data_kept(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Ops").await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    let (status, _) = f.server.delete(&format!("/Users/{ann}")).await;
    assert_eq!(status, 204);
    let plan = f.preview().await;
    let step = item(&plan, &ann);
    assert_eq!(step.action, Action::Deprovision);
    assert!(step.reason.as_deref().unwrap().contains("deleted"));
    // A one-user sync of the deleted user deprovisions it too.
    let outcome = f.syncer.sync_user(f.tenant(), &ann).await.unwrap();
    assert_eq!(outcome.deprovisioned, 1);
    let account = f.accounts().await.pop().unwrap();
    assert!(!account.fields.active);
    assert_eq!(&*account.fields.username, "ann@acme.no");
    let again = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(
        again.deprovisioned, 0,
        "an inactive account is not deprovisioned twice"
    );
}

async fn rule_errors_are_per_user_and_leave_the_account_alone(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Ops").await;
    let bob = f.user("bob@acme.no", "e-bob", "Ops").await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    let before = f.account_of(&ann).await.unwrap();
    // Ann's department now yields a role the catalogue does not have.
    f.set_department(&ann, "Boss").await;
    let rules = crate::fixture::RULES.replace(
        "expr: 'if user.enterprise.department == \"Finance\" { \"Finance user\" } else { () }'",
        "expr: 'if user.enterprise.department == \"Boss\" { \"Chief\" } else { () }'",
    );
    f.set_rules(&rules).await;
    let plan = f.preview().await;
    let step = item(&plan, &ann);
    assert_eq!(step.action, Action::Error);
    let reason = step.reason.as_deref().unwrap();
    assert!(
        reason.contains("Finance role") && reason.contains("\"Chief\""),
        "{reason}"
    );
    assert_eq!(item(&plan, &bob).action, Action::Unchanged);
    let outcome = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(outcome.errors, 1);
    assert_eq!(
        f.account_of(&ann).await.unwrap(),
        before,
        "an error changes nothing"
    );
    let run_users = f
        .syncer
        .store()
        .run_users(f.tenant(), outcome.run_id)
        .await
        .unwrap();
    assert_eq!(run_users.len(), 1);
    assert_eq!(run_users[0].outcome, "error");
    assert!(run_users[0].error.as_deref().unwrap().contains("Chief"));
    // The seat of an account in error stays counted.
    assert_eq!(seats(&plan, "Standard").0, 2);
}

async fn restart_keeps_accounts_and_relinks_them_by_external_id(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Ops").await;
    let bob = f.user("bob@acme.no", "e-bob", "Ops").await;
    f.group("Staff", &[&ann, &bob]).await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    let ann_before = f.account_of(&ann).await.unwrap();

    let unlinked = f.syncer.restart(f.tenant()).await.unwrap();
    assert_eq!(unlinked, 2);
    let (status, list) = f.server.get("/Users").await;
    assert_eq!((status, list["totalResults"].as_i64()), (200, Some(0)));
    let (_, groups) = f.server.get("/Groups").await;
    assert_eq!(groups["totalResults"].as_i64(), Some(0));
    let accounts = f.accounts().await;
    assert_eq!(accounts.len(), 2);
    assert!(accounts
        .iter()
        .all(|a| a.staged_user_id.is_none() && a.fields.active));
    // Nothing staged: nothing to deprovision, both accounts wait to be re-linked.
    let plan = f.preview().await;
    assert_eq!(plan.totals.deprovision, 0);
    assert_eq!(plan.totals.awaiting_relink, 2);
    let outcome = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(outcome.deprovisioned, 0);

    // Entra sends Ann again (a new id here, the same externalId).
    let ann_again = f.user("ann@acme.no", "e-ann", "Ops").await;
    assert_ne!(ann_again, ann);
    let plan = f.preview().await;
    let step = item(&plan, &ann_again);
    assert_eq!(step.action, Action::Update, "re-linking is an update");
    assert_eq!(step.account, Some(ann_before.pk));
    // The user page's one-user plan finds the unlinked account by externalId too.
    let (one, _) = (f.syncer)
        .preview_user(f.tenant(), &ann_again, None)
        .await
        .unwrap();
    assert_eq!(
        (one.action, one.account),
        (Action::Update, Some(ann_before.pk))
    );
    assert_eq!(plan.totals.awaiting_relink, 1);
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    let relinked = f.account_of(&ann_again).await.unwrap();
    assert_eq!(relinked.pk, ann_before.pk, "no duplicate account");
    assert_eq!(f.accounts().await.len(), 2);
    f.assert_seats_counted().await;
    let again = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 1));
}

async fn a_user_left_without_a_plan_is_deprovisioned(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Ops").await;
    let bob = f.user("bob@acme.no", "e-bob", "Ops").await;
    let contractors = f.group("Contractors", &[&bob]).await;
    assert!(!contractors.is_empty());
    // Bob is a contractor: "Everyone" skips him, so no rule gives him a plan.
    let plan = f.preview().await;
    assert_eq!(item(&plan, &bob).action, Action::Unchanged);
    assert!(!item(&plan, &bob).synced);
    assert!(item(&plan, &bob)
        .reason
        .as_deref()
        .unwrap()
        .contains("no rule gave the user a user plan"));
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert!(f.account_of(&bob).await.is_none());
    // Ann becomes a contractor too: her account loses its plan, so it is deprovisioned.
    let (status, _) = f
        .server
        .patch(
            &format!("/Groups/{contractors}"),
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Add", "path": "members", "value": [{"value": ann}]}]
            }),
        )
        .await;
    assert_eq!(status, 204);
    let plan = f.preview().await;
    assert_eq!(item(&plan, &ann).action, Action::Deprovision);
    let outcome = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(outcome.deprovisioned, 1);
    assert!(!f.account_of(&ann).await.unwrap().fields.active);
}

async fn one_run_per_tenant_at_a_time(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    f.user("ann@acme.no", "e-ann", "Ops").await;
    // Another process (another replica, the CLI) holds the tenant's sync lease.
    let now = scimgate_core::Clock::now(&scimgate_core::SystemClock);
    let name = format!("sync:{}", f.tenant().id);
    assert!(f
        .syncer
        .store()
        .acquire_lease(&name, "other-process", now, 60_000)
        .await
        .unwrap());
    let err = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap_err();
    assert!(matches!(err, scimgate_scheduler::SyncError::Busy), "{err}");
    assert!(f.syncer.sync_user(f.tenant(), "x").await.is_err());
    assert!(f.accounts().await.is_empty());
    assert!(
        f.syncer
            .store()
            .runs(f.tenant(), 5)
            .await
            .unwrap()
            .is_empty(),
        "a refused run leaves no record"
    );
    // Released (or run out), the next run goes ahead.
    f.syncer
        .store()
        .release_lease(&name, "other-process")
        .await
        .unwrap();
    let run = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(run.created, 1);
}
