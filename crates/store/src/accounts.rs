//! CRM accounts of the built-in CRM target: the accounts a sync creates and maintains,
//! in scimgate's own database (both backends).

use crate::columns::Columns;
use crate::columns::Decoded;
use crate::{seats, Result, Store, StoreError, Tenant};
use scimgate_core::{AccountFields, Change, CrmAccount};
use sqlx::{Any, Row};

const ACCOUNT_COLUMNS: &str = "pk, staged_user_id, external_id, username, display_name, email, \
    user_plan, owner_company, primary_group, secondary_groups, role, confidential, active, \
    created_at, updated_at, deactivated_at";

fn account_from_row(row: &impl Columns) -> Result<CrmAccount> {
    let pk: i64 = row.get("pk")?;
    let groups: String = row.get("secondary_groups")?;
    let secondary_groups = serde_json::from_str(&groups)
        .map_err(|e| StoreError::Corrupt(format!("account {pk}: secondary_groups: {e}")))?;
    Ok(CrmAccount {
        pk,
        staged_user_id: row.get("staged_user_id")?,
        external_id: row.get("external_id")?,
        fields: AccountFields {
            username: row.get("username")?,
            display_name: row.get("display_name")?,
            email: row.get("email")?,
            user_plan: row.get("user_plan")?,
            owner_company: row.get("owner_company")?,
            primary_group: row.get("primary_group")?,
            secondary_groups,
            role: row.get("role")?,
            confidential: row.get::<i64>("confidential")? != 0,
            active: row.get::<i64>("active")? != 0,
        },
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
        deactivated_at: row.get("deactivated_at")?,
    })
}

/// Every account of a tenant on a direct SQLite connection: the planner reads them all
/// on every preview and sync (see `Store::sqlite_bulk_read`).
fn accounts_sqlite(tx: &rusqlite::Transaction<'_>, tenant_id: i64) -> Result<Vec<CrmAccount>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM crm_accounts WHERE tenant_id = ?1 ORDER BY pk"
    ))?;
    let mut rows = stmt.query([tenant_id])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(account_from_row(row)?);
    }
    Ok(out)
}

impl Store {
    /// Active accounts per user plan, `(plan, count)` by plan name: the seats in use.
    pub async fn seats_in_use(&self, tenant: &Tenant) -> Result<Vec<(String, i64)>> {
        sqlx::query(
            // Counted as accounts change (crate::seats; migration 0007).
            "SELECT user_plan, used FROM seats_in_use
             WHERE tenant_id = $1 AND used > 0 ORDER BY user_plan",
        )
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await?
        .decoded(|row| Ok((row.try_get("user_plan")?, row.try_get("used")?)))
    }

    /// Every account of the tenant, active or not, by pk.
    pub async fn accounts(&self, tenant: &Tenant) -> Result<Vec<CrmAccount>> {
        if let Some(read) = self.sqlite_bulk_read(|tx| accounts_sqlite(tx, tenant.id)) {
            return read;
        }
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM crm_accounts WHERE tenant_id = $1 ORDER BY pk"
        ))
        .bind(tenant.id)
        .fetch_all(&self.pool)
        .await?
        .decoded(account_from_row)
    }

    /// The accounts a one-user plan can touch: the one linked to the staged user, and
    /// those a restart unlinked that carry the user's externalId (one may be re-linked).
    pub async fn accounts_of_user(
        &self,
        tenant: &Tenant,
        staged_user_id: &str,
        external_id: Option<&str>,
    ) -> Result<Vec<CrmAccount>> {
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM crm_accounts
             WHERE tenant_id = $1 AND staged_user_id = $2
             UNION ALL
             SELECT {ACCOUNT_COLUMNS} FROM crm_accounts
             WHERE tenant_id = $1 AND staged_user_id IS NULL AND external_id = $3
             ORDER BY pk"
        ))
        .bind(tenant.id)
        .bind(staged_user_id)
        .bind(external_id)
        .fetch_all(&self.pool)
        .await?
        .decoded(account_from_row)
    }

    pub async fn account(&self, tenant: &Tenant, pk: i64) -> Result<Option<CrmAccount>> {
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM crm_accounts WHERE tenant_id = $1 AND pk = $2"
        ))
        .bind(tenant.id)
        .bind(pk)
        .fetch_optional(&self.pool)
        .await?
        .decoded(account_from_row)
    }

    /// Applies changes in one transaction; returns each change's account pk. Every change
    /// is idempotent (see [`Change`]), so a run repeated after a crash cannot duplicate
    /// accounts.
    pub async fn apply_account_changes(
        &self,
        tenant: &Tenant,
        changes: &[Change],
        now: &str,
    ) -> Result<Vec<i64>> {
        let tenant_id = tenant.id;
        let changes = changes.to_vec();
        let now = now.to_owned();
        self.write_conn(move |conn| {
            Box::pin(async move {
                let before = seats::held_before(conn, tenant_id, &changes).await?;
                let mut pks = Vec::with_capacity(changes.len());
                for change in &changes {
                    pks.push(apply_one(conn, tenant_id, change, &now).await?);
                }
                seats::add(conn, tenant_id, &seats::deltas(&changes, &before)).await?;
                bump_accounts_seq(conn, tenant_id).await?;
                Ok(pks)
            })
        })
        .await
    }

    /// Restart sync: every account forgets its staged user (the holding area is being
    /// cleared), keeping its externalId so the user is re-linked when sent again.
    pub async fn unlink_accounts(&self, tenant: &Tenant) -> Result<u64> {
        let tenant_id = tenant.id;
        self.write_conn(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE crm_accounts SET staged_user_id = NULL
                     WHERE tenant_id = $1 AND staged_user_id IS NOT NULL",
                )
                .bind(tenant_id)
                .execute(&mut *conn)
                .await?;
                bump_accounts_seq(conn, tenant_id).await?;
                Ok(done.rows_affected())
            })
        })
        .await
    }
}

