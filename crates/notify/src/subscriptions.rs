//! Who receives which events: e-mail addresses and webhook URLs, per tenant.

use crate::target::TargetPolicy;
use crate::{EventKind, NotifyError, Result};
pub use scimgate_core::{Channel, Subscription};
use scimgate_store::{Expect, Store, Tenant, Versioned};

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
            EventKind::names()
        )));
    }
    let mut events = events.to_vec();
    events.sort_by_key(|k| k.name());
    events.dedup();
    let secret = match channel {
        Channel::Webhook => Some(new_secret()?),
        Channel::Email => None,
    };
    let (version, id) = store
        .add_subscription(
            tenant,
            scimgate_store::NewSubscription {
                channel,
                target,
                events: &events,
                secret: secret.as_deref(),
            },
            expect,
            now,
        )
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

/// The subscriptions with their version.
pub async fn list_versioned(
    store: &Store,
    tenant: &Tenant,
) -> Result<Versioned<Vec<Subscription>>> {
    Ok(store.subscriptions_versioned(tenant).await?)
}

pub async fn list(store: &Store, tenant: &Tenant) -> Result<Vec<Subscription>> {
    Ok(store.subscriptions(tenant).await?)
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
    match store.remove_subscription(tenant, id, expect, now).await {
        Err(scimgate_store::StoreError::NotFound) => Err(NotifyError::NotFound),
        removed => Ok(removed?),
    }
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
