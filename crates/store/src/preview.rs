//! The stored preview (migration 0012): the company's plan kept as rows, so the Preview
//! page filters, sorts, pages and counts 100,000 users in SQL. This module stores and
//! queries the rows; what goes in them, and when, is the scheduler's
//! (`StoredPreview`).
//!
//! A full refresh writes a new *generation* of rows in short transactions beside the
//! current one and then switches `preview_state.generation` to it: readers see the old
//! preview or the new one, never half of one, and SCIM writes never wait long behind it.

mod query;
mod rows;

use crate::columns::{Columns, Decoded};
use crate::query::{Bind, SqlBuilder};
use crate::{Result, Store, Tenant};
use query::{filter_sql, keyset_sql, like_escaped, scope};
pub use query::{
    PreviewColumn, PreviewCounts, PreviewCursor, PreviewFilter, PreviewOp, PreviewQuery,
    PreviewSort,
};
use rows::{insert_rows, insert_rows_sqlite, row_from, ROW_COLUMNS};
use sqlx::AnyConnection;

/// Which rule set a preview shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PreviewRules {
    Published,
    Draft,
}

impl PreviewRules {
    pub const ALL: [PreviewRules; 2] = [PreviewRules::Published, PreviewRules::Draft];

    pub fn name(self) -> &'static str {
        match self {
            PreviewRules::Published => "published",
            PreviewRules::Draft => "draft",
        }
    }

    fn from_name(name: &str) -> Option<PreviewRules> {
        PreviewRules::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// What a preview is computed from. `change_seq` moves with every SCIM write; the
/// versions with rules, catalogue, settings, accounts and restarts (and, for the draft's
/// preview, the draft). A preview whose versions still hold can be brought up to date
/// user by user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewBasis {
    pub change_seq: i64,
    /// What both previews depend on.
    pub common: String,
    pub draft_version: i64,
    pub has_draft: bool,
}

impl PreviewBasis {
    /// The versions the preview of `rules` depends on, as `preview_state.basis` keeps them.
    pub fn versions(&self, rules: PreviewRules) -> String {
        match rules {
            PreviewRules::Published => self.common.clone(),
            PreviewRules::Draft => format!("{} · draft {}", self.common, self.draft_version),
        }
    }
}

/// A preview's current generation and what it reflects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewState {
    pub generation: i64,
    pub versions: String,
    pub change_seq: i64,
    pub computed_at: String,
    /// JSON kept for the scheduler: what the rows alone do not say.
    pub summary: String,
    pub full_refresh_ms: i64,
}

/// One user's line of the preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRow {
    pub user_id: String,
    /// False: an account whose staged user the IdP deleted.
    pub staged: bool,
    pub action: String,
    pub synced: bool,
    pub name: Option<String>,
    pub username: String,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub user_plan: Option<String>,
    pub owner_company: Option<String>,
    pub primary_group: Option<String>,
    /// `None` when the user gets no account.
    pub secondary_groups: Option<Vec<String>>,
    pub role: Option<String>,
    pub confidential: Option<bool>,
    /// The fields the action changes, as the plan names them (`role`, `user_plan`, …).
    pub changed: Vec<String>,
    pub reason: Option<String>,
    /// The user plan whose seat the account holds now (active accounts only).
    pub account_plan: Option<String>,
    /// The rules whose values stand, joined by ", " (*Set by rule*).
    pub set_by: Option<String>,
}

