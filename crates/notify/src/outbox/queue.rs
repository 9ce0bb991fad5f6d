//! The queue: messages enqueued for subscribers, listed for admins, claimed by delivery
//! workers under a lease, and marked delivered, retried or dead.

use super::message::Message;
use crate::event::EventKind;
use crate::subscriptions::{self, Subscription};
use crate::{NotifyError, Result};
use scimgate_store::{Store, Tenant};
use serde::Serialize;
use sqlx::Row;

pub(super) async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    subscribers: &[(Subscription, Option<String>)],
    kind: EventKind,
    message: &Message,
    now_ms: i64,
    now: &str,
) -> Result<()> {
    for (subscription, _) in subscribers.iter().filter(|(s, _)| s.events.contains(&kind)) {
        let payload = message.payload(subscription.channel).to_string();
        sqlx::query(
            "INSERT INTO outbox (tenant_id, subscription_id, channel, target, event, payload, status,
                attempts, next_attempt_at, lease_until, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, 0, $8)",
        )
        .bind(tenant.id)
        .bind(subscription.id)
        .bind(subscription.channel.name())
        .bind(&subscription.target)
        .bind(kind.name())
        .bind(payload)
        .bind(now_ms)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A message as the admin API lists it (and the worker delivers it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    pub subscription_id: Option<i64>,
    pub channel: String,
    pub target: String,
    pub event: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    #[serde(skip)]
    pub payload: String,
    #[serde(skip)]
    pub tenant_id: i64,
}

const ENTRY_COLUMNS: &str =
    "id, tenant_id, subscription_id, channel, target, event, payload, status, \
    attempts, last_error, created_at, delivered_at";

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        subscription_id: row.try_get("subscription_id")?,
        channel: row.try_get("channel")?,
        target: row.try_get("target")?,
        event: row.try_get("event")?,
        payload: row.try_get("payload")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

/// The tenant's messages, newest first; `status` narrows to pending, delivered or dead.
pub async fn list(
    store: &Store,
    tenant: &Tenant,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<OutboxEntry>> {
    if let Some(s) = status {
        if !["pending", "delivered", "dead"].contains(&s) {
            return Err(NotifyError::Invalid(format!(
                "status {s:?}: use pending, delivered or dead"
            )));
        }
    }
    sqlx::query(&format!(
        "SELECT {ENTRY_COLUMNS} FROM outbox WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2)
         ORDER BY id DESC LIMIT $3"
    ))
    .bind(tenant.id)
    .bind(status)
    .bind(limit)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(entry_from_row)
    .collect()
}

/// Takes up to `limit` due messages for `holder` until `now_ms + lease_ms`. Messages
/// another worker holds are skipped, so each is delivered by one worker at a time.
pub async fn claim(
    store: &Store,
    holder: &str,
    now_ms: i64,
    lease_ms: i64,
    limit: i64,
    include_email: bool,
) -> Result<Vec<OutboxEntry>> {
    // A worker that cannot send e-mail (no SMTP configured) leaves it to one that can,
    // or to later, instead of spending its attempts.
    let email = if include_email {
        ""
    } else {
        " AND channel <> 'email'"
    };
    let lock = match store.backend() {
        scimgate_store::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        scimgate_store::Backend::Sqlite => "",
    };
    sqlx::query(&format!(
        "UPDATE outbox SET lease_holder = $1, lease_until = $2
         WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3
                      AND lease_until <= $3{email} ORDER BY id LIMIT $4{lock})
         RETURNING {ENTRY_COLUMNS}"
    ))
    .bind(holder)
    .bind(now_ms + lease_ms)
    .bind(now_ms)
    .bind(limit)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(entry_from_row)
    .collect()
}

/// The signing secret of a webhook message's subscription (`None`: it was removed).
pub async fn webhook_secret(store: &Store, entry: &OutboxEntry) -> Result<Option<String>> {
    let Some(id) = entry.subscription_id else {
        return Ok(None);
    };
    Ok(
        sqlx::query("SELECT secret FROM subscriptions WHERE tenant_id = $1 AND id = $2")
            .bind(entry.tenant_id)
            .bind(id)
            .fetch_optional(store.pool())
            .await?
            .map(|row| row.try_get::<Option<String>, _>(0))
            .transpose()?
            .flatten(),
    )
}

/// Extends this worker's lease on one message just before sending it; `false`: the
/// lease ran out and another worker may have it, so this one must not send.
pub async fn renew_lease(store: &Store, id: i64, holder: &str, until_ms: i64) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE outbox SET lease_until = $1 WHERE id = $2 AND lease_holder = $3 AND status = 'pending'",
    )
    .bind(until_ms)
    .bind(id)
    .bind(holder)
    .execute(store.pool())
    .await?
    .rows_affected()
        == 1)
}

/// Whether the subscription a message was queued for still exists (`true` for messages
/// of no subscription, such as welcome e-mails).
pub async fn subscription_exists(store: &Store, entry: &OutboxEntry) -> Result<bool> {
    let Some(id) = entry.subscription_id else {
        return Ok(true);
    };
    Ok(
        sqlx::query("SELECT 1 FROM subscriptions WHERE tenant_id = $1 AND id = $2")
            .bind(entry.tenant_id)
            .bind(id)
            .fetch_optional(store.pool())
            .await?
            .is_some(),
    )
}

pub async fn mark_delivered(store: &Store, id: i64, holder: &str, now: &str) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'delivered', delivered_at = $1, lease_holder = NULL, lease_until = 0,
            attempts = attempts + 1, last_error = NULL
         WHERE id = $2 AND lease_holder = $3",
    )
    .bind(now)
    .bind(id)
    .bind(holder)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// A failed attempt: retried at `retry_at_ms`, or dead when that is `None`.
pub async fn mark_failed(
    store: &Store,
    id: i64,
    holder: &str,
    error: &str,
    retry_at_ms: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = $1, next_attempt_at = $2, last_error = $3, attempts = attempts + 1,
            lease_holder = NULL, lease_until = 0
         WHERE id = $4 AND lease_holder = $5",
    )
    .bind(if retry_at_ms.is_some() { "pending" } else { "dead" })
    .bind(retry_at_ms.unwrap_or(0))
    .bind(error)
    .bind(id)
    .bind(holder)
    .execute(store.pool())
    .await?;
    Ok(())
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
    let row = sqlx::query(
        "SELECT id, channel, target, events, created_at FROM subscriptions WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.id)
    .bind(subscription_id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(NotifyError::NotFound)?;
    let subscription = subscriptions::from_row(&row)?;
    let message = Message::test(tenant, &subscription, now);
    let id: i64 = sqlx::query(
        "INSERT INTO outbox (tenant_id, subscription_id, channel, target, event, payload, status,
            attempts, next_attempt_at, lease_until, created_at)
         VALUES ($1, $2, $3, $4, 'test', $5, 'pending', 0, $6, 0, $7) RETURNING id",
    )
    .bind(tenant.id)
    .bind(subscription.id)
    .bind(subscription.channel.name())
    .bind(&subscription.target)
    .bind(message.payload(subscription.channel).to_string())
    .bind(now_ms)
    .bind(now)
    .fetch_one(store.pool())
    .await?
    .try_get(0)?;
    Ok(id)
}
