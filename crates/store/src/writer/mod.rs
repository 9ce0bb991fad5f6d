//! Group commit: one task per process owns all writes. It takes every write that is
//! waiting, runs them in one transaction, commits once, and only then answers. With
//! `synchronous=FULL` (SQLite) or a default PostgreSQL, that one commit is one fsync for
//! the whole batch, and every 2xx the SCIM layer sends is backed by a durable commit.
//!
//! One request's mistake never fails another's:
//! - values no database may store are refused before a write joins a batch
//!   ([`Write::check_storable`]), and a mutation's result before it is written;
//! - a write that must be refused (taken `userName`, unknown id, invalid PATCH) is found
//!   out before it writes anything, so it fails alone without a savepoint;
//! - if the database still refuses a value of the batch, the batch is retried in halves
//!   until the one write at fault fails alone (400); if the database itself fails, every
//!   waiting write gets 503 at once.
//!
//! - [`create`]: new users of a batch go in with one multi-row statement.
//! - [`members`]: group members must exist in the tenant; checked once per batch.
//! - [`rows`]: reading, writing and indexing single resources and members.
//! - [`sequences`]: the tenants' change sequence numbers for the batch.

mod create;
mod members;
mod pending;
mod rows;
mod sequences;
mod stats;

use create::{create_users, USERS_PER_INSERT};
use members::KnownMembers;
use pending::PendingUpdates;
use rows::{
    add_members, apply_member_op, delete_emails, emails_folded, ensure_user_name_free, fetch,
    folded, insert_emails, insert_group, mutation_targets, update, IndexedNow, Prefetched,
};
use sequences::Sequences;
use stats::{BatchTimes, Stages, WriterStats};

use crate::error::{blame, Blame};
use crate::write_gate::WriteGate;
use crate::{
    Backend, Current, Mutation, ResourceKind, Result, StoreError, StoredResource, Tenant, Write,
    WriteOutcome,
};
use scimgate_core::Timestamp;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Executor};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// Most writes one transaction carries; bounds the time any one request waits.
const MAX_BATCH: usize = 512;

pub(crate) struct Job {
    tenant: Tenant,
    now: Timestamp,
    write: Write,
    reply: oneshot::Sender<Result<WriteOutcome>>,
    queued: Instant,
}

pub(crate) fn spawn(pool: AnyPool, backend: Backend, gate: Arc<WriteGate>) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    tokio::spawn(run(pool, backend, gate, rx));
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
        write.check_storable()?;
        self.write_unchecked(tenant, now, write).await
    }

    /// [`crate::Store::write`] without the input check: only for tests that must make the
    /// database itself refuse a write, to see that it fails alone.
    #[doc(hidden)]
    pub async fn write_unchecked(
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
                queued: Instant::now(),
            })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

async fn run(pool: AnyPool, backend: Backend, gate: Arc<WriteGate>, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stats = WriterStats::new();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // One lock order for every batch (tenant rows first, by id) so that two replicas
        // writing on one PostgreSQL cannot deadlock each other.
        batch.sort_by_key(|job: &Job| job.tenant.id);
        let jobs = std::mem::take(&mut batch);
        commit_or_split(&pool, backend, &gate, jobs, &mut stats).await;
    }
}

/// Commits the jobs as one batch and answers them. When the database refuses a value of
/// the batch, its halves are tried on their own (each still in tenant order), down to the
/// single write at fault, so that only it fails. When the database itself fails, nothing
/// is retried: every write still waiting gets 503 at once (retrying a failing database
/// 2n times would only keep every tenant waiting longer).
async fn commit_or_split(
    pool: &AnyPool,
    backend: Backend,
    gate: &WriteGate,
    jobs: Vec<Job>,
    stats: &mut WriterStats,
) {
    let mut parts = vec![jobs];
    while let Some(mut jobs) = parts.pop() {
        let started = Instant::now();
        let err = match commit_batch(pool, backend, gate, &jobs).await {
            Ok((results, stages)) => {
                if stats.enabled() {
                    stats.record(BatchTimes {
                        waited: jobs.iter().map(|j| started - j.queued).collect(),
                        stages,
                    });
                }
                for (job, result) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
                continue;
            }
            Err(err) => err,
        };
        match blame(&err) {
            Blame::Input if jobs.len() > 1 => {
                tracing::warn!(error = %err, writes = jobs.len(), "the database refused a value in a write batch; retrying it in halves");
                let second = jobs.split_off(jobs.len() / 2);
                parts.push(second);
                parts.push(jobs);
            }
            Blame::Input => {
                tracing::info!(error = %err, "the database refused a value of this write");
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Unstorable(
                        "a value is too long or holds a character the database cannot store".into(),
                    )));
                }
            }
            Blame::Outage => {
                let waiting: Vec<Job> = jobs.into_iter().chain(parts.drain(..).flatten()).collect();
                tracing::error!(error = %err, writes = waiting.len(), "write batch failed");
                for job in waiting {
                    let _ = job.reply.send(Err(StoreError::Unavailable(format!(
                        "write batch failed: {err}"
                    ))));
                }
            }
        }
    }
}

