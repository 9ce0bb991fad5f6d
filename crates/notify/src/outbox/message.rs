//! What a notification says, and its shape per channel: `{subject, text, html}` for
//! e-mail, the message itself for webhooks.

use crate::event::{Event, EventKind};
use crate::subscriptions::{Channel, Subscription};
use scimgate_store::Tenant;
use serde::Serialize;
use serde_json::json;

/// What one message says, before it is shaped for a channel.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Message {
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
    pub(super) fn firing(tenant: &Tenant, event: &Event, recurrences: i64, now: &str) -> Message {
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

    pub(super) fn resolved(
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

    /// What "send a test message" sends to one subscription.
    pub(super) fn test(tenant: &Tenant, subscription: &Subscription, now: &str) -> Message {
        Message {
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
        }
    }

    /// `{subject, text, html}` for e-mail; the message itself for webhooks.
    pub(super) fn payload(&self, channel: Channel) -> serde_json::Value {
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
