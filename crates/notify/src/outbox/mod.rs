//! The outbox: messages written in the transaction of the event that caused them
//! (grouped by fingerprint so a recurring problem is one message), then claimed by a
//! delivery worker under a lease, retried with exponential backoff, and marked dead after
//! the last attempt. Here the grouping; the messages' wording in `message`, the queue
//! in `queue`.

mod message;
mod queue;

pub use queue::{
    claim, enqueue_test, list, mark_delivered, mark_failed, renew_lease, subscription_exists,
    webhook_secret, OutboxEntry,
};

use crate::event::{Event, EventKind};
use crate::subscriptions::{self, Subscription};
use crate::Result;
use message::Message;
use queue::enqueue;
use scimgate_store::Tenant;
use sqlx::Row;

/// Where a problem (one fingerprint) stands, as `notification_groups.open` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GroupState {
    /// Resolved, or never announced.
    Ended,
    /// Announced and still there.
    Current,
    /// A `sync.error` set that changed: not announced as resolved (some of its errors
    /// may remain), and still inside its window.
    Superseded,
}

impl GroupState {
    fn stored(self) -> i64 {
        match self {
            GroupState::Ended => 0,
            GroupState::Current => 1,
            GroupState::Superseded => 2,
        }
    }

    /// Any other number is taken as ended: the problem is announced afresh.
    fn read(stored: i64) -> GroupState {
        match stored {
            1 => GroupState::Current,
            2 => GroupState::Superseded,
            _ => GroupState::Ended,
        }
    }
}

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
        let state = GroupState::read(row.try_get("open")?);
        let last: i64 = row.try_get("last_sent_at")?;
        let recurrences: i64 = row.try_get("recurrences")?;
        if state != GroupState::Ended && now_ms - last < GROUPING_WINDOW_MS {
            // Sent recently and not ended since: counted, not sent.
            sqlx::query("UPDATE notification_groups SET open = $1, recurrences = recurrences + 1 WHERE tenant_id = $2 AND fingerprint = $3")
                .bind(GroupState::Current.stored())
                .bind(tenant.id)
                .bind(&fingerprint)
                .execute(&mut *conn)
                .await?;
            continue;
        }
        let recurred = if state == GroupState::Ended {
            0
        } else {
            recurrences
        };
        sqlx::query("UPDATE notification_groups SET open = $1, last_sent_at = $2, recurrences = 0 WHERE tenant_id = $3 AND fingerprint = $4")
            .bind(GroupState::Current.stored())
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
            "SELECT fingerprint, cause, recurrences, open FROM notification_groups WHERE tenant_id = $1 AND kind = $2 AND open <> $3",
        )
        .bind(tenant.id)
        .bind(kind.name())
        .bind(GroupState::Ended.stored())
        .fetch_all(&mut *conn)
        .await?;
        for row in open {
            let fingerprint: String = row.try_get("fingerprint")?;
            if current.contains(&fingerprint) {
                continue;
            }
            let state = GroupState::read(row.try_get("open")?);
            if superseded {
                sqlx::query("UPDATE notification_groups SET open = $1 WHERE tenant_id = $2 AND fingerprint = $3")
                    .bind(GroupState::Superseded.stored())
                    .bind(tenant.id)
                    .bind(&fingerprint)
                    .execute(&mut *conn)
                    .await?;
                continue;
            }
            sqlx::query(
                "UPDATE notification_groups SET open = $1 WHERE tenant_id = $2 AND fingerprint = $3",
            )
            .bind(GroupState::Ended.stored())
            .bind(tenant.id)
            .bind(&fingerprint)
            .execute(&mut *conn)
            .await?;
            if state != GroupState::Current {
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
