//! Reading a tenant's whole holding area at once, as the sync planner needs it, and
//! clearing it (restart sync).

use crate::columns::Decoded;
use crate::{Backend, Result, Store, StoreError, Tenant};
use serde_json::Value;
use sqlx::{Executor, Row};

pub use scimgate_core::{HoldingGroups, Snapshot, StagedGroup, StagedUser};

const USER_COLUMNS: &str = "id, external_id, created_at, body";

pub(crate) fn user_from_row(row: &sqlx::any::AnyRow) -> Result<StagedUser> {
    let body: String = row.try_get("body")?;
    user_from_parts(
        row.try_get("id")?,
        row.try_get("external_id")?,
        row.try_get("created_at")?,
        &body,
    )
}

fn user_from_parts(
    id: String,
    external_id: Option<String>,
    created_at: String,
    body: &str,
) -> Result<StagedUser> {
    let body = serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("staged user {id} has a bad body: {e}")))?;
    Ok(StagedUser {
        id,
        external_id,
        created_at,
        body,
    })
}

impl Store {
    /// Every staged user, group and membership of the tenant, read consistently (one
    /// transaction; repeatable read on PostgreSQL), users in the order they arrived.
    pub async fn snapshot(&self, tenant: &Tenant) -> Result<Snapshot> {
        let mut users = Vec::new();
        let groups = self
            .scan_holding_area(tenant, 4_096, |_, chunk| users.extend(chunk))
            .await?;
        Ok(groups.into_snapshot(users))
    }

