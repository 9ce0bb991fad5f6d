//! Run history: every sync run with its trigger, times, status and counts, and what it
//! did to each user it touched; and the few run-state changes a sync makes.

use crate::columns::Decoded;
use crate::json_rows::{self, integer, text, without_nul};
use crate::{Result, Store, StoreError, Tenant, Tx};
use scimgate_core::{Run, RunCounts, RunOutcome, RunStatus, RunUser, Trigger};
use serde_json::Value;
use sqlx::Row;
use std::collections::HashMap;

const RUN_COLUMNS: &str = "id, trigger_kind, status, started_at, finished_at, users_received, \
    users_synced, created, updated, deprovisioned, unchanged, errors, held, message, rules";

fn run_from_row(row: &sqlx::any::AnyRow) -> Result<Run> {
    let status: String = row.try_get("status")?;
    let trigger: String = row.try_get("trigger_kind")?;
    Ok(Run {
        id: row.try_get("id")?,
        trigger: Trigger::parse(&trigger)
            .ok_or_else(|| StoreError::Corrupt(format!("run trigger {trigger:?}")))?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("run status {status:?}")))?,
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
        rules: row.try_get("rules")?,
    })
}

/// Sets a run's status, counts and message (and `finished_at`, once it has finished),
/// inside the transaction that also records the run's notifications.
pub async fn finish_run_in(
    tx: &mut Tx<'_>,
    run_id: i64,
    status: RunStatus,
    counts: &RunCounts,
    message: Option<&str>,
    now: Option<&str>,
) -> Result<()> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    sqlx::query(
        "UPDATE sync_runs SET status = $1, finished_at = $2, users_received = $3, users_synced = $4,
            created = $5, updated = $6, deprovisioned = $7, unchanged = $8, errors = $9, held = $10,
            message = $11,
            -- A request to stop that came after the last safe point is void once the run
            -- has ended (approving a held run applies it again under the same id).
            cancel_requested = CASE WHEN $1 = 'running' THEN cancel_requested ELSE 0 END
         WHERE id = $12",
    )
    .bind(status.name())
    .bind(now)
    .bind(n(counts.users_received))
    .bind(n(counts.users_synced))
    .bind(n(counts.created))
    .bind(n(counts.updated))
    .bind(n(counts.deprovisioned))
    .bind(n(counts.unchanged))
    .bind(n(counts.errors))
    .bind(n(counts.held))
    .bind(message)
    .bind(run_id)
    .execute(&mut *tx.conn)
    .await?;
    Ok(())
}

/// Marks a run failed with the reason, keeping whatever counts it recorded.
pub async fn fail_run_in(tx: &mut Tx<'_>, run_id: i64, why: &str, now: &str) -> Result<()> {
    sqlx::query(
        "UPDATE sync_runs SET status = 'failed', finished_at = $1, message = $2, cancel_requested = 0
         WHERE id = $3",
    )
    .bind(now)
    .bind(why)
    .bind(run_id)
    .execute(&mut *tx.conn)
    .await?;
    Ok(())
}

impl Store {
    /// A new run, `running`, with the rules it uses (`published` or `draft`).
    pub async fn start_run(
        &self,
        tenant: &Tenant,
        trigger: Trigger,
        rules: &str,
        now: &str,
    ) -> Result<i64> {
        Ok(sqlx::query(
            "INSERT INTO sync_runs (tenant_id, trigger_kind, status, started_at, rules)
             VALUES ($1, $2, 'running', $3, $4) RETURNING id",
        )
        .bind(tenant.id)
        .bind(trigger.name())
        .bind(now)
        .bind(rules)
        .fetch_one(&self.pool)
        .await?
        .try_get(0)?)
    }

