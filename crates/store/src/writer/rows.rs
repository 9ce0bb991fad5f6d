//! Single resources: read (and lock), write, index, members.

use super::sequences::Sequences;
use super::{Failure, Failure::Fatal, Failure::Refused, Job};
use crate::query::Bind;
use crate::resources::resource_from_row;
use crate::{
    Backend, IndexedDoc, Member, MemberOp, ResourceKind, Result, StoreError, StoredResource,
    Tenant, Write,
};
use sqlx::pool::PoolConnection;
use sqlx::{Any, Row};

/// The current rows of every resource the batch mutates, read (and on PostgreSQL locked)
/// with one statement per tenant and kind instead of one per write. Keyed by tenant too:
/// a write naming another tenant's id must find nothing here, as in the database.
#[derive(Default)]
pub(super) struct Prefetched {
    pub(super) rows:
        std::collections::HashMap<(i64, ResourceKind, String), (StoredResource, IndexedNow)>,
}

impl Prefetched {
    pub(super) async fn load(
        &mut self,
        conn: &mut PoolConnection<Any>,
        backend: Backend,
        sequences: &mut Sequences,
        mut wanted: Vec<(Tenant, ResourceKind, String)>,
    ) -> Result<(), sqlx::Error> {
        wanted.sort_by_key(|(tenant, kind, _)| (tenant.id, *kind == ResourceKind::Group));
        for group in wanted.chunk_by(|a, b| a.0.id == b.0.id && a.1 == b.1) {
            let (tenant, kind) = (&group[0].0, group[0].1);
            // The tenant's row is locked before any resource row: one lock order everywhere.
            match sequences.next(conn, backend, tenant).await {
                Ok(_) => {}
                Err(Fatal(err)) => return Err(err),
                Err(Refused(_)) => continue,
            }
            for ids in group.chunks(500) {
                let mut q = crate::query::SqlBuilder::new(tenant.id);
                let params: Vec<String> = ids
                    .iter()
                    .map(|(_, _, id)| q.bind(Bind::Text(id.clone())))
                    .collect();
                let lock = if backend == Backend::Postgres {
                    " FOR UPDATE"
                } else {
                    ""
                };
                q.sql = format!(
                    "SELECT pk, id, body, created_at, modified_at, version, {} FROM {} WHERE tenant_id = $1 AND id IN ({}){lock}",
                    indexed_columns(kind),
                    kind.table(),
                    params.join(", ")
                );
                for row in q.apply(sqlx::query(&q.sql)).fetch_all(&mut **conn).await? {
                    let indexed = IndexedNow {
                        user_name_folded: row.try_get("user_name_folded")?,
                        emails_folded: row.try_get("emails_folded")?,
                    };
                    // A row that cannot be read is left out: its own write reads it again
                    // and is refused alone (Corrupt), not the whole batch.
                    match resource_from_row(kind, &row) {
                        Ok(resource) => {
                            self.rows.insert(
                                (tenant.id, kind, resource.id.clone()),
                                (resource, indexed),
                            );
                        }
                        Err(e) => tracing::error!(error = %e, "unreadable stored resource"),
                    }
                }
            }
        }
        Ok(())
    }
}

/// The resources a batch's mutations write.
pub(super) fn mutation_targets<'a>(
    jobs: impl Iterator<Item = &'a Job>,
) -> Vec<(Tenant, ResourceKind, String)> {
    jobs.filter_map(|job| match &job.write {
        Write::Mutate { kind, id, .. } => Some((job.tenant.clone(), *kind, id.clone())),
        _ => None,
    })
    .collect()
}

pub(super) fn indexed_columns(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "user_name_folded, emails_folded",
        ResourceKind::Group => "'' AS user_name_folded, '' AS emails_folded",
    }
}

/// A rename onto a taken userName is refused before anything is written, so the batch's
/// transaction is never broken by a unique violation.
pub(super) async fn ensure_user_name_free(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    id: &str,
    doc: &IndexedDoc,
) -> Result<(), Failure> {
    let Some(name) = &doc.user_name else {
        return Ok(());
    };
    let taken = sqlx::query(
        "SELECT 1 FROM staged_users WHERE tenant_id = $1 AND user_name_folded = $2 AND id <> $3",
    )
    .bind(tenant.id)
    .bind(scimgate_core::text::fold_case(name))
    .bind(id)
    .fetch_optional(&mut **conn)
    .await?;
    match taken {
        Some(_) => Err(Refused(StoreError::Conflict(conflict_name(
            ResourceKind::User,
            doc,
        )))),
        None => Ok(()),
    }
}

/// What a write needs to know of a resource's indexed values to skip needless work.
#[derive(Clone)]
pub(super) struct IndexedNow {
    pub(super) user_name_folded: String,
    pub(super) emails_folded: String,
}

