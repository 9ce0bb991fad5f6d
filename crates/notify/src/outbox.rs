//! The outbox: messages written in the transaction of the event that caused them
//! (grouped by fingerprint so a recurring problem is one message), then claimed by a
//! delivery worker under a lease, retried with exponential backoff, and marked dead after
//! the last attempt.

use crate::event::{Event, EventKind};
use crate::subscriptions::{self, Channel, Subscription};
use crate::{NotifyError, Result};
use scimgate_store::{Store, Tenant};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

/// An identical problem within this window is not sent again (it is counted, and the
/// next message says how often it recurred).
pub const GROUPING_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Records `events` (and the end of every open problem of the `ended` kinds that is not
/// among them) for the tenant's subscribers, on `conn` inside the caller's transaction.
pub async fn record(
    conn: &mut sqlx::AnyConnection,
    tenant: &Tenant,
    events: &[Event],
    ended: &[EventKind],
    now_ms: i64,
    now: &str,
) -> Result<()> {
    let subscribers: Vec<(Subscription, Option<String>)> = sqlx::query(
        "SELECT id, channel, target, events, created_at, secret FROM subscriptions WHERE tenant_id = $1 ORDER BY id",
    )
    .bind(tenant.id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|row| Ok((subscriptions::from_row(row)?, row.try_get("secret")?)))
    .collect::<Result<_>>()?;
    // Group states: 1 = current (announced, still there); 2 = superseded (a sync.error
    // set that changed: not announced as resolved, and still inside its window); 0 =
    // ended (resolved, or never announced).
    let lock = match conn.backend_name() {
        "PostgreSQL" => " FOR UPDATE",
        _ => "",
    };
    let mut current = Vec::new();
    for event in events {
        let fingerprint = event.fingerprint(tenant.name.as_str());
        current.push(fingerprint.clone());
        // Insert-if-absent, then read it locked: two replicas recording the same problem
        // at once take turns instead of both deciding to send.
        sqlx::query(
            "INSERT INTO notification_groups (tenant_id, fingerprint, kind, cause, open, last_sent_at, recurrences)
             VALUES ($1, $2, $3, $4, 0, 0, 0) ON CONFLICT (tenant_id, fingerprint) DO NOTHING",
        )
        .bind(tenant.id)
        .bind(&fingerprint)
        .bind(event.kind.name())
        .bind(&event.cause)
        .execute(&mut *conn)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT open, last_sent_at, recurrences FROM notification_groups
             WHERE tenant_id = $1 AND fingerprint = $2{lock}"
        ))
        .bind(tenant.id)
        .bind(&fingerprint)
        .fetch_one(&mut *conn)
        .await?;
        let open: i64 = row.try_get("open")?;
        let last: i64 = row.try_get("last_sent_at")?;
        let recurrences: i64 = row.try_get("recurrences")?;
        if open != 0 && now_ms - last < GROUPING_WINDOW_MS {
            // Sent recently and not ended since: counted, not sent.
            sqlx::query("UPDATE notification_groups SET open = 1, recurrences = recurrences + 1 WHERE tenant_id = $1 AND fingerprint = $2")
                .bind(tenant.id)
                .bind(&fingerprint)
                .execute(&mut *conn)
                .await?;
            continue;
        }
        let recurred = if open != 0 { recurrences } else { 0 };
        sqlx::query("UPDATE notification_groups SET open = 1, last_sent_at = $1, recurrences = 0 WHERE tenant_id = $2 AND fingerprint = $3")
            .bind(now_ms)
            .bind(tenant.id)
            .bind(&fingerprint)
            .execute(&mut *conn)
            .await?;
        let message = Message::firing(tenant, event, recurred, now);
        enqueue(
            conn,
            tenant,
            &subscribers,
            event.kind,
            &message,
            now_ms,
            now,
        )
        .await?;
    }
    for kind in ended {
        // A sync.error's cause is the whole set of error messages: when the set changes,
        // the new set was just announced, and the old set is not "resolved" (some of its
        // errors may remain): it is superseded, and keeps its window.
        let superseded = *kind == EventKind::SyncError && events.iter().any(|e| e.kind == *kind);
        let open = sqlx::query(
            "SELECT fingerprint, cause, recurrences, open FROM notification_groups WHERE tenant_id = $1 AND kind = $2 AND open <> 0",
        )
        .bind(tenant.id)
        .bind(kind.name())
        .fetch_all(&mut *conn)
        .await?;
        for row in open {
            let fingerprint: String = row.try_get("fingerprint")?;
            if current.contains(&fingerprint) {
                continue;
            }
            let state: i64 = row.try_get("open")?;
            if superseded {
                sqlx::query("UPDATE notification_groups SET open = 2 WHERE tenant_id = $1 AND fingerprint = $2")
                    .bind(tenant.id)
                    .bind(&fingerprint)
                    .execute(&mut *conn)
                    .await?;
                continue;
            }
            sqlx::query(
                "UPDATE notification_groups SET open = 0 WHERE tenant_id = $1 AND fingerprint = $2",
            )
            .bind(tenant.id)
            .bind(&fingerprint)
            .execute(&mut *conn)
            .await?;
            if state != 1 {
                // Superseded earlier: the set that replaced it gets the "resolved".
                continue;
            }
            let cause: String = row.try_get("cause")?;
            let recurrences: i64 = row.try_get("recurrences")?;
            let message = Message::resolved(tenant, *kind, &cause, &fingerprint, recurrences, now);
            enqueue(conn, tenant, &subscribers, *kind, &message, now_ms, now).await?;
        }
    }
    Ok(())
}

