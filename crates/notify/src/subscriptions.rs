//! Who receives which events: e-mail addresses and webhook URLs, per tenant.

use crate::target::TargetPolicy;
use crate::{EventKind, NotifyError, Result};
use scimgate_store::edits::{self, Aggregate, Expect, Versioned};
use scimgate_store::{Store, Tenant};
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        match text {
            "email" => Some(Channel::Email),
            "webhook" => Some(Channel::Webhook),
            _ => None,
        }
    }

    /// [`Channel::parse`], or a message naming the valid channels.
    pub fn parse_named(text: &str) -> Result<Channel, String> {
        Channel::parse(text).ok_or_else(|| {
            format!(
                "unknown channel {text:?} (channels: {}, {})",
                Channel::Email.name(),
                Channel::Webhook.name()
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

/// A new webhook's signing secret, shown once.
pub struct NewSubscription {
    pub subscription: Subscription,
    pub secret: Option<String>,
}

impl std::fmt::Debug for NewSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSubscription")
            .field("subscription", &self.subscription)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn check_target(channel: Channel, target: &str, policy: TargetPolicy) -> Result<()> {
    let ok = match channel {
        // Enough to catch a paste of the wrong thing; the SMTP server has the last word.
        Channel::Email => {
            target
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
                && !target
                    .chars()
                    .any(|c| c.is_whitespace() || c == ',' || c == ';')
        }
        Channel::Webhook => {
            crate::target::check_webhook_url(target, policy)?;
            true
        }
    };
    if ok {
        Ok(())
    } else {
        Err(NotifyError::Invalid(match channel {
            Channel::Email => format!("{target:?} is not an e-mail address"),
            Channel::Webhook => format!("{target:?} is not an http:// or https:// URL"),
        }))
    }
}

fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| NotifyError::Corrupt(format!("no randomness for a secret: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Adds a subscription if `expect` is still the subscriptions' version.
#[allow(clippy::too_many_arguments)]
pub async fn add(
    store: &Store,
    tenant: &Tenant,
    channel: Channel,
    target: &str,
    events: &[EventKind],
    expect: Expect,
    now: &str,
    policy: TargetPolicy,
) -> Result<Versioned<NewSubscription>> {
    let target = target.trim();
    check_target(channel, target, policy)?;
    if events.is_empty() {
        return Err(NotifyError::Invalid(format!(
            "name at least one event: {}",
            EventKind::ALL.map(EventKind::name).join(", ")
        )));
    }
    let mut events = events.to_vec();
    events.sort_by_key(|k| k.name());
    events.dedup();
    let secret = match channel {
        Channel::Webhook => Some(new_secret()?),
        Channel::Email => None,
    };
    let events_json =
        serde_json::to_string(&events).map_err(|e| NotifyError::Corrupt(e.to_string()))?;
    let (tenant, row_target, row_secret, row_now) = (
        tenant.clone(),
        target.to_owned(),
        secret.clone(),
        now.to_owned(),
    );
    let (version, id) = store
        .write_transaction(move |conn| {
            Box::pin(async move {
                let version = edits::bump(conn, &tenant, Aggregate::Subscriptions, expect, &row_now)
                    .await?;
                let id: i64 = sqlx::query(
                    "INSERT INTO subscriptions (tenant_id, channel, target, events, secret, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(tenant.id)
                .bind(channel.name())
                .bind(&row_target)
                .bind(events_json)
                .bind(&row_secret)
                .bind(&row_now)
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
                Ok::<_, NotifyError>((version, id))
            })
        })
        .await?;
    Ok(Versioned {
        version,
        value: NewSubscription {
            subscription: Subscription {
                id,
                channel,
                target: target.to_owned(),
                events,
                created_at: now.to_owned(),
            },
            secret,
        },
    })
}

pub(crate) fn from_row(row: &sqlx::any::AnyRow) -> Result<Subscription> {
    let id: i64 = row.try_get("id")?;
    let channel: String = row.try_get("channel")?;
    let events: String = row.try_get("events")?;
    Ok(Subscription {
        id,
        channel: Channel::parse(&channel).ok_or_else(|| {
            NotifyError::Corrupt(format!("subscription {id}: channel {channel:?}"))
        })?,
        target: row.try_get("target")?,
        events: serde_json::from_str(&events)
            .map_err(|e| NotifyError::Corrupt(format!("subscription {id}: events: {e}")))?,
        created_at: row.try_get("created_at")?,
    })
}

/// The subscriptions with their version.
pub async fn list_versioned(
    store: &Store,
    tenant: &Tenant,
) -> Result<Versioned<Vec<Subscription>>> {
    let version = store.edit_version(tenant, Aggregate::Subscriptions).await?;
    let value = list(store, tenant).await?;
    Ok(Versioned { version, value })
}

pub async fn list(store: &Store, tenant: &Tenant) -> Result<Vec<Subscription>> {
    sqlx::query(
        "SELECT id, channel, target, events, created_at FROM subscriptions WHERE tenant_id = $1 ORDER BY id",
    )
    .bind(tenant.id)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Removes a subscription if `expect` is still the subscriptions' version; returns the
/// new version.
pub async fn remove(
    store: &Store,
    tenant: &Tenant,
    id: i64,
    expect: Expect,
    now: &str,
) -> Result<i64> {
    let (tenant, now) = (tenant.clone(), now.to_owned());
    store
        .write_transaction(move |conn| {
            Box::pin(async move {
                let done =
                    sqlx::query("DELETE FROM subscriptions WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.id)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                if done.rows_affected() == 0 {
                    return Err(NotifyError::NotFound);
                }
                Ok(edits::bump(conn, &tenant, Aggregate::Subscriptions, expect, &now).await?)
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_checked_per_channel() {
        let strict = TargetPolicy::PUBLIC_ONLY;
        assert!(check_target(Channel::Email, "ops@acme.no", strict).is_ok());
        for bad in ["ops", "@acme.no", "ops@acme", "a@b.no, c@d.no", "a b@c.no"] {
            assert!(check_target(Channel::Email, bad, strict).is_err(), "{bad}");
        }
        assert!(check_target(Channel::Webhook, "https://hooks.acme.no/scim", strict).is_ok());
        for bad in ["ftp://x.no", "hooks.acme.no", "https://", "https://a b"] {
            assert!(
                check_target(Channel::Webhook, bad, strict).is_err(),
                "{bad}"
            );
        }
    }
}
