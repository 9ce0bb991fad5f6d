//! The sync talks to its CRM only through `CrmTarget`: run against an in-memory target,
//! a full sync, a deprovision and a restart behave as with the built-in one, and the
//! built-in account table is never touched.

use crate::fixture::{item, Fixture, CATALOG, RULES};
use scimgate_crm::MemoryCrm;
use scimgate_scheduler::{Action, Trigger};
use scimgate_testkit::{on_both_backends, DbBackend};
use std::sync::Arc;

on_both_backends!(sync_deprovision_and_restart_go_through_the_target);

async fn sync_deprovision_and_restart_go_through_the_target(backend: DbBackend) {
    let Some(f) =
        Fixture::into_target(backend, CATALOG, RULES, Some(Arc::new(MemoryCrm::new()))).await
    else {
        return;
    };
    let ann = f.user("ann@acme.no", "e-ann", "Ops").await;
    let bob = f.user("bob@acme.no", "e-bob", "Finance").await;
    f.group("Staff", &[&ann, &bob]).await;

    // A full sync creates both accounts in the target.
    let outcome = f
        .syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!((outcome.created, outcome.errors), (2, 0));
    let bob_account = f.account_of(&bob).await.unwrap();
    assert_eq!(bob_account.fields.role.as_deref(), Some("Finance user"));
    assert_eq!(bob_account.external_id.as_deref(), Some("e-bob"));
    // Nothing went to the built-in CRM's table.
    assert!(f
        .server
        .store
        .accounts(f.tenant())
        .await
        .unwrap()
        .is_empty());

    // Entra deactivates Bob; syncing him alone deprovisions his account in the target.
    f.set_active(&bob, false).await;
    let outcome = f.app().sync_user(f.tenant(), "bob@acme.no").await.unwrap();
    assert_eq!(outcome.deprovisioned, 1);
    let bob_after = f.account_of(&bob).await.unwrap();
    assert!(!bob_after.fields.active && bob_after.deactivated_at.is_some());
    assert_eq!(bob_after.pk, bob_account.pk, "kept, not deleted");

    // Restart unlinks the target's accounts and clears the holding area; Ann sent again
    // is re-linked by externalId to the same account.
    let unlinked = f.app().restart(f.tenant()).await.unwrap();
    assert_eq!(unlinked, 2);
    assert!(f
        .accounts()
        .await
        .iter()
        .all(|a| a.staged_user_id.is_none()));
    let ann_again = f.user("ann@acme.no", "e-ann", "Ops").await;
    let plan = f.preview().await;
    assert_eq!(item(&plan, &ann_again).action, Action::Update);
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    let accounts = f.accounts().await;
    assert_eq!(accounts.len(), 2, "no duplicate");
    assert!(accounts
        .iter()
        .any(|a| a.staged_user_id.as_deref() == Some(ann_again.as_str()) && a.fields.active));
}