    /// Asks a running run to stop at its next safe point; `false` when the tenant has no
    /// such run running (unknown, or already ended).
    pub async fn request_run_cancel(&self, tenant: &Tenant, run_id: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sync_runs SET cancel_requested = 1
             WHERE tenant_id = $1 AND id = $2 AND status = 'running'",
        )
        .bind(tenant.id)
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether an admin asked the run to stop.
    pub async fn run_cancel_requested(&self, run_id: i64) -> Result<bool> {
        let requested: i64 = sqlx::query("SELECT cancel_requested FROM sync_runs WHERE id = $1")
            .bind(run_id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        Ok(requested != 0)
    }

    /// Runs left `running` by a process that stopped. Only to be called with the tenant's
    /// sync lease held, so no live run is among them.
    pub async fn fail_interrupted_runs(&self, tenant: &Tenant, now: &str) -> Result<u64> {
        Ok(sqlx::query(
            "UPDATE sync_runs SET status = 'failed', finished_at = $1,
                message = 'interrupted: the process stopped during the run; the next run completed its work'
             WHERE tenant_id = $2 AND status = 'running'",
        )
        .bind(now)
        .bind(tenant.id)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    /// The counts so far of a run still going (or its end, with `now`).
    pub async fn record_run_counts(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: &RunCounts,
    ) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = Tx { conn: &mut conn };
        finish_run_in(&mut tx, run_id, status, counts, None, None).await
    }

    /// A run's status and message, counts kept (a held run whose approval failed).
    pub async fn set_run_status(
        &self,
        run_id: i64,
        status: RunStatus,
        message: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE sync_runs SET status = $1, message = $2 WHERE id = $3")
            .bind(status.name())
            .bind(message)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// An approved held run: its own counts, with the deprovisions applied on approval.
    pub async fn approve_run(
        &self,
        run: &Run,
        deprovisioned: i64,
        message: &str,
        now: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE sync_runs SET status = 'approved', finished_at = $1, users_received = $2,
                users_synced = $3, created = $4, updated = $5, deprovisioned = $6,
                unchanged = $7, errors = $8, held = 0, message = $9
             WHERE id = $10",
        )
        .bind(now)
        .bind(run.users_received)
        .bind(run.users_synced)
        .bind(run.created)
        .bind(run.updated)
        .bind(deprovisioned)
        .bind(run.unchanged)
        .bind(run.errors)
        .bind(message)
        .bind(run.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Rejects a run if it is still held; `false` when it no longer was.
    pub async fn reject_held_run(&self, tenant: &Tenant, run_id: i64, now: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sync_runs SET status = 'rejected', finished_at = $1,
                message = 'rejected: the held deprovisions were discarded'
             WHERE tenant_id = $2 AND id = $3 AND status = 'held'",
        )
        .bind(now)
        .bind(tenant.id)
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks earlier held runs as superseded by `run_id`.
    pub async fn supersede_held_runs(&self, tenant: &Tenant, run_id: i64) -> Result<()> {
        sqlx::query("UPDATE sync_runs SET status = 'superseded' WHERE tenant_id = $1 AND status = 'held' AND id < $2")
            .bind(tenant.id)
            .bind(run_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// What a run did to these users. A run resumed after a crash may record a user
    /// twice: the last word stands.
    pub async fn record_run_users(
        &self,
        tenant: &Tenant,
        run_id: i64,
        users: &[RunUser],
    ) -> Result<()> {
        if users.is_empty() {
            return Ok(());
        }
        // One statement per 1,000 users (crate::json_rows). A user recorded twice keeps
        // the later outcome, as one statement a user did.
        let mut latest: HashMap<&str, &RunUser> = HashMap::with_capacity(users.len());
        let mut order = Vec::with_capacity(users.len());
        for user in users {
            if latest.insert(&user.user_id, user).is_none() {
                order.push(user.user_id.as_str());
            }
        }
        let batches: Vec<String> = order
            .chunks(1_000)
            .map(|ids| {
                let rows: Vec<Value> = ids
                    .iter()
                    .map(|id| {
                        let user = latest[id];
                        Value::from(vec![
                            Value::from(user.user_id.as_str()),
                            Value::from(without_nul(&user.username).into_owned()),
                            Value::from(user.outcome.name()),
                            user.account.map_or(Value::Null, Value::from),
                            user.error
                                .as_deref()
                                .map_or(Value::Null, |e| Value::from(without_nul(e).into_owned())),
                        ])
                    })
                    .collect();
                Value::Array(rows).to_string()
            })
            .collect();
        let tenant_id = tenant.id;
        self.write_conn(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "INSERT INTO sync_run_users (run_id, tenant_id, staged_user_id, username,
                        outcome, account_pk, error)
                     SELECT $1, $2, {}, {}, {}, {}, {} FROM {} WHERE true
                     ON CONFLICT (run_id, staged_user_id) DO UPDATE SET
                        outcome = excluded.outcome, account_pk = excluded.account_pk,
                        error = excluded.error",
                    text(0),
                    text(1),
                    text(2),
                    integer(3),
                    text(4),
                    json_rows::source(conn, 3),
                );
                for rows in batches {
                    sqlx::query(&sql)
                        .bind(run_id)
                        .bind(tenant_id)
                        .bind(rows)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .await
    }

    /// The newest runs first.
    pub async fn runs(&self, tenant: &Tenant, limit: i64) -> Result<Vec<Run>> {
        self.runs_where(tenant, "ORDER BY id DESC LIMIT $2", limit)
            .await
    }

    pub async fn run(&self, tenant: &Tenant, run_id: i64) -> Result<Option<Run>> {
        let mut found = self.runs_where(tenant, "AND id = $2", run_id).await?;
        Ok(found.pop())
    }

    /// The tenant's runs, narrowed and ordered by `tail`, which takes `value` as `$2`.
    async fn runs_where(&self, tenant: &Tenant, tail: &str, value: i64) -> Result<Vec<Run>> {
        sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE tenant_id = $1 {tail}"
        ))
        .bind(tenant.id)
        .bind(value)
        .fetch_all(&self.pool)
        .await?
        .decoded(run_from_row)
    }

    /// The last `limit` runs that touched one staged user, newest first, with what each
    /// did to it (runs that left the user unchanged do not list it).
    pub async fn user_history(
        &self,
        tenant: &Tenant,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<(Run, RunUser)>> {
        let touched = sqlx::query(
            "SELECT run_id, staged_user_id, username, outcome, account_pk, error FROM sync_run_users
             WHERE tenant_id = $1 AND staged_user_id = $2 ORDER BY run_id DESC LIMIT $3",
        )
        .bind(tenant.id)
        .bind(user_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut history = Vec::with_capacity(touched.len());
        for row in &touched {
            let run_id: i64 = row.try_get("run_id")?;
            let Some(run) = self.run(tenant, run_id).await? else {
                continue;
            };
            history.push((run, run_user_from_row(row)?));
        }
        Ok(history)
    }

    pub async fn run_users(&self, tenant: &Tenant, run_id: i64) -> Result<Vec<RunUser>> {
        sqlx::query(
            "SELECT staged_user_id, username, outcome, account_pk, error FROM sync_run_users
             WHERE tenant_id = $1 AND run_id = $2 ORDER BY username",
        )
        .bind(tenant.id)
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(run_user_from_row)
        .collect()
    }
}

fn run_user_from_row(row: &sqlx::any::AnyRow) -> Result<RunUser> {
    let outcome: String = row.try_get("outcome")?;
    Ok(RunUser {
        user_id: row.try_get("staged_user_id")?,
        username: row.try_get("username")?,
        outcome: RunOutcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("run outcome {outcome:?}")))?,
        account: row.try_get("account_pk")?,
        error: row.try_get("error")?,
    })
}
