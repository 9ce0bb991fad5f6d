//! Run history: every sync run with its trigger, times, status, counts, and what it did
//! to each user it touched (users left unchanged are counted, not listed).

use crate::plan::Totals;
use crate::{Result, SyncError};
use scimgate_store::{Store, Tenant};
use serde::Serialize;
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    ManualUser,
    ManualCompany,
    Schedule,
    Change,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::ManualUser => "manual_user",
            Trigger::ManualCompany => "manual_company",
            Trigger::Schedule => "schedule",
            Trigger::Change => "change",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Completed,
    /// Could not complete (an error, or the process stopped); the next run completes it.
    Failed,
    /// The mass-deprovision guard held its deprovisions back for an admin to decide.
    Held,
    Approved,
    Rejected,
    /// Held, then a newer held run took its place.
    Superseded,
}

impl RunStatus {
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Held => "held",
            RunStatus::Approved => "approved",
            RunStatus::Rejected => "rejected",
            RunStatus::Superseded => "superseded",
        }
    }

    fn parse(text: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Completed,
            RunStatus::Failed,
            RunStatus::Held,
            RunStatus::Approved,
            RunStatus::Rejected,
            RunStatus::Superseded,
        ]
        .into_iter()
        .find(|s| s.name() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub id: i64,
    pub trigger: String,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub users_received: i64,
    pub users_synced: i64,
    pub created: i64,
    pub updated: i64,
    pub deprovisioned: i64,
    pub unchanged: i64,
    pub errors: i64,
    /// Deprovisions the guard held back.
    pub held: i64,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunUser {
    pub user_id: String,
    pub username: String,
    /// created | updated | deprovisioned | error | held
    pub outcome: String,
    pub account: Option<i64>,
    pub error: Option<String>,
}

const RUN_COLUMNS: &str = "id, trigger_kind, status, started_at, finished_at, users_received, \
    users_synced, created, updated, deprovisioned, unchanged, errors, held, message";

fn run_from_row(row: &sqlx::any::AnyRow) -> Result<Run> {
    let status: String = row.try_get("status")?;
    Ok(Run {
        id: row.try_get("id")?,
        trigger: row.try_get("trigger_kind")?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| SyncError::Corrupt(format!("run status {status:?}")))?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        users_received: row.try_get("users_received")?,
        users_synced: row.try_get("users_synced")?,
        created: row.try_get("created")?,
        updated: row.try_get("updated")?,
        deprovisioned: row.try_get("deprovisioned")?,
        unchanged: row.try_get("unchanged")?,
        errors: row.try_get("errors")?,
        held: row.try_get("held")?,
        message: row.try_get("message")?,
    })
}

pub(crate) async fn start(
    store: &Store,
    tenant: &Tenant,
    trigger: Trigger,
    now: &str,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO sync_runs (tenant_id, trigger_kind, status, started_at) VALUES ($1, $2, 'running', $3) RETURNING id",
    )
    .bind(tenant.id)
    .bind(trigger.name())
    .bind(now)
    .fetch_one(store.pool())
    .await?
    .try_get(0)?)
}

/// Runs left `running` by a process that stopped. Only called with the tenant's sync
/// lease held, so no live run is among them.
pub(crate) async fn fail_interrupted(store: &Store, tenant: &Tenant, now: &str) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE sync_runs SET status = 'failed', finished_at = $1,
            message = 'interrupted: the process stopped during the run; the next run completed its work'
         WHERE tenant_id = $2 AND status = 'running'",
    )
    .bind(now)
    .bind(tenant.id)
    .execute(store.pool())
    .await?
    .rows_affected())
}

/// The counts as applied so far; called after every chunk, so a run that stops half-way
/// still shows what it did.
#[derive(Clone)]
pub(crate) struct Counts {
    pub totals: Totals,
    pub created: u64,
    pub updated: u64,
    pub deprovisioned: u64,
    pub errors: u64,
    pub held: u64,
}

pub(crate) async fn finish<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    run_id: i64,
    status: RunStatus,
    counts: &Counts,
    message: Option<&str>,
    now: Option<&str>,
) -> Result<()> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    sqlx::query(
        "UPDATE sync_runs SET status = $1, finished_at = $2, users_received = $3, users_synced = $4,
            created = $5, updated = $6, deprovisioned = $7, unchanged = $8, errors = $9, held = $10,
            message = $11
         WHERE id = $12",
    )
    .bind(status.name())
    .bind(now)
    .bind(n(counts.totals.users_received))
    .bind(n(counts.totals.users_synced))
    .bind(n(counts.created))
    .bind(n(counts.updated))
    .bind(n(counts.deprovisioned))
    .bind(n(counts.totals.unchanged))
    .bind(n(counts.errors))
    .bind(n(counts.held))
    .bind(message)
    .bind(run_id)
    .execute(executor)
    .await?;
    Ok(())
}

/// Marks earlier held runs as superseded by `run_id`.
pub(crate) async fn supersede_held(store: &Store, tenant: &Tenant, run_id: i64) -> Result<()> {
    sqlx::query("UPDATE sync_runs SET status = 'superseded' WHERE tenant_id = $1 AND status = 'held' AND id < $2")
        .bind(tenant.id)
        .bind(run_id)
        .execute(store.pool())
        .await?;
    Ok(())
}

pub(crate) async fn record_users(
    store: &Store,
    tenant: &Tenant,
    run_id: i64,
    users: &[RunUser],
) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    let (tenant_id, users) = (tenant.id, users.to_vec());
    store
        .write_transaction(move |conn| {
            Box::pin(async move {
                for user in &users {
                    // A run resumed after a crash may record a user twice: the last word stands.
                    sqlx::query(
                        "INSERT INTO sync_run_users (run_id, tenant_id, staged_user_id, username, outcome, account_pk, error)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (run_id, staged_user_id) DO UPDATE SET outcome = excluded.outcome,
                            account_pk = excluded.account_pk, error = excluded.error",
                    )
                    .bind(run_id)
                    .bind(tenant_id)
                    .bind(&user.user_id)
                    .bind(&user.username)
                    .bind(&user.outcome)
                    .bind(user.account)
                    .bind(&user.error)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok::<_, SyncError>(())
            })
        })
        .await
}

pub async fn list(store: &Store, tenant: &Tenant, limit: i64) -> Result<Vec<Run>> {
    sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM sync_runs WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2"
    ))
    .bind(tenant.id)
    .bind(limit)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(run_from_row)
    .collect()
}

pub async fn get(store: &Store, tenant: &Tenant, run_id: i64) -> Result<Option<Run>> {
    sqlx::query(&format!(
        "SELECT {RUN_COLUMNS} FROM sync_runs WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant.id)
    .bind(run_id)
    .fetch_optional(store.pool())
    .await?
    .as_ref()
    .map(run_from_row)
    .transpose()
}

pub async fn users(store: &Store, tenant: &Tenant, run_id: i64) -> Result<Vec<RunUser>> {
    sqlx::query(
        "SELECT staged_user_id, username, outcome, account_pk, error FROM sync_run_users
         WHERE tenant_id = $1 AND run_id = $2 ORDER BY username",
    )
    .bind(tenant.id)
    .bind(run_id)
    .fetch_all(store.pool())
    .await?
    .iter()
    .map(|row| {
        Ok(RunUser {
            user_id: row.try_get("staged_user_id")?,
            username: row.try_get("username")?,
            outcome: row.try_get("outcome")?,
            account: row.try_get("account_pk")?,
            error: row.try_get("error")?,
        })
    })
    .collect()
}
