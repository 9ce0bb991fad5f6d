//! Group commit: one task per process owns all writes. It takes every write that is
//! waiting, runs them in one transaction, commits once, and only then answers. With
//! `synchronous=FULL` (SQLite) or a default PostgreSQL, that one commit is one fsync for
//! the whole batch, and every 2xx the SCIM layer sends is backed by a durable commit.
//!
//! A write that must be refused (taken `userName`, unknown id, invalid PATCH) is found
//! out before it writes anything, so it fails alone without a savepoint; a database
//! error aborts the batch and every request in it gets 503, none a false 2xx.
//!
//! - [`create`]: new users of a batch go in with one multi-row statement.
//! - [`rows`]: reading, writing and indexing single resources and members.
//! - [`sequences`]: the tenants' change sequence numbers for the batch.

mod create;
mod rows;
mod sequences;

use create::{create_users, USERS_PER_INSERT};
use rows::{
    add_members, apply_member_op, delete_emails, emails_folded, ensure_user_name_free, fetch,
    folded, insert_group, mutation_targets, update, IndexedNow, Prefetched,
};
use sequences::Sequences;

use crate::{
    Backend, Current, Mutation, ResourceKind, Result, StoreError, StoredResource, Tenant, Write,
    WriteOutcome,
};
use scimgate_core::Timestamp;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};
use tokio::sync::{mpsc, oneshot};

/// Most writes one transaction carries; bounds the time any one request waits.
const MAX_BATCH: usize = 512;

pub(crate) struct Job {
    tenant: Tenant,
    now: Timestamp,
    write: Write,
    reply: oneshot::Sender<Result<WriteOutcome>>,
}

pub(crate) fn spawn(pool: AnyPool, backend: Backend) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    tokio::spawn(run(pool, backend, rx));
    tx
}

impl crate::Store {
    /// Applies one write durably; returns once it is committed (or refused).
    pub async fn write(
        &self,
        tenant: &Tenant,
        now: Timestamp,
        write: Write,
    ) -> Result<WriteOutcome> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(Job {
                tenant: tenant.clone(),
                now,
                write,
                reply,
            })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run(pool: AnyPool, backend: Backend, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // One lock order for every batch (tenant rows first, by id) so that two replicas
        // writing on one PostgreSQL cannot deadlock each other.
        batch.sort_by_key(|job: &Job| job.tenant.id);
        let jobs = std::mem::take(&mut batch);
        commit_batch(&pool, backend, jobs).await;
    }
}

async fn commit_batch(pool: &AnyPool, backend: Backend, jobs: Vec<Job>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(err) => return fail_all(jobs, &err),
    };
    if let Err(err) = conn.execute(backend.begin_write()).await {
        return fail_all(jobs, &err);
    }
    let mut sequences = Sequences::default();
    let mut answered = Vec::with_capacity(jobs.len());
    // Every tenant row the batch writes is locked first, in id order (the jobs are sorted
    // by tenant), before any resource row: one lock order for every batch, so replicas
    // sharing one PostgreSQL cannot deadlock however their batches mix creates and PATCHes.
    let mut tenants: Vec<Tenant> = jobs.iter().map(|job| job.tenant.clone()).collect();
    tenants.dedup_by_key(|t| t.id);
    for tenant in &tenants {
        if let Err(Fatal(err)) = sequences.next(&mut conn, backend, tenant).await {
            let pending = jobs.into_iter().map(|j| j.reply);
            return abort(conn, err, answered, pending).await;
        }
    }
    // New users go in first, many rows per statement: a batch of creates costs a few
    // statements, not a few per request.
    let (creates, others): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|job| {
        matches!(
            job.write,
            Write::Create {
                kind: ResourceKind::User,
                ..
            }
        )
    });
    let mut creates = creates.into_iter().peekable();
    while let Some(first) = creates.next() {
        let mut chunk = vec![first];
        while chunk.len() < USERS_PER_INSERT
            && creates
                .peek()
                .is_some_and(|j| j.tenant.id == chunk[0].tenant.id)
        {
            chunk.extend(creates.next());
        }
        match create_users(&mut conn, backend, &mut sequences, chunk).await {
            Ok(results) => answered.extend(results),
            Err((err, replies)) => {
                let pending = replies
                    .into_iter()
                    .chain(creates.map(|j| j.reply))
                    .chain(others.into_iter().map(|j| j.reply));
                return abort(conn, err, answered, pending).await;
            }
        }
    }
    let mut prefetched = Prefetched::default();
    let targets = mutation_targets(&others);
    if let Err(err) = prefetched
        .load(&mut conn, backend, &mut sequences, targets)
        .await
    {
        let pending = others.into_iter().map(|j| j.reply);
        return abort(conn, err, answered, pending).await;
    }
    let mut others = others.into_iter();
    while let Some(Job {
        tenant,
        now,
        write,
        reply,
    }) = others.next()
    {
        let result = async {
            let seq = sequences.next(&mut conn, backend, &tenant).await?;
            apply(
                &mut conn,
                backend,
                &mut prefetched,
                &tenant,
                now,
                seq,
                write,
            )
            .await
        }
        .await;
        match result {
            Ok(outcome) => {
                sequences.consume(&tenant, 1);
                answered.push((reply, Ok(outcome)));
            }
            Err(Refused(err)) => answered.push((reply, Err(err))),
            Err(Fatal(err)) => {
                let pending = std::iter::once(reply).chain(others.map(|j| j.reply));
                return abort(conn, err, answered, pending).await;
            }
        }
    }
    let finished = async {
        sequences.store(&mut conn).await?;
        conn.execute("COMMIT").await
    }
    .await;
    match finished {
        Ok(_) => {
            for (reply, result) in answered {
                let _ = reply.send(result);
            }
        }
        Err(err) => {
            tracing::error!(error = %err, "write batch commit failed");
            let _ = conn.execute("ROLLBACK").await;
            conn.close_on_drop();
            for (reply, _) in answered {
                let _ = reply.send(Err(StoreError::Unavailable(format!(
                    "commit failed: {err}"
                ))));
            }
        }
    }
}

