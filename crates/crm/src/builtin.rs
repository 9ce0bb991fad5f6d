//! The built-in CRM: catalogue and accounts in scimgate's own database (both backends).

use crate::{AccountFields, CatalogKind, Change, CrmAccount, CrmError, CrmTarget, Result};
use scimgate_rules::{Catalog, CatalogEntry, NamedEntry};
use scimgate_store::{Store, Tenant, TxWork};
use sqlx::{Any, Row};

#[derive(Clone)]
pub struct BuiltinCrm {
    store: Store,
}

const ACCOUNT_COLUMNS: &str = "pk, staged_user_id, external_id, username, display_name, email, \
    user_plan, owner_company, primary_group, secondary_groups, role, confidential, active, \
    created_at, updated_at, deactivated_at";

fn account_from_row(row: &sqlx::any::AnyRow) -> Result<CrmAccount> {
    let pk: i64 = row.try_get("pk")?;
    let groups: String = row.try_get("secondary_groups")?;
    let secondary_groups = serde_json::from_str(&groups)
        .map_err(|e| CrmError::Corrupt(format!("account {pk}: secondary_groups: {e}")))?;
    Ok(CrmAccount {
        pk,
        staged_user_id: row.try_get("staged_user_id")?,
        external_id: row.try_get("external_id")?,
        fields: AccountFields {
            username: row.try_get("username")?,
            display_name: row.try_get("display_name")?,
            email: row.try_get("email")?,
            user_plan: row.try_get("user_plan")?,
            owner_company: row.try_get("owner_company")?,
            primary_group: row.try_get("primary_group")?,
            secondary_groups,
            role: row.try_get("role")?,
            confidential: row.try_get::<i64, _>("confidential")? != 0,
            active: row.try_get::<i64, _>("active")? != 0,
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        deactivated_at: row.try_get("deactivated_at")?,
    })
}

/// Every account of a tenant on a direct SQLite connection: the planner reads them all
/// on every preview and sync (see `Store::sqlite_bulk_read`).
fn accounts_sqlite(
    tx: &rusqlite::Transaction<'_>,
    tenant_id: i64,
) -> scimgate_store::Result<Vec<CrmAccount>> {
    let mut stmt = tx.prepare(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM crm_accounts WHERE tenant_id = ?1 ORDER BY pk"
    ))?;
    let mut rows = stmt.query([tenant_id])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let pk: i64 = row.get("pk")?;
        let groups = row
            .get_ref("secondary_groups")?
            .as_str()
            .map_err(rusqlite::Error::from)?;
        let secondary_groups = serde_json::from_str(groups).map_err(|e| {
            scimgate_store::StoreError::Corrupt(format!("account {pk}: secondary_groups: {e}"))
        })?;
        out.push(CrmAccount {
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
                confidential: row.get::<_, i64>("confidential")? != 0,
                active: row.get::<_, i64>("active")? != 0,
            },
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            deactivated_at: row.get("deactivated_at")?,
        });
    }
    Ok(out)
}

impl BuiltinCrm {
    pub fn new(store: Store) -> BuiltinCrm {
        BuiltinCrm { store }
    }

    async fn in_write_tx<T>(
        &self,
        work: impl for<'c> FnOnce(&'c mut sqlx::AnyConnection) -> TxWork<'c, T, CrmError>,
    ) -> Result<T> {
        self.store.write_transaction(work).await
    }

    /// Replaces the tenant's whole catalogue (what `scimgate catalog import` does).
    pub async fn replace_catalog(&self, tenant: &Tenant, catalog: &Catalog) -> Result<()> {
        let rows = catalog_rows(catalog)?;
        let tenant_id = tenant.id;
        self.in_write_tx(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM catalog_entries WHERE tenant_id = $1")
                    .bind(tenant_id)
                    .execute(&mut *conn)
                    .await?;
                for (kind, name, seats) in rows {
                    insert_entry(conn, tenant_id, kind, &name, seats).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Adds an entry, or changes the seats of an existing one.
    pub async fn put_entry(
        &self,
        tenant: &Tenant,
        kind: CatalogKind,
        name: &str,
        seats: Option<u64>,
    ) -> Result<()> {
        check_entry(kind, name, seats)?;
        let seats = seats.map(|s| s as i64);
        sqlx::query(
            "INSERT INTO catalog_entries (tenant_id, kind, name, seats) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, kind, name) DO UPDATE SET seats = excluded.seats",
        )
        .bind(tenant.id)
        .bind(kind.name())
        .bind(name)
        .bind(seats)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    pub async fn delete_entry(&self, tenant: &Tenant, kind: CatalogKind, name: &str) -> Result<()> {
        let done = sqlx::query(
            "DELETE FROM catalog_entries WHERE tenant_id = $1 AND kind = $2 AND name = $3",
        )
        .bind(tenant.id)
        .bind(kind.name())
        .bind(name)
        .execute(self.store.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(CrmError::NotFound);
        }
        Ok(())
    }

    pub async fn account(&self, tenant: &Tenant, pk: i64) -> Result<Option<CrmAccount>> {
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM crm_accounts WHERE tenant_id = $1 AND pk = $2"
        ))
        .bind(tenant.id)
        .bind(pk)
        .fetch_optional(self.store.pool())
        .await?
        .as_ref()
        .map(account_from_row)
        .transpose()
    }

    /// Restart sync: every account forgets its staged user (the holding area is being
    /// cleared), keeping its externalId so the user can be re-linked when sent again. On
    /// `conn`, inside the restart's transaction.
    pub async fn unlink_all_in(conn: &mut sqlx::AnyConnection, tenant: &Tenant) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE crm_accounts SET staged_user_id = NULL WHERE tenant_id = $1 AND staged_user_id IS NOT NULL",
        )
        .bind(tenant.id)
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected())
    }
}

