//! The outbox: messages queued for delivery (in the transaction of the event that caused
//! them), claimed by delivery workers under a lease, and marked delivered, retried or
//! dead; and the record of which accounts had their welcome e-mail.

use crate::columns::Decoded;
use crate::{Backend, Result, Store, StoreError, Tenant, Tx};
use scimgate_core::{Channel, OutboxEntry, OutboxStatus};
use sqlx::Row;
use std::collections::HashSet;

const ENTRY_COLUMNS: &str =
    "id, tenant_id, subscription_id, channel, target, event, payload, status, \
    attempts, last_error, created_at, delivered_at";

fn entry_from_row(row: &sqlx::any::AnyRow) -> Result<OutboxEntry> {
    let id: i64 = row.try_get("id")?;
    let channel: String = row.try_get("channel")?;
    let status: String = row.try_get("status")?;
    Ok(OutboxEntry {
        id,
        tenant_id: row.try_get("tenant_id")?,
        subscription_id: row.try_get("subscription_id")?,
        channel: Channel::parse(&channel)
            .ok_or_else(|| StoreError::Corrupt(format!("message {id}: channel {channel:?}")))?,
        target: row.try_get("target")?,
        event: row.try_get("event")?,
        payload: row.try_get("payload")?,
        status: OutboxStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("message {id}: status {status:?}")))?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        delivered_at: row.try_get("delivered_at")?,
    })
}

/// A message to queue, rendered.
pub struct NewMessage {
    /// `None` for messages of no subscription (welcome e-mails).
    pub subscription_id: Option<i64>,
    pub channel: Channel,
    pub target: String,
    /// An event kind's name, or `test` / `welcome`.
    pub event: String,
    pub payload: String,
}

const INSERT: &str =
    "INSERT INTO outbox (tenant_id, subscription_id, channel, target, event, payload, status,
        attempts, next_attempt_at, lease_until, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, 0, $8) RETURNING id";

/// Queues a message inside the caller's transaction, due at once; returns its id.
pub async fn enqueue_in(
    tx: &mut Tx<'_>,
    tenant: &Tenant,
    message: &NewMessage,
    now_ms: i64,
    now: &str,
) -> Result<i64> {
    Ok(sqlx::query(INSERT)
        .bind(tenant.id)
        .bind(message.subscription_id)
        .bind(message.channel.name())
        .bind(&message.target)
        .bind(&message.event)
        .bind(&message.payload)
        .bind(now_ms)
        .bind(now)
        .fetch_one(&mut *tx.conn)
        .await?
        .try_get(0)?)
}

/// The accounts of the tenant that have had their welcome e-mail.
pub async fn welcomed_in(tx: &mut Tx<'_>, tenant: &Tenant) -> Result<HashSet<i64>> {
    sqlx::query("SELECT account_pk FROM welcome_sent WHERE tenant_id = $1")
        .bind(tenant.id)
        .fetch_all(&mut *tx.conn)
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
}

/// Records that an account has its welcome e-mail; `false` when it already had one.
pub async fn mark_welcomed_in(tx: &mut Tx<'_>, tenant: &Tenant, account_pk: i64) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO welcome_sent (tenant_id, account_pk) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.id)
    .bind(account_pk)
    .execute(&mut *tx.conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// Queues one message on its own (a test message an admin asked for); returns its id.
    pub async fn enqueue(
        &self,
        tenant: &Tenant,
        message: NewMessage,
        now_ms: i64,
        now: &str,
    ) -> Result<i64> {
        let (tenant, now) = (tenant.clone(), now.to_owned());
        self.write_transaction(move |mut tx| {
            Box::pin(async move { enqueue_in(&mut tx, &tenant, &message, now_ms, &now).await })
        })
        .await
    }

    /// The tenant's messages, newest first; `status` narrows the list.
    pub async fn outbox(
        &self,
        tenant: &Tenant,
        status: Option<OutboxStatus>,
        limit: i64,
    ) -> Result<Vec<OutboxEntry>> {
        sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM outbox WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(tenant.id)
        .bind(status.map(OutboxStatus::name))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .decoded(entry_from_row)
    }

    /// Takes up to `limit` due messages for `holder` until `now_ms + lease_ms`. Messages
    /// another worker holds are skipped, so each is delivered by one worker at a time.
    /// Without `include_email`, e-mail is left to a worker that can send it.
    pub async fn claim_outbox(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
        include_email: bool,
    ) -> Result<Vec<OutboxEntry>> {
        let email = if include_email {
            ""
        } else {
            " AND channel <> 'email'"
        };
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
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
        .fetch_all(&self.pool)
        .await?
        .decoded(entry_from_row)
    }

    /// Extends `holder`'s lease on one message; `false`: the lease ran out and another
    /// worker may have the message.
    pub async fn renew_outbox_lease(&self, id: i64, holder: &str, until_ms: i64) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE outbox SET lease_until = $1 WHERE id = $2 AND lease_holder = $3 AND status = 'pending'",
        )
        .bind(until_ms)
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Records how an attempt to deliver message `id` went, releasing `holder`'s lease.
    pub async fn settle_outbox(&self, id: i64, holder: &str, attempt: Attempt<'_>) -> Result<()> {
        let (status, delivered_at, next_attempt_at, error) = match attempt {
            Attempt::Delivered { at } => (OutboxStatus::Delivered, Some(at), None, None),
            Attempt::Failed { error, retry_at_ms } => match retry_at_ms {
                Some(at) => (OutboxStatus::Pending, None, Some(at), Some(error)),
                None => (OutboxStatus::Dead, None, Some(0), Some(error)),
            },
        };
        sqlx::query(
            "UPDATE outbox SET status = $1, delivered_at = COALESCE($2, delivered_at),
                next_attempt_at = COALESCE($3, next_attempt_at), last_error = $4,
                attempts = attempts + 1, lease_holder = NULL, lease_until = 0
             WHERE id = $5 AND lease_holder = $6",
        )
        .bind(status.name())
        .bind(delivered_at)
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// How one delivery attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<'a> {
    /// Delivered at this time.
    Delivered { at: &'a str },
    /// Failed: retried at `retry_at_ms`, or dead when that is `None`.
    Failed {
        error: &'a str,
        retry_at_ms: Option<i64>,
    },
}