type Reply = oneshot::Sender<Result<WriteOutcome>>;

/// The transaction itself is broken: nothing of it may be acknowledged.
async fn abort(
    mut conn: PoolConnection<Any>,
    err: sqlx::Error,
    answered: Vec<(Reply, Result<WriteOutcome>)>,
    pending: impl Iterator<Item = Reply>,
) {
    tracing::error!(error = %err, "write batch aborted");
    let _ = conn.execute("ROLLBACK").await;
    conn.close_on_drop();
    for reply in answered.into_iter().map(|(reply, _)| reply).chain(pending) {
        let _ = reply.send(Err(StoreError::Unavailable(format!(
            "write batch aborted: {err}"
        ))));
    }
}

fn fail_all(jobs: Vec<Job>, err: &sqlx::Error) {
    tracing::error!(error = %err, "write batch could not start");
    for job in jobs {
        let _ = job
            .reply
            .send(Err(StoreError::Unavailable(err.to_string())));
    }
}

/// A refused write (conflict, not found, rejected mutation) is detected before it writes
/// anything, so it fails alone without a savepoint; a database error breaks the batch.
enum Failure {
    Refused(StoreError),
    Fatal(sqlx::Error),
}
use Failure::{Fatal, Refused};

impl From<sqlx::Error> for Failure {
    fn from(err: sqlx::Error) -> Self {
        Fatal(err)
    }
}

impl From<StoreError> for Failure {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Database(db) => Fatal(db),
            other => Refused(other),
        }
    }
}

async fn apply(
    conn: &mut PoolConnection<Any>,
    backend: Backend,
    prefetched: &mut Prefetched,
    tenant: &Tenant,
    now: Timestamp,
    change_seq: i64,
    write: Write,
) -> Result<WriteOutcome, Failure> {
    let stamp = now.to_rfc3339();
    match write {
        Write::Create { kind, doc, members } => {
            let id = uuid::Uuid::new_v4().to_string();
            let position = insert_group(conn, tenant, kind, &id, &doc, &stamp, change_seq).await?;
            if kind == ResourceKind::Group {
                add_members(conn, tenant, &id, &members).await?;
            }
            let resource = StoredResource {
                kind,
                id,
                body: doc.body,
                created: now,
                last_modified: now,
                version: 1,
                position,
            };
            Ok(WriteOutcome {
                resource: Some(resource),
                change_seq,
            })
        }
        Write::Mutate { kind, id, mutator } => {
            let (current, indexed) = match prefetched.rows.get(&(kind, id.clone())) {
                Some(row) => row.clone(),
                None => fetch(conn, tenant, kind, &id, backend).await?,
            };
            let mutation: Mutation = mutator(Current {
                id: current.id.clone(),
                body: current.body.clone(),
                version: current.version,
            })
            .map_err(|e| Refused(StoreError::Rejected(e)))?;
            let renamed =
                folded(&mutation.doc.user_name).unwrap_or_default() != indexed.user_name_folded;
            if kind == ResourceKind::User && renamed {
                ensure_user_name_free(conn, tenant, &id, &mutation.doc).await?;
            }
            let version = update(
                conn,
                tenant,
                kind,
                &id,
                &mutation.doc,
                &stamp,
                change_seq,
                &indexed,
            )
            .await?;
            for op in &mutation.members {
                apply_member_op(conn, tenant, &id, op).await?;
            }
            let resource = StoredResource {
                kind,
                id: id.clone(),
                body: mutation.doc.body,
                created: current.created,
                last_modified: now,
                version,
                position: current.position,
            };
            // A later write of this resource in the same batch starts from this state.
            let indexed = IndexedNow {
                user_name_folded: folded(&mutation.doc.user_name).unwrap_or_default(),
                emails_folded: emails_folded(&mutation.doc.emails),
            };
            prefetched
                .rows
                .insert((kind, id), (resource.clone(), indexed));
            Ok(WriteOutcome {
                resource: Some(resource),
                change_seq,
            })
        }
        Write::Delete { kind, id } => {
            let sql = format!(
                "DELETE FROM {} WHERE tenant_id = $1 AND id = $2",
                kind.table()
            );
            let done = sqlx::query(&sql)
                .bind(tenant.id)
                .bind(id.as_str())
                .execute(&mut **conn)
                .await?;
            if done.rows_affected() == 0 {
                return Err(Refused(StoreError::NotFound));
            }
            prefetched.rows.remove(&(kind, id.clone()));
            let member_column = match kind {
                ResourceKind::User => "member_id",
                ResourceKind::Group => "group_id",
            };
            sqlx::query(&format!(
                "DELETE FROM staged_group_members WHERE tenant_id = $1 AND {member_column} = $2"
            ))
            .bind(tenant.id)
            .bind(id.as_str())
            .execute(&mut **conn)
            .await?;
            if kind == ResourceKind::User {
                delete_emails(conn, tenant, &id).await?;
            }
            Ok(WriteOutcome {
                resource: None,
                change_seq,
            })
        }
    }
}