async fn put_state(
    conn: &mut AnyConnection,
    tenant_id: i64,
    rules: PreviewRules,
    state: &PreviewState,
) -> Result<bool> {
    // Only forward: a slower refresh that began earlier must not replace a newer one.
    let done = sqlx::query(
        "INSERT INTO preview_state (tenant_id, rules, generation, basis, change_seq,
            computed_at, summary, full_refresh_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (tenant_id, rules) DO UPDATE SET generation = excluded.generation,
            basis = excluded.basis, change_seq = excluded.change_seq,
            computed_at = excluded.computed_at, summary = excluded.summary,
            full_refresh_ms = excluded.full_refresh_ms
         WHERE preview_state.generation <= excluded.generation",
    )
    .bind(tenant_id)
    .bind(rules.name())
    .bind(state.generation)
    .bind(&state.versions)
    .bind(state.change_seq)
    .bind(&state.computed_at)
    .bind(&state.summary)
    .bind(state.full_refresh_ms)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

fn state_from(row: &impl Columns) -> Result<PreviewState> {
    Ok(PreviewState {
        generation: row.get("generation")?,
        versions: row.get("basis")?,
        change_seq: row.get("change_seq")?,
        computed_at: row.get("computed_at")?,
        summary: row.get("summary")?,
        full_refresh_ms: row.get("full_refresh_ms")?,
    })
}

/// The basis of every tenant matched by `where_sql` (on `t`, the tenants table).
const BASIS_SQL: &str = "SELECT t.id, t.name, t.change_seq, t.accounts_seq,
    COALESCE((SELECT version FROM edit_versions v WHERE v.tenant_id = t.id AND v.aggregate = 'rule_set'), 0) AS v_rules,
    COALESCE((SELECT version FROM edit_versions v WHERE v.tenant_id = t.id AND v.aggregate = 'rule_draft'), 0) AS v_draft,
    COALESCE((SELECT version FROM edit_versions v WHERE v.tenant_id = t.id AND v.aggregate = 'catalog'), 0) AS v_catalog,
    COALESCE((SELECT version FROM edit_versions v WHERE v.tenant_id = t.id AND v.aggregate = 'settings'), 0) AS v_settings,
    COALESCE((SELECT restarted_at FROM sync_settings s WHERE s.tenant_id = t.id), '') AS restarted_at,
    (SELECT COUNT(*) FROM rule_set_drafts d WHERE d.tenant_id = t.id) AS drafts
    FROM tenants t";

fn basis_from(row: &impl Columns) -> Result<PreviewBasis> {
    let drafts: i64 = row.get("drafts")?;
    Ok(PreviewBasis {
        change_seq: row.get("change_seq")?,
        common: format!(
            "rules {} · catalogue {} · settings {} · accounts {} · restart {}",
            row.get::<i64>("v_rules")?,
            row.get::<i64>("v_catalog")?,
            row.get::<i64>("v_settings")?,
            row.get::<i64>("accounts_seq")?,
            row.get::<String>("restarted_at")?,
        ),
        draft_version: row.get("v_draft")?,
        has_draft: drafts > 0,
    })
}

/// A preview whose basis has moved on (see [`Store::stale_previews`]).
#[derive(Debug, Clone)]
pub struct StalePreview {
    pub tenant: Tenant,
    pub rules: PreviewRules,
    pub state: PreviewState,
    pub basis: PreviewBasis,
}

impl Store {
    /// What `tenant`'s previews would be computed from now.
    pub async fn preview_basis(&self, tenant: &Tenant) -> Result<PreviewBasis> {
        let row = sqlx::query(&format!("{BASIS_SQL} WHERE t.id = $1"))
            .bind(tenant.id)
            .fetch_one(&self.pool)
            .await?;
        basis_from(&row)
    }

    /// Every stored preview that no longer matches its basis, with both: one query
    /// however many tenants there are.
    pub async fn stale_previews(&self) -> Result<Vec<StalePreview>> {
        let rows = sqlx::query(&format!(
            "SELECT b.*, p.rules, p.generation, p.basis, p.change_seq AS p_change_seq,
                p.computed_at, p.summary, p.full_refresh_ms
             FROM ({BASIS_SQL} WHERE t.id IN (SELECT tenant_id FROM preview_state)) b
             JOIN preview_state p ON p.tenant_id = b.id ORDER BY b.id, p.rules"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut stale = Vec::new();
        for row in &rows {
            let basis = basis_from(row)?;
            let rules: String = row.get("rules")?;
            let Some(rules) = PreviewRules::from_name(&rules) else {
                continue;
            };
            let state = PreviewState {
                change_seq: row.get("p_change_seq")?,
                ..state_from(row)?
            };
            if state.versions != basis.versions(rules) || state.change_seq != basis.change_seq {
                stale.push(StalePreview {
                    tenant: crate::tenants::tenant_from_row(row)?,
                    rules,
                    state,
                    basis,
                });
            }
        }
        Ok(stale)
    }

    pub async fn preview_state(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
    ) -> Result<Option<PreviewState>> {
        sqlx::query(
            "SELECT generation, basis, change_seq, computed_at, summary, full_refresh_ms
             FROM preview_state WHERE tenant_id = $1 AND rules = $2",
        )
        .bind(tenant.id)
        .bind(rules.name())
        .fetch_optional(&self.pool)
        .await?
        .decoded(state_from)
    }

    /// Writes rows of a generation that is not current yet, in their own transaction.
    pub async fn write_preview_rows(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        generation: i64,
        rows: Vec<PreviewRow>,
    ) -> Result<()> {
        let tenant_id = tenant.id;
        if let Some(done) =
            self.sqlite_bulk_write(|tx| insert_rows_sqlite(tx, tenant_id, rules, generation, &rows))
        {
            return done;
        }
        self.write_conn(move |conn| {
            Box::pin(async move { insert_rows(conn, tenant_id, rules, generation, &rows).await })
        })
        .await
    }

    /// Makes `state.generation` the preview, unless a newer one is already. Returns
    /// whether it became the preview. The older generations' rows are left for
    /// [`Store::drop_preview_rows_before`].
    pub async fn switch_preview(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        state: PreviewState,
    ) -> Result<bool> {
        let tenant_id = tenant.id;
        self.write_conn(move |conn| {
            Box::pin(async move { put_state(conn, tenant_id, rules, &state).await })
        })
        .await
    }

    /// Deletes the rows of generations older than `generation` (left by earlier
    /// refreshes, finished or not). On SQLite 5,000 per transaction (250 while SCIM
    /// writes are arriving), so SCIM writes wait little for the write lock; PostgreSQL
    /// locks only the rows it deletes, and deletes them in one statement.
    pub async fn drop_preview_rows_before(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        generation: i64,
    ) -> Result<()> {
        let (tenant_id, backend) = (tenant.id, self.backend);
        let sql = match backend {
            crate::Backend::Postgres => {
                "DELETE FROM preview_rows WHERE tenant_id = $1 AND rules = $2 AND generation < $3"
            }
            crate::Backend::Sqlite => {
                "DELETE FROM preview_rows WHERE rowid IN (
                   SELECT rowid FROM preview_rows WHERE tenant_id = $1 AND rules = $2
                     AND generation < $3 LIMIT $4)"
            }
        };
        loop {
            let limit = self.rows_per_transaction(5_000) as i64;
            let deleted = self
                .write_conn(move |conn| {
                    Box::pin(async move {
                        let mut delete = sqlx::query(sql)
                            .bind(tenant_id)
                            .bind(rules.name())
                            .bind(generation);
                        if backend == crate::Backend::Sqlite {
                            delete = delete.bind(limit);
                        }
                        let done = delete.execute(&mut *conn).await?;
                        Ok::<_, crate::StoreError>(done.rows_affected())
                    })
                })
                .await?;
            if deleted == 0 {
                return Ok(());
            }
        }
    }

    /// Brings the current generation up to date for a few users: `remove` ids go, `rows`
    /// replace theirs, and the state moves to `state` — in one transaction, and only if
    /// the state is still the one the update was computed from (`state.generation` and
    /// `from_change_seq`): a full refresh or another update may have come first, and
    /// then this one's totals would not add up.
    pub async fn update_preview_rows(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        (state, from_change_seq): (PreviewState, i64),
        remove: Vec<String>,
        rows: Vec<PreviewRow>,
    ) -> Result<bool> {
        let tenant_id = tenant.id;
        self.write_conn(move |conn| {
            Box::pin(async move {
                // The state first, compared and set in one statement: on PostgreSQL it
                // locks the row, so a second update waits, then finds it moved on.
                let moved = sqlx::query(
                    "UPDATE preview_state SET change_seq = $5, computed_at = $6, summary = $7
                     WHERE tenant_id = $1 AND rules = $2 AND generation = $3
                       AND change_seq = $4",
                )
                .bind(tenant_id)
                .bind(rules.name())
                .bind(state.generation)
                .bind(from_change_seq)
                .bind(state.change_seq)
                .bind(&state.computed_at)
                .bind(&state.summary)
                .execute(&mut *conn)
                .await?;
                if moved.rows_affected() == 0 {
                    return Ok(false);
                }
                for id in remove.iter().chain(rows.iter().map(|r| &r.user_id)) {
                    sqlx::query(
                        "DELETE FROM preview_rows WHERE tenant_id = $1 AND rules = $2
                           AND generation = $3 AND user_id = $4",
                    )
                    .bind(tenant_id)
                    .bind(rules.name())
                    .bind(state.generation)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                }
                insert_rows(conn, tenant_id, rules, state.generation, &rows).await?;
                Ok(true)
            })
        })
        .await
    }

    /// Forgets a preview (the draft was published or discarded).
    pub async fn drop_preview(&self, tenant: &Tenant, rules: PreviewRules) -> Result<()> {
        let tenant_id = tenant.id;
        self.write_conn(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM preview_state WHERE tenant_id = $1 AND rules = $2")
                    .bind(tenant_id)
                    .bind(rules.name())
                    .execute(&mut *conn)
                    .await?;
                Ok::<_, crate::StoreError>(())
            })
        })
        .await?;
        self.drop_preview_rows_before(tenant, rules, i64::MAX).await
    }

    /// Some rows of the current generation, by user id (those that exist).
    pub async fn preview_rows_of(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        generation: i64,
        user_ids: &[String],
    ) -> Result<Vec<PreviewRow>> {
        let mut out = Vec::new();
        for id in user_ids {
            let row = sqlx::query(&format!(
                "SELECT {ROW_COLUMNS} FROM preview_rows WHERE tenant_id = $1 AND rules = $2
                   AND generation = $3 AND user_id = $4"
            ))
            .bind(tenant.id)
            .bind(rules.name())
            .bind(generation)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            out.extend(row.decoded(row_from)?);
        }
        Ok(out)
    }

    /// The ids of staged users written after change `since`, at most `limit` + 1 of them
    /// (more than `limit`: too many to bring up to date one by one).
    pub async fn users_changed_since(
        &self,
        tenant: &Tenant,
        since: i64,
        limit: i64,
    ) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM staged_users WHERE tenant_id = $1 AND change_seq > $2
             ORDER BY change_seq LIMIT $3",
        )
        .bind(tenant.id)
        .bind(since)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether any staged group was written after change `since`.
    pub async fn groups_changed_since(&self, tenant: &Tenant, since: i64) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM staged_groups WHERE tenant_id = $1 AND change_seq > $2 LIMIT 1",
        )
        .bind(tenant.id)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    pub async fn staged_user_count(&self, tenant: &Tenant) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staged_users WHERE tenant_id = $1")
            .bind(tenant.id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    pub async fn staged_group_count(&self, tenant: &Tenant) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staged_groups WHERE tenant_id = $1")
            .bind(tenant.id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// A page of the preview (see [`PreviewQuery`]).
    pub async fn preview_page(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        generation: i64,
        query: &PreviewQuery,
    ) -> Result<Vec<PreviewRow>> {
        let mut sql = SqlBuilder::new(tenant.id);
        sql.push(&format!("SELECT {ROW_COLUMNS} FROM preview_rows WHERE "));
        scope(&mut sql, rules, generation);
        for filter in &query.filters {
            sql.push(" AND ");
            filter_sql(&mut sql, filter);
        }
        let backwards = matches!(query.cursor, PreviewCursor::Before(..));
        if let PreviewCursor::After(keys, id) | PreviewCursor::Before(keys, id) = &query.cursor {
            sql.push(" AND ");
            keyset_sql(&mut sql, &query.sort, keys, id, backwards);
        }
        sql.push(" ORDER BY ");
        for sort in &query.sort {
            let descending = sort.descending != backwards;
            sql.push(&format!(
                "{} {}, ",
                sort.column.sql().1,
                if descending { "DESC" } else { "ASC" }
            ));
        }
        sql.push(if backwards {
            "user_id DESC"
        } else {
            "user_id ASC"
        });
        let limit = sql.bind(Bind::Int(query.limit));
        let offset = sql.bind(Bind::Int(query.offset.max(0)));
        sql.push(&format!(" LIMIT {limit} OFFSET {offset}"));
        let rows = sql
            .apply(sqlx::query(&sql.sql))
            .fetch_all(&self.pool)
            .await?;
        let mut rows = rows.decoded(row_from)?;
        if backwards {
            rows.reverse();
        }
        Ok(rows)
    }

    /// How many rows match the filters, by action.
    pub async fn preview_counts(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        generation: i64,
        filters: &[PreviewFilter],
    ) -> Result<PreviewCounts> {
        let mut sql = SqlBuilder::new(tenant.id);
        sql.push(
            "SELECT action, COUNT(*) AS n,
                CAST(SUM(CASE WHEN synced <> 0 AND action <> 'error' THEN 1 ELSE 0 END) AS BIGINT)
                    AS synced,
                CAST(SUM(staged) AS BIGINT) AS staged
             FROM preview_rows WHERE ",
        );
        scope(&mut sql, rules, generation);
        for filter in filters {
            sql.push(" AND ");
            filter_sql(&mut sql, filter);
        }
        sql.push(" GROUP BY action ORDER BY action");
        let rows = sql
            .apply(sqlx::query(&sql.sql))
            .fetch_all(&self.pool)
            .await?;
        let mut counts = PreviewCounts::default();
        for row in &rows {
            let n = row.get::<i64>("n")? as u64;
            counts.total += n;
            counts.synced += row.get::<i64>("synced")? as u64;
            counts.staged += row.get::<i64>("staged")? as u64;
            counts.by_action.push((row.get("action")?, n));
        }
        Ok(counts)
    }

    /// The reasons given for rows with `action` (and, when given, a reason containing
    /// `containing`), each with how many rows give it, most frequent first, at most 50
    /// (errors grouped by cause; seats refused, per plan).
    pub async fn preview_reasons(
        &self,
        tenant: &Tenant,
        rules: PreviewRules,
        generation: i64,
        (action, containing): (&str, Option<&str>),
    ) -> Result<Vec<(String, u64)>> {
        let rows = sqlx::query(
            "SELECT reason, COUNT(*) AS n FROM preview_rows
             WHERE tenant_id = $1 AND rules = $2 AND generation = $3 AND action = $4
               AND reason IS NOT NULL AND reason LIKE $5 ESCAPE '\\'
             GROUP BY reason ORDER BY n DESC, reason LIMIT 50",
        )
        .bind(tenant.id)
        .bind(rules.name())
        .bind(generation)
        .bind(action)
        .bind(format!(
            "%{}%",
            like_escaped(containing.unwrap_or_default())
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.get("reason")?, row.get::<i64>("n")? as u64)))
            .collect()
    }
}