pub(super) async fn fetch(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    kind: ResourceKind,
    id: &str,
    backend: Backend,
) -> Result<(StoredResource, IndexedNow)> {
    // FOR UPDATE: another replica's batch must wait for ours before it reads this row.
    let lock = if backend == Backend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let indexed = indexed_columns(kind);
    let sql = format!(
        "SELECT pk, id, body, created_at, modified_at, version, {indexed} FROM {} WHERE tenant_id = $1 AND id = $2{lock}",
        kind.table()
    );
    let row = sqlx::query(&sql)
        .bind(tenant.id)
        .bind(id)
        .fetch_optional(&mut **conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let now = IndexedNow {
        user_name_folded: row.try_get("user_name_folded")?,
        emails_folded: row.try_get("emails_folded")?,
    };
    Ok((resource_from_row(kind, &row)?, now))
}

pub(super) fn emails_folded(emails: &[String]) -> String {
    emails
        .iter()
        .map(|e| scimgate_core::text::fold_case(e))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn body_text(doc: &IndexedDoc) -> Result<String> {
    serde_json::to_string(&doc.body)
        .map_err(|e| StoreError::Corrupt(format!("unserialisable body: {e}")))
}

pub(super) fn conflict_name(kind: ResourceKind, doc: &IndexedDoc) -> String {
    match (kind, &doc.user_name) {
        (ResourceKind::User, Some(name)) => format!("a user with userName {name:?}"),
        _ => format!("this {}", kind.name()),
    }
}

pub(super) fn folded(value: &Option<String>) -> Option<String> {
    value.as_deref().map(scimgate_core::text::fold_case)
}

/// Inserts a resource on its own (groups; users normally go in through
/// [`super::create`]); returns its position. A taken `userName` is a refusal, found by
/// `ON CONFLICT DO NOTHING` rather than an error that would break the transaction.
pub(super) async fn insert_group(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    kind: ResourceKind,
    id: &str,
    doc: &IndexedDoc,
    stamp: &str,
    change_seq: i64,
) -> Result<i64, Failure> {
    let body = body_text(doc)?;
    let row = match kind {
        ResourceKind::User => {
            sqlx::query(
                "INSERT INTO staged_users (tenant_id, id, user_name_folded, external_id, display_name_folded,
                 active, body, created_at, modified_at, version, change_seq, emails_folded)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, 1, $9, $10)
                 ON CONFLICT DO NOTHING RETURNING pk",
            )
            .bind(tenant.id)
            .bind(id)
            .bind(folded(&doc.user_name).unwrap_or_default())
            .bind(doc.external_id.as_deref())
            .bind(folded(&doc.display_name))
            .bind(doc.active.map(i64::from))
            .bind(body)
            .bind(stamp)
            .bind(change_seq)
            .bind(emails_folded(&doc.emails))
            .fetch_optional(&mut **conn)
            .await?
        }
        ResourceKind::Group => {
            sqlx::query(
                "INSERT INTO staged_groups (tenant_id, id, external_id, display_name_folded,
                 body, created_at, modified_at, version, change_seq)
                 VALUES ($1, $2, $3, $4, $5, $6, $6, 1, $7)
                 ON CONFLICT DO NOTHING RETURNING pk",
            )
            .bind(tenant.id)
            .bind(id)
            .bind(doc.external_id.as_deref())
            .bind(folded(&doc.display_name))
            .bind(body)
            .bind(stamp)
            .bind(change_seq)
            .fetch_optional(&mut **conn)
            .await?
        }
    };
    let Some(row) = row else {
        return Err(Refused(StoreError::Conflict(conflict_name(kind, doc))));
    };
    if kind == ResourceKind::User {
        insert_emails(conn, tenant, &[(id, doc.emails.as_slice())]).await?;
    }
    Ok(row.try_get(0)?)
}