    /// The holding area read for planning, without holding every user at once: groups,
    /// memberships and the change sequence first, then the users in arrival order, `chunk`
    /// at a time, handed to `each` (and dropped after). One read transaction (repeatable
    /// read on PostgreSQL), so the chunks are one consistent picture.
    pub async fn scan_holding_area(
        &self,
        tenant: &Tenant,
        chunk: usize,
        mut each: impl FnMut(&HoldingGroups, Vec<StagedUser>),
    ) -> Result<HoldingGroups> {
        if let Some(result) =
            self.sqlite_bulk_read(|tx| scan_sqlite(tx, tenant.id, chunk, &mut each))
        {
            return result;
        }
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .await?;
        }
        let mut holding = HoldingGroups {
            change_seq: sqlx::query("SELECT change_seq FROM tenants WHERE id = $1")
                .bind(tenant.id)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?,
            ..HoldingGroups::default()
        };
        let users: i64 = sqlx::query("SELECT COUNT(*) FROM staged_users WHERE tenant_id = $1")
            .bind(tenant.id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        holding.users = usize::try_from(users).unwrap_or_default();
        holding.groups = sqlx::query(
            "SELECT id, external_id, body FROM staged_groups WHERE tenant_id = $1 ORDER BY pk",
        )
        .bind(tenant.id)
        .fetch_all(&mut *tx)
        .await?
        .decoded(group_from_row)?;
        {
            let by_id = holding.group_ids();
            let mut rows = sqlx::query(
                "SELECT group_id, member_id FROM staged_group_members WHERE tenant_id = $1",
            )
            .bind(tenant.id)
            .fetch(&mut *tx);
            while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
                let (group, member): (&str, &str) = (row.try_get(0)?, row.try_get(1)?);
                holding.add_membership(&by_id, group, member);
            }
        }
        {
            let sql =
                format!("SELECT {USER_COLUMNS} FROM staged_users WHERE tenant_id = $1 ORDER BY pk");
            let mut rows = sqlx::query(&sql).bind(tenant.id).fetch(&mut *tx);
            let mut batch = Vec::with_capacity(chunk);
            while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
                batch.push(user_from_row(&row)?);
                if batch.len() >= chunk.max(1) {
                    let users = std::mem::take(&mut batch);
                    off_the_runtime(|| each(&holding, users));
                }
            }
            if !batch.is_empty() {
                off_the_runtime(|| each(&holding, batch));
            }
        }
        tx.commit().await?;
        Ok(holding)
    }

    /// One staged user and the groups it is a direct member of; `None` if not staged.
    pub async fn staged_user_with_groups(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<Option<(StagedUser, Vec<StagedGroup>)>> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM staged_users WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant.id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let user = user_from_row(&row)?;
        let groups = sqlx::query(
            "SELECT g.id, g.external_id, g.body FROM staged_groups g
             JOIN staged_group_members m ON m.tenant_id = g.tenant_id AND m.group_id = g.id
             WHERE g.tenant_id = $1 AND m.member_id = $2 ORDER BY g.pk",
        )
        .bind(tenant.id)
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .decoded(group_from_row)?;
        Ok(Some((user, groups)))
    }

    /// The id of the staged user with this userName (case-insensitive, as SCIM compares it).
    pub async fn staged_user_id_by_name(
        &self,
        tenant: &Tenant,
        user_name: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query(
            "SELECT id FROM staged_users WHERE tenant_id = $1 AND user_name_folded = $2",
        )
        .bind(tenant.id)
        .bind(scimgate_core::text::fold_case(user_name))
        .fetch_optional(&self.pool)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?)
    }

    /// Restart sync: removes every staged user, group and membership of the tenant, on
    /// `conn` inside the caller's write transaction (so the caller's own changes — the
    /// CRM unlinking its accounts — commit with it). The tenant row is updated first, as
    /// the SCIM writer locks it, so no SCIM write interleaves.
    pub(crate) async fn clear_staged_in(
        conn: &mut sqlx::AnyConnection,
        tenant: &Tenant,
    ) -> Result<()> {
        sqlx::query("UPDATE tenants SET change_seq = change_seq + 1 WHERE id = $1")
            .bind(tenant.id)
            .execute(&mut *conn)
            .await?;
        for table in [
            "staged_group_members",
            "staged_user_emails",
            "staged_groups",
            "staged_users",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1"))
                .bind(tenant.id)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// The connection pool, for tests that inspect or damage the database on purpose.
    /// Production code goes through the store's methods: no other crate writes SQL
    /// (`tests/dependency_direction.rs` checks).
    pub fn pool(&self) -> &sqlx::AnyPool {
        &self.pool
    }
}

fn group_from_row(row: &sqlx::any::AnyRow) -> Result<StagedGroup> {
    let body: String = row.try_get("body")?;
    group_from_parts(row.try_get("id")?, row.try_get("external_id")?, &body)
}

fn group_from_parts(id: String, external_id: Option<String>, body: &str) -> Result<StagedGroup> {
    let body: Value = serde_json::from_str(body)
        .map_err(|e| StoreError::Corrupt(format!("staged group {id} has a bad body: {e}")))?;
    Ok(StagedGroup {
        display_name: body
            .get("displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        external_id,
        id,
    })
}

/// Runs CPU-heavy work (a chunk's planning) without stalling the async runtime's other
/// tasks: on a multi-threaded runtime this thread hands its tasks to another first.
fn off_the_runtime<T>(work: impl FnOnce() -> T) -> T {
    if crate::bulk::on_multi_thread_runtime() {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// [`Store::scan_holding_area`] on a direct SQLite connection (see `bulk`).
fn scan_sqlite(
    tx: &rusqlite::Transaction<'_>,
    tenant_id: i64,
    chunk: usize,
    each: &mut impl FnMut(&HoldingGroups, Vec<StagedUser>),
) -> Result<HoldingGroups> {
    let mut holding = HoldingGroups {
        change_seq: tx.query_row(
            "SELECT change_seq FROM tenants WHERE id = ?1",
            [tenant_id],
            |r| r.get(0),
        )?,
        ..HoldingGroups::default()
    };
    holding.users = tx.query_row(
        "SELECT COUNT(*) FROM staged_users WHERE tenant_id = ?1",
        [tenant_id],
        |r| r.get(0),
    )?;
    let mut groups = tx.prepare(
        "SELECT id, external_id, body FROM staged_groups WHERE tenant_id = ?1 ORDER BY pk",
    )?;
    let mut rows = groups.query([tenant_id])?;
    while let Some(row) = rows.next()? {
        let body = row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
        holding
            .groups
            .push(group_from_parts(row.get(0)?, row.get(1)?, body)?);
    }
    let mut members =
        tx.prepare("SELECT group_id, member_id FROM staged_group_members WHERE tenant_id = ?1")?;
    let mut rows = members.query([tenant_id])?;
    let by_id = holding.group_ids();
    while let Some(row) = rows.next()? {
        let text = |n| row.get_ref(n)?.as_str().map_err(rusqlite::Error::from);
        holding.add_membership(&by_id, text(0)?, text(1)?);
    }
    let mut users = tx.prepare(&format!(
        "SELECT {USER_COLUMNS} FROM staged_users WHERE tenant_id = ?1 ORDER BY pk"
    ))?;
    let mut rows = users.query([tenant_id])?;
    let mut batch = Vec::with_capacity(chunk);
    while let Some(row) = rows.next()? {
        let body = row.get_ref(3)?.as_str().map_err(rusqlite::Error::from)?;
        batch.push(user_from_parts(
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            body,
        )?);
        if batch.len() >= chunk.max(1) {
            each(&holding, std::mem::take(&mut batch));
        }
    }
    if !batch.is_empty() {
        each(&holding, batch);
    }
    Ok(holding)
}
