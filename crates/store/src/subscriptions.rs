//! Notification subscriptions: who receives which events, per tenant. A webhook's signing
//! secret is stored here and never listed.

use crate::columns::Decoded;
use crate::edits::{self, Aggregate};
use crate::{Expect, Result, Store, StoreError, Tenant, Tx, Versioned};
use scimgate_core::{Channel, EventKind, Subscription};
use sqlx::Row;

const COLUMNS: &str = "id, channel, target, events, created_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Subscription> {
    let id: i64 = row.try_get("id")?;
    let channel: String = row.try_get("channel")?;
    let events: String = row.try_get("events")?;
    Ok(Subscription {
        id,
        channel: Channel::parse(&channel).ok_or_else(|| {
            StoreError::Corrupt(format!("subscription {id}: channel {channel:?}"))
        })?,
        target: row.try_get("target")?,
        events: serde_json::from_str(&events)
            .map_err(|e| StoreError::Corrupt(format!("subscription {id}: events: {e}")))?,
        created_at: row.try_get("created_at")?,
    })
}

/// A subscription to add: checked by the caller (the notifier knows valid targets).
pub struct NewSubscription<'a> {
    pub channel: Channel,
    pub target: &'a str,
    pub events: &'a [EventKind],
    /// A webhook's signing secret.
    pub secret: Option<&'a str>,
}

/// The tenant's subscriptions, inside a write transaction (a run recording its
/// notifications reads who receives them in the same transaction).
pub async fn subscribers_in(tx: &mut Tx<'_>, tenant: &Tenant) -> Result<Vec<Subscription>> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1 ORDER BY id"
    ))
    .bind(tenant.id)
    .fetch_all(&mut *tx.conn)
    .await?
    .decoded(from_row)
}

impl Store {
    /// Adds a subscription if `expect` is still the subscriptions' version; returns the
    /// new version and the subscription's id.
    pub async fn add_subscription(
        &self,
        tenant: &Tenant,
        new: NewSubscription<'_>,
        expect: Expect,
        now: &str,
    ) -> Result<(i64, i64)> {
        let events =
            serde_json::to_string(new.events).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (tenant, target, secret, now) = (
            tenant.clone(),
            new.target.to_owned(),
            new.secret.map(str::to_owned),
            now.to_owned(),
        );
        let channel = new.channel;
        self.write_conn(move |conn| {
            Box::pin(async move {
                let version =
                    edits::bump(conn, &tenant, Aggregate::Subscriptions, expect, &now).await?;
                let id: i64 = sqlx::query(
                    "INSERT INTO subscriptions (tenant_id, channel, target, events, secret, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(tenant.id)
                .bind(channel.name())
                .bind(&target)
                .bind(events)
                .bind(&secret)
                .bind(&now)
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
                Ok((version, id))
            })
        })
        .await
    }

    pub async fn subscriptions(&self, tenant: &Tenant) -> Result<Vec<Subscription>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await?
        .decoded(from_row)
    }

    /// The subscriptions with their version.
    pub async fn subscriptions_versioned(
        &self,
        tenant: &Tenant,
    ) -> Result<Versioned<Vec<Subscription>>> {
        let version = self.edit_version(tenant, Aggregate::Subscriptions).await?;
        let value = self.subscriptions(tenant).await?;
        Ok(Versioned { version, value })
    }

    /// One subscription (a tenant has a handful: read from the list).
    pub async fn subscription(&self, tenant: &Tenant, id: i64) -> Result<Option<Subscription>> {
        let all = self.subscriptions(tenant).await?;
        Ok(all.into_iter().find(|s| s.id == id))
    }

    /// What the delivery worker needs of a message's subscription: `None` when it was
    /// removed; else its webhook secret, if it has one.
    pub async fn subscription_secret(
        &self,
        tenant_id: i64,
        id: i64,
    ) -> Result<Option<Option<String>>> {
        sqlx::query("SELECT secret FROM subscriptions WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| Ok(row.try_get(0)?))
            .transpose()
    }

    /// Removes a subscription if `expect` is still the subscriptions' version; returns the
    /// new version. [`StoreError::NotFound`] when the tenant has no such subscription.
    pub async fn remove_subscription(
        &self,
        tenant: &Tenant,
        id: i64,
        expect: Expect,
        now: &str,
    ) -> Result<i64> {
        let (tenant, now) = (tenant.clone(), now.to_owned());
        self.write_conn(move |conn| {
            Box::pin(async move {
                let done =
                    sqlx::query("DELETE FROM subscriptions WHERE tenant_id = $1 AND id = $2")
                        .bind(tenant.id)
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                edits::bump(conn, &tenant, Aggregate::Subscriptions, expect, &now).await
            })
        })
        .await
    }
}