/// Marks the tenant's accounts as changed: a stored preview computed before is stale.
async fn bump_accounts_seq(conn: &mut sqlx::AnyConnection, tenant_id: i64) -> Result<()> {
    sqlx::query("UPDATE tenants SET accounts_seq = accounts_seq + 1 WHERE id = $1")
        .bind(tenant_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Applies one change; returns the account's pk.
async fn apply_one(
    conn: &mut sqlx::AnyConnection,
    tenant_id: i64,
    change: &Change,
    now: &str,
) -> Result<i64> {
    match change {
        Change::Create {
            staged_user_id,
            external_id,
            fields,
        } => {
            // A resumed run may create what the interrupted one already created: the
            // unique (tenant, staged user) index turns that into an update.
            let row = sqlx::query(
                "INSERT INTO crm_accounts (tenant_id, staged_user_id, external_id, username,
                    display_name, email, user_plan, owner_company, primary_group,
                    secondary_groups, role, confidential, active, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
                 ON CONFLICT (tenant_id, staged_user_id) DO UPDATE SET
                    external_id = excluded.external_id, username = excluded.username,
                    display_name = excluded.display_name, email = excluded.email,
                    user_plan = excluded.user_plan, owner_company = excluded.owner_company,
                    primary_group = excluded.primary_group,
                    secondary_groups = excluded.secondary_groups, role = excluded.role,
                    confidential = excluded.confidential, active = excluded.active,
                    updated_at = excluded.updated_at
                 RETURNING pk",
            );
            let row = bind_fields(
                row.bind(tenant_id).bind(staged_user_id).bind(external_id),
                fields,
            )?
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
            Ok(row.try_get(0)?)
        }
        Change::Update {
            pk,
            staged_user_id,
            external_id,
            fields,
        } => {
            let query = sqlx::query(
                "UPDATE crm_accounts SET staged_user_id = $1, external_id = $2, username = $3,
                    display_name = $4, email = $5, user_plan = $6, owner_company = $7,
                    primary_group = $8, secondary_groups = $9, role = $10, confidential = $11,
                    active = $12, updated_at = $13,
                    deactivated_at = CASE WHEN $12 = 1 THEN NULL ELSE COALESCE(deactivated_at, $13) END
                 WHERE tenant_id = $14 AND pk = $15",
            );
            let done = bind_fields(query.bind(staged_user_id).bind(external_id), fields)?
                .bind(now)
                .bind(tenant_id)
                .bind(pk)
                .execute(&mut *conn)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(*pk)
        }
        Change::Deactivate { pk } => {
            sqlx::query(
                "UPDATE crm_accounts SET active = 0, updated_at = $1, deactivated_at = $1
                 WHERE tenant_id = $2 AND pk = $3 AND active = 1",
            )
            .bind(now)
            .bind(tenant_id)
            .bind(pk)
            .execute(&mut *conn)
            .await?;
            Ok(*pk)
        }
    }
}

type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

/// Binds the ten account fields, in the column order both statements use.
fn bind_fields<'q>(query: Query<'q>, fields: &'q AccountFields) -> Result<Query<'q>> {
    // PostgreSQL refuses NUL in text, and an IdP (or a rule) may pass one on: one such
    // user must not fail every batch it is in, so NULs are dropped.
    let text = |v: &str| v.replace('\0', "");
    let opt = |v: &Option<String>| v.as_deref().map(text);
    let groups: Vec<String> = fields.secondary_groups.iter().map(|g| text(g)).collect();
    let groups = serde_json::to_string(&groups).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(query
        .bind(text(&fields.username))
        .bind(opt(&fields.display_name))
        .bind(opt(&fields.email))
        .bind(opt(&fields.user_plan))
        .bind(opt(&fields.owner_company))
        .bind(opt(&fields.primary_group))
        .bind(groups)
        .bind(opt(&fields.role))
        .bind(i64::from(fields.confidential))
        .bind(i64::from(fields.active)))
}
