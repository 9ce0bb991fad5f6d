//! `scimgate demo` on SQLite and PostgreSQL: a `demo` tenant with the example catalogue and
//! rules and Entra-shaped users and groups, which the rules turn into CRM accounts without
//! errors; a second run changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scimgate_app::App;
use scimgate_core::TenantName;
use scimgate_notify::target::TargetPolicy;
use scimgate_testkit::{on_both_backends, DbBackend, TestDb};
use std::process::Command;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_scimgate");

fn demo(db: &TestDb, users: &str) -> std::process::Output {
    Command::new(BIN)
        .args(["--database-url", &db.url, "demo", "--users", users])
        .output()
        .unwrap()
}

async fn the_demo_fills_a_tenant_the_rules_can_sync(backend: DbBackend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let out = demo(&db, "60");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(said.contains("60 users and 13 groups"), "{said}");

    let store = db.store().await;
    let app = App::builtin(
        store.clone(),
        Arc::new(scimgate_core::SystemClock),
        TargetPolicy::default(),
    );
    let tenant = store
        .tenant(&TenantName::parse("demo").unwrap())
        .await
        .unwrap()
        .unwrap();
    let overview = app.overview(&tenant).await.unwrap();
    assert_eq!((overview.holding.users, overview.holding.groups), (60, 13));
    assert_eq!(
        overview.holding.guid_external_ids, overview.holding.sampled_external_ids,
        "externalIds look like Entra objectIds"
    );
    let plan = app.preview(&tenant, None).await.unwrap();
    assert_eq!(plan.totals.users_received, 60);
    assert_eq!(plan.totals.error, 0, "the example rules fit the demo users");
    assert!(
        plan.totals.create >= 50,
        "most users get an account: {:?}",
        plan.totals
    );
    let roles: std::collections::BTreeSet<scimgate_core::Name> = plan
        .items
        .iter()
        .filter_map(|item| item.target.as_ref()?.role.clone())
        .collect();
    assert!(roles.len() >= 4, "the rules tell people apart: {roles:?}");

    // Again: the tenant exists, nothing changes.
    let again = demo(&db, "10");
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    assert_eq!(app.overview(&tenant).await.unwrap().holding.users, 60);
}

on_both_backends!(the_demo_fills_a_tenant_the_rules_can_sync);
