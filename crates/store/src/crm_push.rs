//! Pushing accounts to a tenant's CRM target (a SCIM 2.0 application or a signed
//! webhook): where the target is, and the queue of account changes to push.
//!
//! A change is queued in the transaction that changes the account, so a committed sync
//! never loses a push. A queued row names the account, not the change: the deliverer
//! sends the account as it is when sending, and one account's rows go one at a time in
//! id order (a row waits while an earlier one of its account is pending or dead), so the
//! target ends with the latest state, reached in order.

use crate::columns::Decoded;
use crate::edits::{self, Aggregate, Expect, Versioned};
use crate::{Backend, Result, Store, StoreError, Tenant};
pub use scimgate_core::{DeadPush, PushCounts};
use sqlx::{AnyConnection, Row};

/// What kind of application a tenant's accounts are pushed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A SCIM 2.0 service provider: users created, updated and deactivated over SCIM.
    Scim,
    /// An HTTPS endpoint that gets each account as signed JSON.
    Webhook,
}

impl TargetKind {
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Scim => "scim",
            TargetKind::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<TargetKind> {
        match text {
            "scim" => Some(TargetKind::Scim),
            "webhook" => Some(TargetKind::Webhook),
            _ => None,
        }
    }
}

/// A tenant's CRM target as stored: the secret only sealed (see the crm crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmTargetRow {
    pub kind: TargetKind,
    pub url: String,
    pub sealed_secret: String,
    /// Deprovisioned accounts' users are deleted on the target, not deactivated.
    pub delete_on_deprovision: bool,
    /// Where each account setting goes (YAML, as the admin wrote it); `None`: the default.
    pub mapping: Option<String>,
    /// Access tokens come from this OAuth 2.0 client (client credentials grant), its
    /// secret sealed in `sealed_secret`; `None`: `sealed_secret` is the bearer token.
    pub oauth2: Option<OAuth2Client>,
    /// Reconcile every this many hours; `None`: on demand only.
    pub reconcile_hours: Option<u32>,
    pub updated_at: String,
}

/// An OAuth 2.0 client that gets access tokens with the client credentials grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Client {
    pub token_url: String,
    pub client_id: String,
    /// The scope asked for; `None`: the client's default.
    pub scope: Option<String>,
}

/// One queued push, as a deliverer claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEntry {
    pub id: i64,
    pub tenant_id: i64,
    pub account_pk: i64,
    pub attempts: i64,
}

/// A target saved: the CRM target's new version and how many pushes it queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetSaved {
    pub version: i64,
    pub queued: u64,
}

/// How one push attempt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushAttempt<'a> {
    Delivered {
        at: &'a str,
    },
    /// Failed: tried again at `retry_at_ms`, or dead (and its account's later pushes
    /// held) when that is `None`.
    Failed {
        error: &'a str,
        retry_at_ms: Option<i64>,
    },
}

/// Pushes queued per statement (three binds each, well under both databases' limits).
const QUEUE_CHUNK: usize = 1_000;

