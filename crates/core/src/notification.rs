//! Notifications as the rest of scimgate sees them: the events admins subscribe to, the
//! channels that carry them, subscriptions, and the messages queued in the outbox.

use crate::named::named;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// A run with user errors.
    #[serde(rename = "sync.error")]
    SyncError,
    /// A run that could not complete.
    #[serde(rename = "sync.failed")]
    SyncFailed,
    /// The mass-deprovision guard held a run.
    #[serde(rename = "sync.held")]
    SyncHeld,
    /// A user plan ran out of seats.
    #[serde(rename = "seats.exhausted")]
    SeatsExhausted,
    /// A burst of rejected SCIM tokens.
    #[serde(rename = "scim.auth_failures")]
    ScimAuthFailures,
}

named!(EventKind {
    SyncError => "sync.error",
    SyncFailed => "sync.failed",
    SyncHeld => "sync.held",
    SeatsExhausted => "seats.exhausted",
    ScimAuthFailures => "scim.auth_failures",
});

impl EventKind {
    /// [`EventKind::parse`], or a message naming the valid kinds (for the API and CLI).
    pub fn parse_named(text: &str) -> Result<EventKind, String> {
        EventKind::parse(text)
            .ok_or_else(|| format!("unknown event {text:?} (events: {})", EventKind::names()))
    }

    /// Every kind's name, comma-separated, for messages.
    pub fn names() -> String {
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
        names.join(", ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Webhook,
}

named!(Channel {
    Email => "email",
    Webhook => "webhook",
});

impl Channel {
    /// [`Channel::parse`], or a message naming the valid channels.
    pub fn parse_named(text: &str) -> Result<Channel, String> {
        Channel::parse(text).ok_or_else(|| {
            format!(
                "unknown channel {text:?} (channels: {}, {})",
                Channel::Email,
                Channel::Webhook
            )
        })
    }
}

/// A subscription as listed: the webhook secret is never part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub id: i64,
    pub channel: Channel,
    pub target: String,
    pub events: Vec<EventKind>,
    pub created_at: String,
}

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for (another) delivery attempt.
    Pending,
    Delivered,
    /// Given up on: the last attempt failed, or the failure was final.
    Dead,
}

named!(OutboxStatus {
    Pending => "pending",
    Delivered => "delivered",
    Dead => "dead",
});

impl OutboxStatus {
    /// [`OutboxStatus::parse`], or a message naming the valid statuses.
    pub fn parse_named(text: &str) -> Result<OutboxStatus, String> {
        OutboxStatus::parse(text)
            .ok_or_else(|| format!("status {text:?}: use pending, delivered or dead"))
    }
}

/// A queued message, as the admin API lists it and the worker delivers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    pub id: i64,
    /// `None` for messages of no subscription (welcome e-mails).
    pub subscription_id: Option<i64>,
    pub channel: Channel,
    pub target: String,
    /// An [`EventKind`]'s name, or `test` / `welcome`.
    pub event: String,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// What is sent (rendered when queued).
    #[serde(skip)]
    pub payload: String,
    #[serde(skip)]
    pub tenant_id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_serialize_as_stored() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.name()), Some(*k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
        for c in Channel::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }
        for s in OutboxStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
        assert!(EventKind::parse_named("sync.oops")
            .unwrap_err()
            .contains("sync.error, sync.failed"));
        assert!(OutboxStatus::Dead == "dead");
    }
}
