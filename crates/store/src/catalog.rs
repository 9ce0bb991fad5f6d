//! The tenant's catalogue (what exists in the CRM, edited by admins): one row per entry.
//! Every write checks its entries ([`Catalog::checked_entries`]) and refuses
//! a bad one as [`StoreError::Unstorable`], changing nothing.

use crate::{Result, Store, StoreError, Tenant};
use scimgate_core::{Catalog, CatalogEntry, CatalogKind, NamedEntry};
use sqlx::{AnyConnection, Row};

fn seats_column(seats: Option<u64>) -> Option<i64> {
    // check_entry has refused seat counts beyond i64.
    seats.map(|s| i64::try_from(s).unwrap_or(i64::MAX))
}

/// The tenant's catalogue on `conn` (inside a transaction that then writes on it).
pub(crate) async fn read(conn: &mut AnyConnection, tenant: &Tenant) -> Result<Catalog> {
    let rows = sqlx::query(
        "SELECT kind, name, seats FROM catalog_entries WHERE tenant_id = $1 ORDER BY kind, name",
    )
    .bind(tenant.id)
    .fetch_all(&mut *conn)
    .await?;
    let mut catalog = Catalog::default();
    for row in rows {
        let kind: String = row.try_get("kind")?;
        let name: String = row.try_get("name")?;
        let seats: Option<i64> = row.try_get("seats")?;
        let entry = match seats {
            Some(s) => CatalogEntry::Entry(NamedEntry {
                name,
                seats: Some(u64::try_from(s).unwrap_or(0)),
            }),
            None => CatalogEntry::Name(name),
        };
        let kind = CatalogKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("catalogue kind {kind:?}")))?;
        catalog.entries_mut(kind).push(entry);
    }
    Ok(catalog)
}

/// Replaces the whole catalogue on `conn`.
pub(crate) async fn replace(
    conn: &mut AnyConnection,
    tenant: &Tenant,
    catalog: &Catalog,
) -> Result<()> {
    let rows = catalog.checked_entries().map_err(StoreError::Unstorable)?;
    sqlx::query("DELETE FROM catalog_entries WHERE tenant_id = $1")
        .bind(tenant.id)
        .execute(&mut *conn)
        .await?;
    for (kind, name, seats) in rows {
        sqlx::query(
            "INSERT INTO catalog_entries (tenant_id, kind, name, seats) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.id)
        .bind(kind.name())
        .bind(name)
        .bind(seats_column(seats))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    pub async fn catalog(&self, tenant: &Tenant) -> Result<Catalog> {
        let mut conn = self.pool.acquire().await?;
        read(&mut conn, tenant).await
    }
}
