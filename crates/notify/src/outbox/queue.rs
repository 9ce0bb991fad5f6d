//! The queue as admins use it: the list of messages, and a test message on demand. The
//! delivery worker claims and settles messages through the store directly.

use super::message::Message;
use crate::{NotifyError, Result};
use scimgate_core::{OutboxEntry, OutboxStatus};
use scimgate_store::outbox::NewMessage;
use scimgate_store::{Store, Tenant};

/// The tenant's messages, newest first; `status` narrows to pending, delivered or dead.
pub async fn list(
    store: &Store,
    tenant: &Tenant,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxEntry>> {
    let status = status
        .map(OutboxStatus::parse_named)
        .transpose()
        .map_err(NotifyError::Invalid)?;
    Ok(store.outbox(tenant, status, limit).await?)
}

/// Queues a test message to one subscription (what "send a test message" does), so an
/// admin can check an address or a webhook end to end. Returns the outbox id.
pub async fn enqueue_test(
    store: &Store,
    tenant: &Tenant,
    subscription_id: i64,
    now_ms: i64,
    now: &str,
) -> Result<i64> {
    let subscription = store
        .subscription(tenant, subscription_id)
        .await?
        .ok_or(NotifyError::NotFound)?;
    let payload = Message::test(tenant, &subscription, now).payload(subscription.channel);
    let message = NewMessage {
        subscription_id: Some(subscription.id),
        channel: subscription.channel,
        target: subscription.target,
        event: "test".into(),
        payload: payload.to_string(),
    };
    Ok(store.enqueue(tenant, message, now_ms, now).await?)
}
