//! A burst of rejected SCIM tokens becomes one `scim.auth_failures` message for the
//! tenant's subscribers (and nothing for other tenants).

use crate::fixture::Fixture;
use scimgate_notify::subscriptions::{self, Channel};
use scimgate_notify::EventKind;
use scimgate_testkit::{on_both_backends, DbBackend};
use sqlx::Row;

on_both_backends!(a_burst_of_rejected_tokens_is_one_message);

async fn a_burst_of_rejected_tokens_is_one_message(backend: DbBackend) {
    let Some(f) = Fixture::start(backend).await else {
        return;
    };
    let store = f.syncer.store();
    subscriptions::add(
        store,
        f.tenant(),
        Channel::Webhook,
        "https://hooks.acme.no/scimgate",
        &[EventKind::ScimAuthFailures],
        scimgate_store::Expect::Any,
        "2026-11-22T00:00:00Z",
        scimgate_notify::target::TargetPolicy::ALLOW_PRIVATE,
    )
    .await
    .unwrap();
    // Not subscribed to this kind: gets nothing.
    subscriptions::add(
        store,
        f.tenant(),
        Channel::Email,
        "ops@acme.no",
        &[EventKind::SyncError],
        scimgate_store::Expect::Any,
        "2026-11-22T00:00:00Z",
        scimgate_notify::target::TargetPolicy::ALLOW_PRIVATE,
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    for n in 0..45 {
        let token = if n % 2 == 0 {
            "sgt_wrong".to_owned()
        } else {
            String::new()
        };
        let mut request = client.get(f.server.scim("/Users"));
        if !token.is_empty() {
            request = request.bearer_auth(&token);
        }
        assert_eq!(request.send().await.unwrap().status(), 401);
    }
    // The message is written by a background task: wait for it.
    let mut rows = Vec::new();
    for _ in 0..100 {
        rows = sqlx::query("SELECT event, channel, target, payload FROM outbox ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap();
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(rows.len(), 1, "45 rejections in one window: one message");
    let event: String = rows[0].try_get("event").unwrap();
    let channel: String = rows[0].try_get("channel").unwrap();
    assert_eq!(
        (event.as_str(), channel.as_str()),
        ("scim.auth_failures", "webhook")
    );
    let payload: String = rows[0].try_get("payload").unwrap();
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["tenant"], "acme");
    assert_eq!(payload["status"], "firing");
    assert!(payload["title"]
        .as_str()
        .unwrap()
        .contains("rejected SCIM token"));
    // Valid requests still work.
    let (status, _) = f.server.get("/Users").await;
    assert_eq!(status, 200);
}