/// Writes a mutated resource; returns its new version. The e-mail index is rewritten
/// only when the e-mails changed.
#[allow(clippy::too_many_arguments)]
/// Updates one resource now (one not prefetched; the others go through
/// [`super::pending::PendingUpdates`]); returns its new version.
pub(super) async fn update(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    kind: ResourceKind,
    id: &str,
    doc: &IndexedDoc,
    (stamp, change_seq): (&str, i64),
    before: &IndexedNow,
) -> Result<i64, Failure> {
    let emails = emails_folded(&doc.emails);
    let body = body_text(doc)?;
    let row = match kind {
        ResourceKind::User => {
            sqlx::query(
                "UPDATE staged_users SET user_name_folded = $3, external_id = $4, display_name_folded = $5,
                 active = $6, body = $7, modified_at = $8, version = version + 1, change_seq = $9,
                 emails_folded = $10
                 WHERE tenant_id = $1 AND id = $2 RETURNING version",
            )
            .bind(tenant.id)
            .bind(id)
            .bind(folded(&doc.user_name).unwrap_or_default())
            .bind(doc.external_id.as_deref())
            .bind(folded(&doc.display_name))
            .bind(doc.active.map(i64::from))
            .bind(body)
            .bind(stamp)
            .bind(change_seq)
            .bind(&emails)
            .fetch_one(&mut **conn)
            .await?
        }
        ResourceKind::Group => {
            sqlx::query(
                "UPDATE staged_groups SET external_id = $3, display_name_folded = $4, body = $5,
                 modified_at = $6, version = version + 1, change_seq = $7
                 WHERE tenant_id = $1 AND id = $2 RETURNING version",
            )
            .bind(tenant.id)
            .bind(id)
            .bind(doc.external_id.as_deref())
            .bind(folded(&doc.display_name))
            .bind(body)
            .bind(stamp)
            .bind(change_seq)
            .fetch_one(&mut **conn)
            .await?
        }
    };
    if kind == ResourceKind::User && emails != before.emails_folded {
        delete_emails(conn, tenant, id).await?;
        insert_emails(conn, tenant, &[(id, doc.emails.as_slice())]).await?;
    }
    Ok(row.try_get(0)?)
}

pub(super) async fn delete_emails(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM staged_user_emails WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant.id)
        .bind(id)
        .execute(&mut **conn)
        .await?;
    Ok(())
}

/// Adds e-mail index rows for several users with as few statements as possible.
pub(super) async fn insert_emails(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    users: &[(&str, &[String])],
) -> Result<(), sqlx::Error> {
    let rows: Vec<(&str, &String)> = users
        .iter()
        .flat_map(|(id, emails)| emails.iter().map(move |e| (*id, e)))
        .collect();
    for chunk in rows.chunks(200) {
        let mut q = crate::query::SqlBuilder::new(tenant.id);
        let values: Vec<String> = chunk
            .iter()
            .map(|(id, email)| {
                let id = q.bind(Bind::Text((*id).to_owned()));
                let value = q.bind(Bind::Text(scimgate_core::text::fold_case(email)));
                format!("($1, {id}, {value})")
            })
            .collect();
        q.sql = format!(
            "INSERT INTO staged_user_emails (tenant_id, user_id, value_folded) VALUES {}",
            values.join(", ")
        );
        q.apply(sqlx::query(&q.sql)).execute(&mut **conn).await?;
    }
    Ok(())
}

pub(super) async fn add_members(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    group_id: &str,
    members: &[Member],
) -> Result<()> {
    // Multi-row inserts: a batch of 10,000 members is 100 statements, not 10,000.
    for chunk in members.chunks(100) {
        let mut q = crate::query::SqlBuilder::new(tenant.id);
        let group_p = q.bind(Bind::Text(group_id.to_owned()));
        let mut rows = Vec::with_capacity(chunk.len());
        for member in chunk {
            let value = q.bind(Bind::Text(member.value.clone()));
            let member_type = bind_opt(&mut q, &member.member_type);
            let display = bind_opt(&mut q, &member.display);
            rows.push(format!(
                "($1, {group_p}, {value}, {member_type}, {display})"
            ));
        }
        q.sql = format!(
            "INSERT INTO staged_group_members (tenant_id, group_id, member_id, member_type, display) VALUES {}
             ON CONFLICT (tenant_id, group_id, member_id) DO NOTHING",
            rows.join(", ")
        );
        q.apply(sqlx::query(&q.sql)).execute(&mut **conn).await?;
    }
    Ok(())
}

pub(super) fn bind_opt(q: &mut crate::query::SqlBuilder, value: &Option<String>) -> String {
    match value {
        Some(v) => q.bind(Bind::Text(v.clone())),
        None => "NULL".to_owned(),
    }
}

pub(super) async fn apply_member_op(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    group_id: &str,
    op: &MemberOp,
) -> Result<()> {
    match op {
        MemberOp::Add(members) => add_members(conn, tenant, group_id, members).await,
        MemberOp::RemoveAll => {
            sqlx::query("DELETE FROM staged_group_members WHERE tenant_id = $1 AND group_id = $2")
                .bind(tenant.id)
                .bind(group_id)
                .execute(&mut **conn)
                .await?;
            Ok(())
        }
        MemberOp::Remove(ids) => {
            for chunk in ids.chunks(100) {
                let mut q = crate::query::SqlBuilder::new(tenant.id);
                let group_p = q.bind(Bind::Text(group_id.to_owned()));
                let params: Vec<String> = chunk
                    .iter()
                    .map(|id| q.bind(Bind::Text(id.clone())))
                    .collect();
                q.sql = format!(
                    "DELETE FROM staged_group_members WHERE tenant_id = $1 AND group_id = {group_p} AND member_id IN ({})",
                    params.join(", ")
                );
                q.apply(sqlx::query(&q.sql)).execute(&mut **conn).await?;
            }
            Ok(())
        }
    }
}
