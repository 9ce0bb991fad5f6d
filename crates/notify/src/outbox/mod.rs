//! The outbox: messages written in the transaction of the event that caused them
//! (grouped by fingerprint so a recurring problem is one message), then claimed by a
//! delivery worker under a lease, retried with exponential backoff, and marked dead after
//! the last attempt. Here the grouping; the messages' wording in `message`, the queue
//! in `queue`.

mod message;
mod queue;

pub use queue::{enqueue_test, list};
pub use scimgate_core::OutboxEntry;

use crate::event::{Event, EventKind};
use crate::Result;
use message::Message;
use scimgate_core::Subscription;
use scimgate_store::notification_groups::{self as groups, GroupChange, GroupState};
use scimgate_store::outbox::{enqueue_in, NewMessage};
use scimgate_store::{Tenant, Tx};

/// An identical problem within this window is not sent again (it is counted, and the
/// next message says how often it recurred).
pub const GROUPING_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Records `events` (and the end of every open problem of the `ended` kinds that is not
/// among them) for the tenant's subscribers, inside the caller's transaction.
pub async fn record(
    tx: &mut Tx<'_>,
    tenant: &Tenant,
    events: &[Event],
    ended: &[EventKind],
    now_ms: i64,
    now: &str,
) -> Result<()> {
    let subscribers = scimgate_store::subscriptions::subscribers_in(tx, tenant).await?;
    let mut current = Vec::new();
    for event in events {
        let fingerprint = event.fingerprint(tenant.name.as_str());
        current.push(fingerprint.clone());
        let group = groups::group_in(tx, tenant, &fingerprint, event.kind, &event.cause).await?;
        if group.state != GroupState::Ended && now_ms - group.last_sent_at < GROUPING_WINDOW_MS {
            // Sent recently and not ended since: counted, not sent.
            groups::change_group_in(tx, tenant, &fingerprint, GroupChange::Recurred).await?;
            continue;
        }
        let recurred = match group.state {
            GroupState::Ended => 0,
            _ => group.recurrences,
        };
        let sent = GroupChange::Sent { at_ms: now_ms };
        groups::change_group_in(tx, tenant, &fingerprint, sent).await?;
        let message = Message::firing(tenant, event, recurred, now);
        enqueue(tx, tenant, &subscribers, event.kind, &message, now_ms, now).await?;
    }
    for kind in ended {
        // A sync.error's cause is the whole set of error messages: when the set changes,
        // the new set was just announced, and the old set is not "resolved" (some of its
        // errors may remain): it is superseded, and keeps its window.
        let superseded = *kind == EventKind::SyncError && events.iter().any(|e| e.kind == *kind);
        for group in groups::unended_in(tx, tenant, *kind).await? {
            if current.contains(&group.fingerprint) {
                continue;
            }
            let next = if superseded {
                GroupState::Superseded
            } else {
                GroupState::Ended
            };
            groups::change_group_in(tx, tenant, &group.fingerprint, GroupChange::Became(next))
                .await?;
            if superseded || group.state != GroupState::Current {
                // Superseded now, or earlier: the set that replaced it gets the "resolved".
                continue;
            }
            let message = Message::resolved(
                tenant,
                *kind,
                &group.cause,
                &group.fingerprint,
                group.recurrences,
                now,
            );
            enqueue(tx, tenant, &subscribers, *kind, &message, now_ms, now).await?;
        }
    }
    Ok(())
}

/// Queues `message` for each subscriber of `kind`, shaped for its channel.
async fn enqueue(
    tx: &mut Tx<'_>,
    tenant: &Tenant,
    subscribers: &[Subscription],
    kind: EventKind,
    message: &Message,
    now_ms: i64,
    now: &str,
) -> Result<()> {
    for subscription in subscribers.iter().filter(|s| s.events.contains(&kind)) {
        let new = NewMessage {
            subscription_id: Some(subscription.id),
            channel: subscription.channel,
            target: subscription.target.clone(),
            event: kind.name().into(),
            payload: message.payload(subscription.channel).to_string(),
        };
        enqueue_in(tx, tenant, &new, now_ms, now).await?;
    }
    Ok(())
}