fn check_entry(kind: CatalogKind, name: &str, seats: Option<u64>) -> Result<()> {
    if name.trim().is_empty() {
        return Err(CrmError::Invalid(format!("a {} needs a name", kind.name())));
    }
    if name.len() > scimgate_core::text::MAX_INDEXED_BYTES {
        return Err(CrmError::Invalid(format!(
            "a {} name is at most {} bytes long",
            kind.name(),
            scimgate_core::text::MAX_INDEXED_BYTES
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(CrmError::Invalid(format!(
            "{name:?}: a {} name cannot contain control characters",
            kind.name()
        )));
    }
    if seats.is_some() && kind != CatalogKind::UserPlan {
        return Err(CrmError::Invalid(format!(
            "{name:?}: only user plans have seats"
        )));
    }
    if seats.is_some_and(|s| s > i64::MAX as u64) {
        return Err(CrmError::Invalid(format!("{name:?}: too many seats")));
    }
    Ok(())
}

/// The catalogue as rows, refusing duplicates (a name listed twice is a mistake in the
/// file, and which seat count wins would be a guess).
fn catalog_rows(catalog: &Catalog) -> Result<Vec<(CatalogKind, String, Option<i64>)>> {
    let mut rows: Vec<(CatalogKind, String, Option<i64>)> = Vec::new();
    for (kind, entries) in [
        (CatalogKind::UserPlan, &catalog.user_plans),
        (CatalogKind::Company, &catalog.companies),
        (CatalogKind::Group, &catalog.groups),
        (CatalogKind::Role, &catalog.roles),
    ] {
        for entry in entries {
            let (name, seats) = match entry {
                CatalogEntry::Name(n) => (n.clone(), None),
                CatalogEntry::Entry(e) => (e.name.clone(), e.seats),
            };
            check_entry(kind, &name, seats)?;
            if rows.iter().any(|(k, n, _)| *k == kind && *n == name) {
                return Err(CrmError::Invalid(format!(
                    "{} {name:?} is listed twice",
                    kind.name()
                )));
            }
            rows.push((kind, name, seats.map(|s| s as i64)));
        }
    }
    Ok(rows)
}

async fn insert_entry(
    conn: &mut sqlx::AnyConnection,
    tenant_id: i64,
    kind: CatalogKind,
    name: &str,
    seats: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO catalog_entries (tenant_id, kind, name, seats) VALUES ($1, $2, $3, $4)",
    )
    .bind(tenant_id)
    .bind(kind.name())
    .bind(name)
    .bind(seats)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl CrmTarget for BuiltinCrm {
    async fn catalog(&self, tenant: &Tenant) -> Result<Catalog> {
        let mut catalog = Catalog::default();
        let rows = sqlx::query(
            "SELECT kind, name, seats FROM catalog_entries WHERE tenant_id = $1 ORDER BY kind, name",
        )
        .bind(tenant.id)
        .fetch_all(self.store.pool())
        .await?;
        for row in rows {
            let kind: String = row.try_get("kind")?;
            let name: String = row.try_get("name")?;
            let seats: Option<i64> = row.try_get("seats")?;
            let entry = match seats {
                Some(s) => CatalogEntry::Entry(NamedEntry {
                    name,
                    seats: Some(s.max(0) as u64),
                }),
                None => CatalogEntry::Name(name),
            };
            match CatalogKind::parse(&kind) {
                Some(CatalogKind::UserPlan) => catalog.user_plans.push(entry),
                Some(CatalogKind::Company) => catalog.companies.push(entry),
                Some(CatalogKind::Group) => catalog.groups.push(entry),
                Some(CatalogKind::Role) => catalog.roles.push(entry),
                None => return Err(CrmError::Corrupt(format!("catalogue kind {kind:?}"))),
            }
        }
        Ok(catalog)
    }

    async fn accounts(&self, tenant: &Tenant) -> Result<Vec<CrmAccount>> {
        if let Some(read) = self
            .store
            .sqlite_bulk_read(|tx| accounts_sqlite(tx, tenant.id))
        {
            return Ok(read?);
        }
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM crm_accounts WHERE tenant_id = $1 ORDER BY pk"
        ))
        .bind(tenant.id)
        .fetch_all(self.store.pool())
        .await?
        .iter()
        .map(account_from_row)
        .collect()
    }

    async fn apply(&self, tenant: &Tenant, changes: &[Change], now: &str) -> Result<Vec<i64>> {
        let tenant_id = tenant.id;
        let changes = changes.to_vec();
        let now = now.to_owned();
        self.in_write_tx(move |conn| {
            Box::pin(async move {
                let mut pks = Vec::with_capacity(changes.len());
                for change in &changes {
                    pks.push(apply_one(conn, tenant_id, change, &now).await?);
                }
                Ok(pks)
            })
        })
        .await
    }
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
                return Err(CrmError::NotFound);
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
    let groups = serde_json::to_string(&groups).map_err(|e| CrmError::Corrupt(e.to_string()))?;
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