/// Queues a push for each account in `pks`, inside the caller's transaction, when the
/// tenant has a CRM target; without one, nothing is queued.
pub(crate) async fn queue_in(
    conn: &mut AnyConnection,
    tenant_id: i64,
    pks: &[i64],
    now: &str,
) -> Result<()> {
    let has_target = sqlx::query("SELECT 1 FROM crm_targets WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if !has_target || pks.is_empty() {
        return Ok(());
    }
    let now_ms = scimgate_core::Timestamp::parse_rfc3339(now)
        .map(|t| t.unix_millis())
        .ok_or_else(|| StoreError::Corrupt(format!("not a time: {now:?}")))?;
    for chunk in pks.chunks(QUEUE_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|n| format!("($1, ${}, 'pending', $2, $3)", n + 4))
            .collect();
        let sql = format!(
            "INSERT INTO crm_push (tenant_id, account_pk, status, next_attempt_at, created_at)
             VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(tenant_id).bind(now_ms).bind(now);
        for pk in chunk {
            query = query.bind(*pk);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every account of the tenant forgets the user it was linked to on a target.
async fn unlink_all(conn: &mut AnyConnection, tenant_id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE crm_accounts SET target_id = NULL, target_groups = NULL
         WHERE tenant_id = $1 AND (target_id IS NOT NULL OR target_groups IS NOT NULL)",
    )
    .bind(tenant_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The pks of every account of the tenant, ascending.
async fn account_pks(conn: &mut AnyConnection, tenant_id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query("SELECT pk FROM crm_accounts WHERE tenant_id = $1 ORDER BY pk")
        .bind(tenant_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get(0))
        .collect::<std::result::Result<_, _>>()?)
}

fn target_from_row(row: &sqlx::any::AnyRow) -> Result<CrmTargetRow> {
    let kind: String = row.try_get("kind")?;
    Ok(CrmTargetRow {
        kind: TargetKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("CRM target kind {kind:?}")))?,
        url: row.try_get("url")?,
        sealed_secret: row.try_get("secret")?,
        delete_on_deprovision: row.try_get::<i64, _>("delete_on_deprovision")? != 0,
        mapping: row.try_get("mapping")?,
        oauth2: match row.try_get::<Option<String>, _>("token_url")? {
            None => None,
            Some(token_url) => Some(OAuth2Client {
                token_url,
                client_id: row
                    .try_get::<Option<String>, _>("client_id")?
                    .unwrap_or_default(),
                scope: row.try_get("scope")?,
            }),
        },
        reconcile_hours: (row.try_get::<Option<i64>, _>("reconcile_hours")?)
            .and_then(|h| u32::try_from(h).ok()),
        updated_at: row.try_get("updated_at")?,
    })
}

fn push_from_row(row: &sqlx::any::AnyRow) -> Result<PushEntry> {
    Ok(PushEntry {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        account_pk: row.try_get("account_pk")?,
        attempts: row.try_get("attempts")?,
    })
}

impl Store {
    /// Sets (or replaces) the tenant's CRM target. Accounts changed from now on are
    /// pushed to it; `push_all` also queues every existing account (a first push). A
    /// target at another URL is another application: the accounts' links to the old
    /// one's users are dropped (they are found again by externalId and userName).
    pub async fn set_crm_target(
        &self,
        tenant: &Tenant,
        target: &CrmTargetRow,
        push_all: bool,
        expect: Expect,
    ) -> Result<TargetSaved> {
        let (tenant, target) = (tenant.clone(), target.clone());
        self.write_conn(move |conn| {
            Box::pin(async move {
                let tenant_id = tenant.id;
                let version = edits::bump(
                    conn,
                    &tenant,
                    Aggregate::CrmTarget,
                    expect,
                    &target.updated_at,
                )
                .await?;
                let before = sqlx::query("SELECT kind, url FROM crm_targets WHERE tenant_id = $1")
                    .bind(tenant_id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|row| -> Result<(String, String)> {
                        Ok((row.try_get(0)?, row.try_get(1)?))
                    })
                    .transpose()?;
                if before != Some((target.kind.name().to_owned(), target.url.clone())) {
                    unlink_all(conn, tenant_id).await?;
                }
                sqlx::query(
                    "INSERT INTO crm_targets
                        (tenant_id, kind, url, secret, updated_at, delete_on_deprovision, mapping,
                         token_url, client_id, scope, reconcile_hours, next_reconcile_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0)
                     ON CONFLICT (tenant_id) DO UPDATE SET kind = excluded.kind,
                        url = excluded.url, secret = excluded.secret,
                        updated_at = excluded.updated_at,
                        delete_on_deprovision = excluded.delete_on_deprovision,
                        mapping = excluded.mapping, token_url = excluded.token_url,
                        client_id = excluded.client_id, scope = excluded.scope,
                        reconcile_hours = excluded.reconcile_hours, next_reconcile_at = 0,
                        last_reconcile = NULL",
                )
                .bind(tenant_id)
                .bind(target.kind.name())
                .bind(&target.url)
                .bind(&target.sealed_secret)
                .bind(&target.updated_at)
                .bind(i64::from(target.delete_on_deprovision))
                .bind(&target.mapping)
                .bind(target.oauth2.as_ref().map(|o| &o.token_url))
                .bind(target.oauth2.as_ref().map(|o| &o.client_id))
                .bind(target.oauth2.as_ref().and_then(|o| o.scope.as_ref()))
                .bind(target.reconcile_hours.map(i64::from))
                .execute(&mut *conn)
                .await?;
                if !push_all {
                    return Ok(TargetSaved { version, queued: 0 });
                }
                let pks = account_pks(conn, tenant_id).await?;
                queue_in(conn, tenant_id, &pks, &target.updated_at).await?;
                let queued = pks.len() as u64;
                Ok(TargetSaved { version, queued })
            })
        })
        .await
    }

    /// The tenant's CRM target; `None`: accounts stay in scimgate's own table only.
    pub async fn crm_target(&self, tenant: &Tenant) -> Result<Option<CrmTargetRow>> {
        sqlx::query(
            "SELECT kind, url, secret, updated_at, delete_on_deprovision, mapping,
                token_url, client_id, scope, reconcile_hours
             FROM crm_targets WHERE tenant_id = $1",
        )
        .bind(tenant.id)
        .fetch_optional(&self.pool)
        .await?
        .decoded(target_from_row)
    }

    /// The tenant's CRM target with the version an edit names.
    pub async fn crm_target_versioned(
        &self,
        tenant: &Tenant,
    ) -> Result<Versioned<Option<CrmTargetRow>>> {
        let version = self.edit_version(tenant, Aggregate::CrmTarget).await?;
        let value = self.crm_target(tenant).await?;
        Ok(Versioned { version, value })
    }

    /// Removes the tenant's CRM target and its queued pushes; returns the new version.
    /// [`StoreError::NotFound`] when it had none.
    pub async fn clear_crm_target(
        &self,
        tenant: &Tenant,
        expect: Expect,
        now: &str,
    ) -> Result<i64> {
        let (tenant, now) = (tenant.clone(), now.to_owned());
        self.write_conn(move |conn| {
            Box::pin(async move {
                let tenant_id = tenant.id;
                let version =
                    edits::bump(conn, &tenant, Aggregate::CrmTarget, expect, &now).await?;
                let done = sqlx::query("DELETE FROM crm_targets WHERE tenant_id = $1")
                    .bind(tenant_id)
                    .execute(&mut *conn)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                sqlx::query("DELETE FROM crm_push WHERE tenant_id = $1")
                    .bind(tenant_id)
                    .execute(&mut *conn)
                    .await?;
                unlink_all(conn, tenant_id).await?;
                Ok(version)
            })
        })
        .await
    }

    /// The tenant's dead pushes, newest first: what an admin sees to fix the target.
    pub async fn dead_pushes(&self, tenant: &Tenant, limit: i64) -> Result<Vec<DeadPush>> {
        sqlx::query(
            "SELECT p.id, p.account_pk, a.username, p.attempts, p.last_error, p.created_at
             FROM crm_push p LEFT JOIN crm_accounts a
               ON a.tenant_id = p.tenant_id AND a.pk = p.account_pk
             WHERE p.tenant_id = $1 AND p.status = 'dead'
             ORDER BY p.id DESC LIMIT $2",
        )
        .bind(tenant.id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .decoded(|row| {
            Ok(DeadPush {
                id: row.try_get("id")?,
                account_pk: row.try_get("account_pk")?,
                username: row.try_get("username")?,
                attempts: row.try_get("attempts")?,
                last_error: row
                    .try_get::<Option<String>, _>("last_error")?
                    .unwrap_or_default(),
                queued_at: row.try_get("created_at")?,
            })
        })
    }

    /// Takes up to `limit` due pushes for `holder` until `now_ms + lease_ms`: of each
    /// account only its earliest push not yet delivered, and only when no other worker
    /// holds it, so one account's pushes go one at a time and in order.
    pub async fn claim_pushes(
        &self,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<PushEntry>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        sqlx::query(&format!(
            "UPDATE crm_push SET lease_holder = $1, lease_until = $2
             WHERE id IN (
                SELECT p.id FROM crm_push p
                WHERE p.status = 'pending' AND p.next_attempt_at <= $3 AND p.lease_until <= $3
                  AND NOT EXISTS (SELECT 1 FROM crm_push e
                                  WHERE e.tenant_id = p.tenant_id AND e.account_pk = p.account_pk
                                    AND e.id < p.id AND e.status <> 'delivered')
                ORDER BY p.id LIMIT $4{lock})
             RETURNING id, tenant_id, account_pk, attempts"
        ))
        .bind(holder)
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .decoded(push_from_row)
    }

    /// Records how an attempt went, releasing `holder`'s lease; `false` when the lease
    /// had passed to another worker (nothing recorded).
    pub async fn settle_push(
        &self,
        id: i64,
        holder: &str,
        attempt: PushAttempt<'_>,
    ) -> Result<bool> {
        let (status, delivered_at, next_attempt_at, error) = match attempt {
            PushAttempt::Delivered { at } => ("delivered", Some(at), None, None),
            PushAttempt::Failed { error, retry_at_ms } => match retry_at_ms {
                Some(at) => ("pending", None, Some(at), Some(error)),
                None => ("dead", None, None, Some(error)),
            },
        };
        let done = sqlx::query(
            "UPDATE crm_push SET status = $1, delivered_at = COALESCE($2, delivered_at),
                next_attempt_at = COALESCE($3, next_attempt_at), last_error = $4,
                attempts = attempts + 1, lease_holder = NULL, lease_until = 0
             WHERE id = $5 AND lease_holder = $6",
        )
        .bind(status)
        .bind(delivered_at)
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .bind(holder)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts the tenant's dead pushes back in the queue, due at `now_ms`, with all their
    /// attempts again; returns how many.
    pub async fn retry_dead_pushes(&self, tenant: &Tenant, now_ms: i64) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE crm_push SET status = 'pending', next_attempt_at = $2, attempts = 0
             WHERE tenant_id = $1 AND status = 'dead'",
        )
        .bind(tenant.id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// How many of the tenant's pushes are pending, delivered and dead.
    pub async fn push_counts(&self, tenant: &Tenant) -> Result<PushCounts> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM crm_push WHERE tenant_id = $1 GROUP BY status",
        )
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = PushCounts::default();
        for row in rows {
            let (status, n): (String, i64) = (row.try_get("status")?, row.try_get("n")?);
            let n = n.max(0).unsigned_abs();
            match status.as_str() {
                "pending" => counts.pending = n,
                "delivered" => counts.delivered = n,
                "dead" => counts.dead = n,
                other => return Err(StoreError::Corrupt(format!("push status {other:?}"))),
            }
        }
        Ok(counts)
    }

    /// Queues a push of each of the tenant's accounts in `pks` (a drift fix); pks of
    /// no account of this tenant are skipped. Returns how many were queued.
    pub async fn queue_pushes(&self, tenant: &Tenant, pks: &[i64], now: &str) -> Result<u64> {
        let (tenant_id, wanted, now) = (tenant.id, pks.to_vec(), now.to_owned());
        self.write_conn(move |conn| {
            Box::pin(async move {
                let existing = account_pks(conn, tenant_id).await?;
                let mut pks: Vec<i64> = wanted
                    .into_iter()
                    .filter(|pk| existing.binary_search(pk).is_ok())
                    .collect();
                pks.sort_unstable();
                pks.dedup();
                queue_in(conn, tenant_id, &pks, &now).await?;
                Ok(pks.len() as u64)
            })
        })
        .await
    }

    /// Claims the SCIM targets whose scheduled reconcile is due at `now_ms`, moving each
    /// one's next time on by its interval in the same statement (another replica asking
    /// at once gets none of them); returns their tenants' ids.
    pub async fn claim_due_reconciles(&self, now_ms: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "UPDATE crm_targets SET next_reconcile_at = $1 + reconcile_hours * 3600000
             WHERE kind = 'scim' AND reconcile_hours IS NOT NULL AND next_reconcile_at <= $1
             RETURNING tenant_id",
        )
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
    }

    /// Records how the last scheduled reconcile went (JSON, the app's to read).
    pub async fn record_reconcile(&self, tenant: &Tenant, outcome: &str) -> Result<()> {
        sqlx::query("UPDATE crm_targets SET last_reconcile = $1 WHERE tenant_id = $2")
            .bind(outcome)
            .bind(tenant.id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How the last scheduled reconcile went, as recorded; `None` before the first.
    pub async fn last_reconcile(&self, tenant: &Tenant) -> Result<Option<String>> {
        let row = sqlx::query("SELECT last_reconcile FROM crm_targets WHERE tenant_id = $1")
            .bind(tenant.id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get(0)?,
            None => None,
        })
    }
}
