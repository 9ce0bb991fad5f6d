//! Welcome e-mails: queued once per account a sync creates while they are on, never for
//! accounts created before, never twice, never when off.

use crate::fixture::Fixture;
use scimgate_scheduler::{SyncSettings, Trigger};
use scimgate_testkit::{on_both_backends, DbBackend};
use sqlx::Row;

on_both_backends!(
    each_created_account_gets_one_welcome_while_switched_on,
    no_welcome_when_switched_off,
);

/// `(target, payload)` of the queued welcome e-mails.
async fn welcomes(f: &Fixture) -> Vec<(String, serde_json::Value)> {
    sqlx::query("SELECT target, payload FROM outbox WHERE event = 'welcome' ORDER BY id")
        .fetch_all(f.syncer.store().pool())
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let payload: String = row.try_get(1).unwrap();
            (
                row.try_get(0).unwrap(),
                serde_json::from_str(&payload).unwrap(),
            )
        })
        .collect()
}

async fn switch_welcome(f: &Fixture, on: bool) {
    let settings = SyncSettings {
        welcome_email: on,
        sign_in_url: Some("https://crm.acme.no/login".into()),
        ..SyncSettings::default()
    };
    f.app()
        .save_settings(f.tenant(), scimgate_store::Expect::Any, &settings)
        .await
        .unwrap();
}

async fn each_created_account_gets_one_welcome_while_switched_on(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    // Created before welcome e-mails were switched on: no welcome, ever.
    f.user("early@acme.no", "e0", "Ops").await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    switch_welcome(&f, true).await;
    let ann = f.user("ann@acme.no", "e1", "Ops").await;
    f.user("bob@acme.no", "e2", "Ops").await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    let sent = welcomes(&f).await;
    let targets: Vec<&str> = sent.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(targets, vec!["ann@acme.no", "bob@acme.no"]);
    let (_, first) = &sent[0];
    assert_eq!(first["subject"], "Welcome to the CRM");
    let text = first["text"].as_str().unwrap();
    assert!(
        text.contains("Test User") && text.contains("https://crm.acme.no/login"),
        "{text}"
    );
    assert!(first["html"]
        .as_str()
        .unwrap()
        .contains("href=\"https://crm.acme.no/login\""));
    // More runs, a deactivation and a re-enable: still one each.
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    f.set_active(&ann, false).await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    f.set_active(&ann, true).await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(
        welcomes(&f).await.len(),
        2,
        "never twice for the same account"
    );
    // A one-user sync that creates an account welcomes it too.
    let cid = f.user("cid@acme.no", "e3", "Ops").await;
    f.syncer.sync_user(f.tenant(), &cid).await.unwrap();
    assert_eq!(welcomes(&f).await.len(), 3);
}

async fn no_welcome_when_switched_off(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    switch_welcome(&f, true).await;
    switch_welcome(&f, false).await;
    f.user("ann@acme.no", "e1", "Ops").await;
    f.syncer
        .sync_company(f.tenant(), Trigger::ManualCompany)
        .await
        .unwrap();
    assert_eq!(f.accounts().await.len(), 1);
    assert!(welcomes(&f).await.is_empty());
}
