//! Reading staged users and groups.

use crate::columns::Columns;
use crate::query::{Bind, SqlBuilder};
use crate::{Cond, Member, ResourceKind, Result, Store, StoreError, StoredResource, Tenant};
use scimgate_core::Timestamp;
use sqlx::Row;

const RESOURCE_COLUMNS: &str = "pk, id, body, created_at, modified_at, version";

pub(crate) fn resource_from_row(kind: ResourceKind, row: &impl Columns) -> Result<StoredResource> {
    let id: String = row.get("id")?;
    let body: String = row.get("body")?;
    let body = serde_json::from_str(&body).map_err(|e| {
        StoreError::Corrupt(format!("{} {id} has an unreadable body: {e}", kind.name()))
    })?;
    let time = |column: &str| -> Result<Timestamp> {
        let text: String = row.get(column)?;
        Timestamp::parse_rfc3339(&text).ok_or_else(|| {
            StoreError::Corrupt(format!("{} {id} has a bad {column}: {text}", kind.name()))
        })
    };
    Ok(StoredResource {
        kind,
        body,
        created: time("created_at")?,
        last_modified: time("modified_at")?,
        version: row.get("version")?,
        position: row.get("pk")?,
        id,
    })
}

/// One page of a listing: the total number of matches and the requested slice.
#[derive(Debug, Clone)]
pub struct Page {
    pub total: i64,
    pub resources: Vec<StoredResource>,
}

impl Store {
    pub async fn get(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<StoredResource>> {
        let sql = format!(
            "SELECT {RESOURCE_COLUMNS} FROM {} WHERE tenant_id = $1 AND id = $2",
            kind.table()
        );
        let binds = [Bind::Int(tenant.id), Bind::Text(id.to_owned())];
        if let Some(read) = self.point_read(&sql, &binds, kind) {
            return Ok(read?.pop());
        }
        sqlx::query(&sql)
            .bind(tenant.id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| resource_from_row(kind, &row))
            .transpose()
    }

    /// Resources matching `cond` exactly (all of them when `None`), in creation order:
    /// the count and the slice `offset .. offset + limit`.
    pub async fn list(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        cond: Option<&Cond>,
        offset: i64,
        limit: i64,
    ) -> Result<Page> {
        // One round trip in the common case: the window function counts all matches
        // alongside the page. Only an empty page needs a separate count.
        let mut page = where_clause(tenant, kind, cond)?;
        let limit_p = page.bind(Bind::Int(limit));
        let offset_p = page.bind(Bind::Int(offset));
        page.sql = format!(
            "SELECT {RESOURCE_COLUMNS}, COUNT(*) OVER () AS total FROM {} {} ORDER BY pk LIMIT {limit_p} OFFSET {offset_p}",
            kind.table(),
            page.sql
        );
        let point = cond.is_some_and(Cond::is_point_lookup) && limit > 0;
        if let Some(read) = point.then(|| self.point_read_page(&page, kind)).flatten() {
            let (total, resources) = read?;
            if total > 0 || offset == 0 {
                return Ok(Page { total, resources });
            }
        }
        let rows = if limit > 0 {
            page.apply(sqlx::query(&page.sql))
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        let total: i64 = match rows.first() {
            Some(row) => row.try_get("total")?,
            None if offset == 0 && limit > 0 => 0,
            None => {
                let mut count = where_clause(tenant, kind, cond)?;
                count.sql = format!("SELECT COUNT(*) FROM {} {}", kind.table(), count.sql);
                count
                    .apply(sqlx::query(&count.sql))
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?
            }
        };
        let resources = rows
            .iter()
            .map(|row| resource_from_row(kind, row))
            .collect::<Result<_>>()?;
        Ok(Page { total, resources })
    }

    /// A statement that reads a few rows by a unique index, on SQLite's calling thread
    /// (see [`crate::point_reads`]); `None` on PostgreSQL or when the pool should read.
    fn point_read(
        &self,
        sql: &str,
        binds: &[Bind],
        kind: ResourceKind,
    ) -> Option<Result<Vec<StoredResource>>> {
        let reads = self.point_reads.as_ref()?;
        reads.query(sql, binds, |row| resource_from_row(kind, row))
    }

    /// [`Store::point_read`] of a listing's page with its `total` column.
    fn point_read_page(
        &self,
        page: &SqlBuilder,
        kind: ResourceKind,
    ) -> Option<Result<(i64, Vec<StoredResource>)>> {
        let reads = self.point_reads.as_ref()?;
        let rows = reads.query(&page.sql, &page.binds, |row| {
            let total: i64 = row.get("total")?;
            Ok((total, resource_from_row(kind, row)?))
        })?;
        Some(rows.map(|rows| {
            let total = rows.first().map_or(0, |(total, _)| *total);
            (total, rows.into_iter().map(|(_, r)| r).collect())
        }))
    }

    /// A chunk of resources that may match `cond` (a superset the caller filters further),
    /// after position `after`, in position order. Scanning chunk by chunk keeps memory
    /// bounded however many resources a tenant has.
    pub async fn scan(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        cond: Option<&Cond>,
        after: i64,
        chunk: i64,
    ) -> Result<Vec<StoredResource>> {
        let mut q = where_clause(tenant, kind, cond)?;
        let after_p = q.bind(Bind::Int(after));
        let chunk_p = q.bind(Bind::Int(chunk));
        q.sql = format!(
            "SELECT {RESOURCE_COLUMNS} FROM {} {} AND pk > {after_p} ORDER BY pk LIMIT {chunk_p}",
            kind.table(),
            q.sql
        );
        q.apply(sqlx::query(&q.sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| resource_from_row(kind, row))
            .collect()
    }

    /// Members of the given groups, as `(group id, member)` ordered by group then member.
    pub async fn members(
        &self,
        tenant: &Tenant,
        group_ids: &[&str],
    ) -> Result<Vec<(String, Member)>> {
        let mut out = Vec::new();
        // Bounded IN lists keep every statement under both backends' parameter limits.
        for ids in group_ids.chunks(500) {
            let mut q = SqlBuilder::new(tenant.id);
            let params: Vec<String> = ids
                .iter()
                .map(|id| q.bind(Bind::Text((*id).to_owned())))
                .collect();
            q.sql = format!(
                "SELECT group_id, member_id, member_type, display FROM staged_group_members
                 WHERE tenant_id = $1 AND group_id IN ({}) ORDER BY group_id, member_id",
                params.join(", ")
            );
            for row in q.apply(sqlx::query(&q.sql)).fetch_all(&self.pool).await? {
                out.push((
                    row.try_get("group_id")?,
                    Member {
                        value: row.try_get("member_id")?,
                        member_type: row.try_get("member_type")?,
                        display: row.try_get("display")?,
                    },
                ));
            }
        }
        Ok(out)
    }

    /// Ids of the groups the user is a direct member of.
    pub async fn groups_of(&self, tenant: &Tenant, member_id: &str) -> Result<Vec<String>> {
        sqlx::query(
            "SELECT group_id FROM staged_group_members WHERE tenant_id = $1 AND member_id = $2 ORDER BY group_id",
        )
        .bind(tenant.id)
        .bind(member_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
    }
}

fn where_clause(tenant: &Tenant, kind: ResourceKind, cond: Option<&Cond>) -> Result<SqlBuilder> {
    let mut q = SqlBuilder::new(tenant.id);
    q.push("WHERE tenant_id = $1");
    if let Some(cond) = cond {
        q.push(" AND ");
        cond.write_sql(kind, &mut q)?;
    }
    Ok(q)
}