/// Runs the jobs in one transaction. `Ok` holds each job's own answer (some may be
/// refusals) and means the transaction committed, with how long each stage took; `Err`
/// means nothing of it did.
async fn commit_batch(
    pool: &AnyPool,
    backend: Backend,
    gate: &WriteGate,
    jobs: &[Job],
) -> std::result::Result<(Vec<Result<WriteOutcome>>, Stages), sqlx::Error> {
    let mut clock = Instant::now();
    let mut lap = || {
        let now = Instant::now();
        std::mem::replace(&mut clock, now).elapsed()
    };
    let _turn = gate.ingest_turn().await;
    let mut conn = pool.acquire().await?;
    conn.execute(backend.begin_write()).await?;
    let begin = lap();
    let committed = match run_batch(&mut conn, backend, jobs).await {
        Ok(results) => {
            let statements = lap();
            (conn.execute("COMMIT").await).map(|_| {
                let commit = lap();
                (
                    results,
                    Stages {
                        begin,
                        statements,
                        commit,
                    },
                )
            })
        }
        Err(err) => Err(err),
    };
    if let Err(err) = &committed {
        let _ = conn.execute("ROLLBACK").await;
        // After a refused value the connection is sound; after anything else it may be
        // in any state, so it is not handed out again.
        if blame(err) == Blame::Outage {
            conn.close_on_drop();
        }
    }
    committed
}

async fn run_batch(
    conn: &mut PoolConnection<Any>,
    backend: Backend,
    jobs: &[Job],
) -> std::result::Result<Vec<Result<WriteOutcome>>, sqlx::Error> {
    let mut sequences = Sequences::default();
    let mut results: Vec<Option<Result<WriteOutcome>>> = (0..jobs.len()).map(|_| None).collect();
    // Every tenant row the batch writes is locked first, in id order (the jobs are sorted
    // by tenant), before any resource row: one lock order for every batch, so replicas
    // sharing one PostgreSQL cannot deadlock however their batches mix creates and PATCHes.
    let mut tenants: Vec<&Tenant> = jobs.iter().map(|job| &job.tenant).collect();
    tenants.dedup_by_key(|t| t.id);
    for tenant in tenants {
        match sequences.next(conn, backend, tenant).await {
            Ok(_) | Err(Refused(_)) => {}
            Err(Fatal(err)) => return Err(err),
        }
    }
    // New users go in first, many rows per statement: a batch of creates costs a few
    // statements, not a few per request.
    let is_user_create = |job: &Job| {
        matches!(
            job.write,
            Write::Create {
                kind: ResourceKind::User,
                ..
            }
        )
    };
    let creates: Vec<usize> = (0..jobs.len())
        .filter(|&i| is_user_create(&jobs[i]))
        .collect();
    for chunk in creates.chunk_by(|&a, &b| jobs[a].tenant.id == jobs[b].tenant.id) {
        for chunk in chunk.chunks(USERS_PER_INSERT) {
            let chunk_jobs: Vec<&Job> = chunk.iter().map(|&i| &jobs[i]).collect();
            let answers = create_users(conn, backend, &mut sequences, &chunk_jobs).await?;
            for (&i, answer) in chunk.iter().zip(answers) {
                results[i] = Some(answer);
            }
        }
    }
    let others: Vec<usize> = (0..jobs.len())
        .filter(|&i| !is_user_create(&jobs[i]))
        .collect();
    let mut prefetched = Prefetched::default();
    let targets = mutation_targets(others.iter().map(|&i| &jobs[i]));
    prefetched
        .load(conn, backend, &mut sequences, targets)
        .await?;
    let mut members = KnownMembers::default();
    members
        .load(conn, others.iter().map(|&i| &jobs[i]), &prefetched)
        .await?;
    let mut pending = PendingUpdates::default();
    for i in others {
        let Job {
            tenant, now, write, ..
        } = &jobs[i];
        if !matches!(write, Write::Mutate { .. }) {
            // A delete or a group's creation changes rows another way.
            pending.flush(conn).await?;
        }
        let result = async {
            let seq = sequences.next(conn, backend, tenant).await?;
            let batch = BatchState {
                prefetched: &mut prefetched,
                members: &mut members,
                pending: &mut pending,
            };
            apply(conn, backend, batch, tenant, *now, seq, write).await
        }
        .await;
        results[i] = Some(match result {
            Ok(outcome) => {
                sequences.consume(tenant, 1);
                Ok(outcome)
            }
            Err(Refused(err)) => Err(err),
            Err(Fatal(err)) => return Err(err),
        });
    }
    pending.flush(conn).await?;
    sequences.store(conn).await?;
    Ok(results
        .into_iter()
        .map(|r| r.unwrap_or(Err(StoreError::Unavailable("write was not run".into()))))
        .collect())
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

/// What the batch knows ahead of its writes: the rows they change, the members they add.
struct BatchState<'a> {
    prefetched: &'a mut Prefetched,
    members: &'a mut KnownMembers,
    pending: &'a mut PendingUpdates,
}

