//! Who is told about problems: e-mail addresses and webhooks per event, and the outbox
//! of what was sent.

use crate::audit::json;
use crate::{App, AppError, Result};
use scimgate_core::AuditAction;
use scimgate_core::{OutboxEntry, OutboxStatus, Tenant};
use scimgate_notify::subscriptions::{self, NewSubscription, Subscription};
use scimgate_notify::{outbox, Channel, EventKind, NotifyError};
use scimgate_store::{Expect, Versioned};

impl App {
    pub async fn subscriptions(&self, tenant: &Tenant) -> Result<Versioned<Vec<Subscription>>> {
        Ok(subscriptions::list_versioned(&self.store, tenant).await?)
    }

    /// A webhook's signing secret is in the result, this once.
    pub async fn subscribe(
        &self,
        tenant: &Tenant,
        expect: Expect,
        channel: Channel,
        target: &str,
        events: &[EventKind],
    ) -> Result<Versioned<NewSubscription>> {
        let added = subscriptions::add(
            &self.store,
            tenant,
            channel,
            target,
            events,
            expect,
            &self.now(),
            self.webhook_targets,
        )
        .await?;
        let new = &added.value.subscription;
        let subject = format!("subscription {} ({} {})", new.id, new.channel, new.target);
        let after = json(new);
        (self.audit(tenant, AuditAction::SubscriptionAdd, subject, None, after)).await;
        Ok(added)
    }

    /// Returns the subscriptions' new version.
    pub async fn unsubscribe(&self, tenant: &Tenant, expect: Expect, id: i64) -> Result<i64> {
        let before = self.store.subscription(tenant, id).await?;
        let version = subscriptions::remove(&self.store, tenant, id, expect, &self.now())
            .await
            .map_err(no_subscription(id))?;
        let subject = match &before {
            Some(s) => format!("subscription {id} ({} {})", s.channel, s.target),
            None => format!("subscription {id}"),
        };
        let before = before.as_ref().and_then(json);
        (self.audit(
            tenant,
            AuditAction::SubscriptionRemove,
            subject,
            before,
            None,
        ))
        .await;
        Ok(version)
    }

    /// Queues a test message to one subscription; returns the outbox id.
    pub async fn test_subscription(&self, tenant: &Tenant, id: i64) -> Result<i64> {
        let now = self.clock.now();
        let queued = outbox::enqueue_test(
            &self.store,
            tenant,
            id,
            now.unix_millis(),
            &now.to_rfc3339(),
        )
        .await
        .map_err(no_subscription(id))?;
        let subject = format!("subscription {id}: test message {queued}");
        (self.audit(tenant, AuditAction::SubscriptionTest, subject, None, None)).await;
        Ok(queued)
    }

    /// Messages newest first; `status` keeps only those.
    pub async fn outbox(
        &self,
        tenant: &Tenant,
        status: Option<OutboxStatus>,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>> {
        Ok(self.store.outbox(tenant, status, limit).await?)
    }
}

/// A subscription this tenant does not have is named.
fn no_subscription(id: i64) -> impl Fn(NotifyError) -> AppError {
    move |e| match e {
        NotifyError::NotFound => AppError::NotFound(format!("no subscription {id}")),
        e => e.into(),
    }
}