/// What one message says, before it is shaped for a channel.
#[derive(Debug, Clone, Serialize)]
struct Message {
    event: &'static str,
    status: &'static str,
    tenant: String,
    title: String,
    details: Vec<String>,
    run_id: Option<i64>,
    /// How often the problem recurred since the previous message about it.
    recurrences: i64,
    fingerprint: String,
    occurred_at: String,
}

impl Message {
    fn firing(tenant: &Tenant, event: &Event, recurrences: i64, now: &str) -> Message {
        let mut details = event.details.clone();
        if recurrences > 0 {
            details.insert(
                0,
                format!(
                    "This problem recurred {recurrences} times since the last message about it."
                ),
            );
        }
        Message {
            event: event.kind.name(),
            status: "firing",
            tenant: tenant.name.to_string(),
            title: event.title.clone(),
            details,
            run_id: event.run_id,
            recurrences,
            fingerprint: event.fingerprint(&tenant.name.to_string()),
            occurred_at: now.to_owned(),
        }
    }

    fn resolved(
        tenant: &Tenant,
        kind: EventKind,
        cause: &str,
        fingerprint: &str,
        recurrences: i64,
        now: &str,
    ) -> Message {
        let first_line = cause.lines().next().unwrap_or_default();
        Message {
            event: kind.name(),
            status: "resolved",
            tenant: tenant.name.to_string(),
            title: format!("resolved: {}", resolved_title(kind, first_line)),
            details: vec![format!(
                "The last sync no longer shows this problem ({} recurrences since the last message).",
                recurrences
            )],
            run_id: None,
            recurrences,
            fingerprint: fingerprint.to_owned(),
            occurred_at: now.to_owned(),
        }
    }

    /// `{subject, text, html}` for e-mail; the message itself for webhooks.
    fn payload(&self, channel: Channel) -> serde_json::Value {
        match channel {
            Channel::Webhook => json!(self),
            Channel::Email => {
                let subject = format!("[scimgate] {}: {}", self.tenant, self.title);
                let mut text = format!("Tenant {}: {}\n\n", self.tenant, self.title);
                for line in &self.details {
                    text.push_str(line);
                    text.push('\n');
                }
                let mut html = format!(
                    "<p>Tenant <b>{}</b>: {}</p>\n<ul>\n",
                    escape(&self.tenant),
                    escape(&self.title)
                );
                for line in &self.details {
                    html.push_str(&format!("<li>{}</li>\n", escape(line)));
                }
                html.push_str("</ul>\n");
                json!({"subject": subject, "text": text, "html": html})
            }
        }
    }
}

fn resolved_title(kind: EventKind, cause: &str) -> String {
    match kind {
        EventKind::SyncError => format!("users that could not be synced ({cause})"),
        EventKind::SyncFailed => format!("the sync completes again ({cause})"),
        EventKind::SyncHeld => "no sync is held any more".into(),
        EventKind::SeatsExhausted => format!("user plan {cause:?} has free seats again"),
        EventKind::ScimAuthFailures => "rejected SCIM tokens stopped".into(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn enqueue(
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
    let message = Message {
        event: "test",
        status: "test",
        tenant: tenant.name.to_string(),
        title: "test message".into(),
        details: vec![format!(
            "This is a test of subscription {} ({} {}). It receives: {}.",
            subscription.id,
            subscription.channel.name(),
            subscription.target,
            subscription
                .events
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        )],
        run_id: None,
        recurrences: 0,
        fingerprint: String::new(),
        occurred_at: now.to_owned(),
    };
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