async fn apply(
    conn: &mut PoolConnection<Any>,
    backend: Backend,
    batch: BatchState<'_>,
    tenant: &Tenant,
    now: Timestamp,
    change_seq: i64,
    write: &Write,
) -> Result<WriteOutcome, Failure> {
    let stamp = now.to_rfc3339();
    match write {
        Write::Create { kind, doc, members } => {
            let kind = *kind;
            let id = uuid::Uuid::new_v4().to_string();
            if kind == ResourceKind::Group {
                batch.members.ensure(conn, tenant, &id, members).await?;
            }
            let position = insert_group(conn, tenant, kind, &id, doc, &stamp, change_seq).await?;
            if kind == ResourceKind::Group {
                add_members(conn, tenant, &id, members).await?;
            }
            let resource = StoredResource {
                kind,
                id,
                body: doc.body.clone(),
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
            let kind = *kind;
            let key = (tenant.id, kind, id.clone());
            let known = batch.prefetched.rows.get(&key).cloned();
            let prefetched = known.is_some();
            let (current, indexed) = match known {
                Some(row) => row,
                None => fetch(conn, tenant, kind, id, backend).await?,
            };
            let mutation: Mutation = mutator(Current {
                id: current.id.clone(),
                body: current.body.clone(),
                version: current.version,
            })
            .map_err(|e| Refused(StoreError::Rejected(e)))?;
            mutation
                .check_storable_over(&current.body)
                .map_err(|e| Refused(e.into()))?;
            let renamed =
                folded(&mutation.doc.user_name).unwrap_or_default() != indexed.user_name_folded;
            if kind == ResourceKind::User && renamed {
                // The check reads userNames from the table: the batch's renames first.
                batch.pending.flush(conn).await?;
                ensure_user_name_free(conn, tenant, id, &mutation.doc).await?;
            }
            for op in &mutation.members {
                if let crate::MemberOp::Add(members) = op {
                    batch.members.ensure(conn, tenant, id, members).await?;
                }
            }
            let now_indexed = IndexedNow {
                user_name_folded: folded(&mutation.doc.user_name).unwrap_or_default(),
                emails_folded: emails_folded(&mutation.doc.emails),
            };
            let version = if prefetched {
                // Written with the batch's other updates (pending.rs).
                let version = current.version + 1;
                (batch.pending).push(
                    tenant,
                    kind,
                    id,
                    &mutation.doc,
                    &now_indexed,
                    (&stamp, change_seq, version),
                )?;
                if kind == ResourceKind::User && now_indexed.emails_folded != indexed.emails_folded
                {
                    delete_emails(conn, tenant, id).await?;
                    insert_emails(conn, tenant, &[(id, mutation.doc.emails.as_slice())]).await?;
                }
                version
            } else {
                let stamped = (stamp.as_str(), change_seq);
                update(conn, tenant, kind, id, &mutation.doc, stamped, &indexed).await?
            };
            for op in &mutation.members {
                apply_member_op(conn, tenant, id, op).await?;
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
            batch
                .prefetched
                .rows
                .insert(key, (resource.clone(), now_indexed));
            Ok(WriteOutcome {
                resource: Some(resource),
                change_seq,
            })
        }
        Write::Delete { kind, id, if_match } => {
            let kind = *kind;
            if let Some(expected) = if_match {
                let (current, _) = match batch.prefetched.rows.get(&(tenant.id, kind, id.clone())) {
                    Some(row) => row.clone(),
                    None => fetch(conn, tenant, kind, id, backend).await?,
                };
                if !expected.contains(&current.version) {
                    return Err(Refused(StoreError::VersionMismatch {
                        current: current.version,
                    }));
                }
            }
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
            batch.prefetched.rows.remove(&(tenant.id, kind, id.clone()));
            batch.members.forget(tenant, id);
            // The groups it was a member of change (their members are part of what a client
            // reads): their version moves on, so an ETag the client holds is stale.
            let touched = sqlx::query(
                "UPDATE staged_groups SET version = version + 1, modified_at = $3, change_seq = $4
                 WHERE tenant_id = $1 AND id IN
                   (SELECT group_id FROM staged_group_members WHERE tenant_id = $1 AND member_id = $2)",
            )
            .bind(tenant.id)
            .bind(id.as_str())
            .bind(&stamp)
            .bind(change_seq)
            .execute(&mut **conn)
            .await?;
            if touched.rows_affected() > 0 {
                // Later writes of this batch read those groups afresh.
                batch
                    .prefetched
                    .rows
                    .retain(|(t, k, _), _| *t != tenant.id || *k != ResourceKind::Group);
            }
            // A deleted resource leaves every group it was in (and a group, its members).
            sqlx::query(
                "DELETE FROM staged_group_members WHERE tenant_id = $1 AND (group_id = $2 OR member_id = $2)",
            )
            .bind(tenant.id)
            .bind(id.as_str())
            .execute(&mut **conn)
            .await?;
            if kind == ResourceKind::User {
                delete_emails(conn, tenant, id).await?;
            }
            Ok(WriteOutcome {
                resource: None,
                change_seq,
            })
        }
    }
}
