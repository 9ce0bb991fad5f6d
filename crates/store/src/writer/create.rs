//! New users, many rows per statement.

use super::rows::{bind_opt, conflict_name, emails_folded, folded, insert_emails};
use super::sequences::Sequences;
use super::{Failure::Fatal, Failure::Refused, Job};
use crate::query::Bind;
use crate::{
    Backend, IndexedDoc, ResourceKind, Result, StoreError, StoredResource, Tenant, Write,
    WriteOutcome,
};
use scimgate_core::Timestamp;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Row};

/// Rows per multi-row INSERT of new users (10 parameters each, far below both backends' limits).
pub(super) const USERS_PER_INSERT: usize = 100;

/// Inserts new users of one tenant with one multi-row statement (and one for their
/// e-mails). A taken `userName` skips that row (`ON CONFLICT DO NOTHING`) and refuses
/// that request alone, leaving the tenant's change sequence as if it never came.
pub(super) async fn create_users(
    conn: &mut PoolConnection<Any>,
    backend: Backend,
    sequences: &mut Sequences,
    jobs: &[&Job],
) -> std::result::Result<Vec<Result<WriteOutcome>>, sqlx::Error> {
    let tenant = &jobs[0].tenant;
    let rows: Vec<(String, Timestamp, &IndexedDoc)> = jobs
        .iter()
        .filter_map(|job| match &job.write {
            Write::Create { doc, .. } => Some((uuid::Uuid::new_v4().to_string(), job.now, doc)),
            _ => None,
        })
        .collect();
    let first_seq = match sequences.next(conn, backend, tenant).await {
        Ok(seq) => seq,
        Err(Fatal(err)) => return Err(err),
        Err(Refused(_)) => return Err(sqlx::Error::RowNotFound),
    };
    let inserted = insert_users(conn, tenant, first_seq, &rows).await?;
    let seqs = compact_sequences(conn, tenant, first_seq, &rows, &inserted).await?;
    sequences.consume(tenant, inserted.len() as i64);
    let emails: Vec<(&str, &[String])> = rows
        .iter()
        .filter(|(id, _, _)| inserted.contains_key(id))
        .map(|(id, _, doc)| (id.as_str(), doc.emails.as_slice()))
        .collect();
    insert_emails(conn, tenant, &emails).await?;
    Ok(rows
        .into_iter()
        .map(|(id, now, doc)| match (inserted.get(&id), seqs.get(&id)) {
            (Some(position), Some(change_seq)) => Ok(WriteOutcome {
                change_seq: *change_seq,
                resource: Some(StoredResource {
                    kind: ResourceKind::User,
                    id,
                    body: doc.body.clone(),
                    created: now,
                    last_modified: now,
                    version: 1,
                    position: *position,
                }),
            }),
            _ => Err(StoreError::Conflict(conflict_name(ResourceKind::User, doc))),
        })
        .collect())
}

/// Each inserted row's change sequence number. Rows were numbered in request order; when
/// some were refused the survivors are renumbered without gaps (rare: only on conflicts).
pub(super) async fn compact_sequences(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    first_seq: i64,
    rows: &[(String, Timestamp, &IndexedDoc)],
    inserted: &std::collections::HashMap<String, i64>,
) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    let mut seqs = std::collections::HashMap::with_capacity(inserted.len());
    let mut next = first_seq;
    for (i, (id, _, _)) in rows.iter().enumerate() {
        if !inserted.contains_key(id) {
            continue;
        }
        if next != first_seq + i as i64 {
            sqlx::query("UPDATE staged_users SET change_seq = $3 WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.id)
                .bind(id.as_str())
                .bind(next)
                .execute(&mut **conn)
                .await?;
        }
        seqs.insert(id.clone(), next);
        next += 1;
    }
    Ok(seqs)
}

pub(super) async fn insert_users(
    conn: &mut PoolConnection<Any>,
    tenant: &Tenant,
    first_seq: i64,
    rows: &[(String, Timestamp, &IndexedDoc)],
) -> Result<std::collections::HashMap<String, i64>, sqlx::Error> {
    let mut q = crate::query::SqlBuilder::new(tenant.id);
    let mut values = Vec::with_capacity(rows.len());
    for (i, (id, now, doc)) in rows.iter().enumerate() {
        let body =
            serde_json::to_string(&doc.body).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let stamp = now.to_rfc3339();
        let params = [
            q.bind(Bind::Text(id.clone())),
            q.bind(Bind::Text(folded(&doc.user_name).unwrap_or_default())),
            bind_opt(&mut q, &doc.external_id),
            bind_opt(&mut q, &folded(&doc.display_name)),
            match doc.active {
                Some(a) => q.bind(Bind::Int(i64::from(a))),
                None => "NULL".to_owned(),
            },
            q.bind(Bind::Text(body)),
            q.bind(Bind::Text(stamp)),
            q.bind(Bind::Int(first_seq + i as i64)),
            q.bind(Bind::Text(emails_folded(&doc.emails))),
        ];
        let [id_p, name_p, ext_p, display_p, active_p, body_p, stamp_p, seq_p, emails_p] = params;
        values.push(format!(
            "($1, {id_p}, {name_p}, {ext_p}, {display_p}, {active_p}, {body_p}, {stamp_p}, {stamp_p}, 1, {seq_p}, {emails_p})"
        ));
    }
    q.sql = format!(
        "INSERT INTO staged_users (tenant_id, id, user_name_folded, external_id, display_name_folded,
         active, body, created_at, modified_at, version, change_seq, emails_folded)
         VALUES {} ON CONFLICT DO NOTHING RETURNING id, pk",
        values.join(", ")
    );
    let mut inserted = std::collections::HashMap::with_capacity(rows.len());
    for row in q.apply(sqlx::query(&q.sql)).fetch_all(&mut **conn).await? {
        inserted.insert(
            row.try_get::<String, _>("id")?,
            row.try_get::<i64, _>("pk")?,
        );
    }
    Ok(inserted)
}
