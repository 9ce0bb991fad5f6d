//! CRM accounts of the built-in CRM target: the accounts a sync creates and maintains,
//! in scimgate's own database (both backends).

use crate::columns::Columns;
use crate::columns::Decoded;
use crate::{account_writes, crm_push, seats, Result, Store, StoreError, Tenant};
use scimgate_core::{AccountFields, Change, CrmAccount, Name, Names};
use sqlx::Row;

const ACCOUNT_COLUMNS: &str = "pk, staged_user_id, external_id, username, display_name, email, \
    user_plan, owner_company, primary_group, secondary_groups, role, confidential, active, \
    created_at, updated_at, deactivated_at";

/// How many accounts the tenant has: the whole read's size, allocated once (100,000
/// accounts grown by doubling would briefly hold two arrays).
const COUNT_ACCOUNTS: &str = "SELECT COUNT(*) FROM crm_accounts WHERE tenant_id = $1";

/// One account; `names` shares the catalogue names among the accounts read together.
fn account_from_row(row: &impl Columns, names: &mut Names) -> Result<CrmAccount> {
    let pk: i64 = row.get("pk")?;
    let groups: String = row.get("secondary_groups")?;
    let secondary_groups: Vec<String> = serde_json::from_str(&groups)
        .map_err(|e| StoreError::Corrupt(format!("account {pk}: secondary_groups: {e}")))?;
    let mut name = |column| -> Result<Option<Name>> {
        Ok(names.of(row.get::<Option<String>>(column)?.as_deref()))
    };
    Ok(CrmAccount {
        pk,
        staged_user_id: row.get("staged_user_id")?,
        external_id: row.get("external_id")?,
        fields: AccountFields {
            username: row.get::<String>("username")?.into(),
            display_name: row.get::<Option<String>>("display_name")?.map(Into::into),
            email: row.get::<Option<String>>("email")?.map(Into::into),
            user_plan: name("user_plan")?,
            owner_company: name("owner_company")?,
            primary_group: name("primary_group")?,
            role: name("role")?,
            secondary_groups: names.all(&secondary_groups),
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
    let count: i64 = tx.query_row(COUNT_ACCOUNTS, [tenant_id], |r| r.get(0))?;
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or_default());
    let mut names = Names::default();
    let mut rows = stmt.query([tenant_id])?;
    while let Some(row) = rows.next()? {
        out.push(account_from_row(row, &mut names)?);
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
        // Row by row: 100,000 rows fetched whole would sit beside their accounts.
        let sql =
            format!("SELECT {ACCOUNT_COLUMNS} FROM crm_accounts WHERE tenant_id = $1 ORDER BY pk");
        let count: i64 = sqlx::query(COUNT_ACCOUNTS)
            .bind(tenant.id)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or_default());
        let mut names = Names::default();
        let mut rows = sqlx::query(&sql).bind(tenant.id).fetch(&self.pool);
        while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            out.push(account_from_row(&row, &mut names)?);
        }
        Ok(out)
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
        .decoded(|row| account_from_row(row, &mut Names::default()))
    }

    /// One account to show as an example (the first active one, else the first): the
    /// CRM target page's preview of what a push sends.
    pub async fn sample_account(&self, tenant: &Tenant) -> Result<Option<CrmAccount>> {
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM crm_accounts WHERE tenant_id = $1
             ORDER BY active DESC, pk LIMIT 1"
        ))
        .bind(tenant.id)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| account_from_row(&row, &mut Names::default()))
        .transpose()
    }

    pub async fn account(&self, tenant: &Tenant, pk: i64) -> Result<Option<CrmAccount>> {
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM crm_accounts WHERE tenant_id = $1 AND pk = $2"
        ))
        .bind(tenant.id)
        .bind(pk)
        .fetch_optional(&self.pool)
        .await?
        .decoded(|row| account_from_row(row, &mut Names::default()))
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
                let pks = account_writes::apply_changes(conn, tenant_id, &changes, &now).await?;
                seats::add(conn, tenant_id, &seats::deltas(&changes, &before)).await?;
                bump_accounts_seq(conn, tenant_id).await?;
                crm_push::queue_in(conn, tenant_id, &pks, &now).await?;
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
